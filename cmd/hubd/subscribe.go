package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/hubd-dev/hubd/client"
)

// runSubscribe prints the events of topics as they come, in the event
// stream's own format (event, id and data lines, then a blank line), until
// SIGINT or SIGTERM; a debugging tool, like nats sub:
//
//	hubd subscribe -url http://127.0.0.1:8080 -topic news
//
// It reconnects by itself after a cut and resumes after the last event it
// printed. A subscription the hub refuses returns the hub's message, and
// so does a hub that sends a line or an event past -max-line-bytes or
// -max-event-bytes. When stdout is a terminal, control characters in what
// it prints are escaped (see escapeControls): events come from the hub and
// its publishers, who must not be able to rewrite the screen.
func runSubscribe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubd subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, getenv)
	last := fs.String("last-event-id", "", "start after this event ID (replay from the hub's history)")
	maxLine := fs.Int("max-line-bytes", client.DefaultMaxLineBytes, "longest line of the stream taken from the hub; past it subscribe stops with an error")
	maxEvent := fs.Int("max-event-bytes", client.DefaultMaxEventBytes, "largest event of the stream taken from the hub, its lines together; past it subscribe stops with an error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hubd subscribe -topic T [flags]\n\nPrints the topics' events as they come, until interrupted.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseSubcommand(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &configError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max-line-bytes", *maxLine}, {"max-event-bytes", *maxEvent}} {
		if f.v <= 0 {
			return &configError{fmt.Errorf("-%s %d: want more than 0", f.name, f.v)}
		}
	}
	cl, err := cf.client(getenv, client.WithStreamLimits(*maxLine, *maxEvent))
	if err != nil {
		return err
	}
	show := func(s string) string { return s }
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		show = escapeControls
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	for ev, err := range cl.Subscribe(ctx, cf.topics, *last) {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return nil // interrupted: the normal end
		case errors.Is(err, client.ErrLineTooLong):
			return fmt.Errorf("%w; -max-line-bytes sets it", err)
		case errors.Is(err, client.ErrEventTooLarge):
			return fmt.Errorf("%w; -max-event-bytes sets it", err)
		default:
			return err
		}
		if ev.Type != "" {
			fmt.Fprintf(stdout, "event: %s\n", show(ev.Type))
		}
		if ev.ID != "" {
			fmt.Fprintf(stdout, "id: %s\n", show(ev.ID))
		}
		for _, d := range ev.Data {
			fmt.Fprintf(stdout, "data: %s\n", show(d))
		}
		if _, err := fmt.Fprintln(stdout); err != nil {
			return err // stdout is gone (a closed pipe)
		}
	}
	return nil
}

// escapeControls returns s with what a terminal would act on instead of
// showing written as Go escapes: C0 control characters (but tab), DEL and
// the C1 controls U+0080 to U+009F as \x1b or \u009b, and bytes that are
// not UTF-8 (which some terminals take as 8-bit C1 controls, such as 0x9b
// for CSI) as \x9b. The rest, backslashes included, is left as it is, so
// that ordinary text and JSON read as sent.
func escapeControls(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\x`...)
			b = appendHex(b, uint64(s[i]), 2)
		case r == utf8.RuneError: // U+FFFD as sent
			b = append(b, s[i:i+n]...)
		case r < 0x80 && isControl(r):
			b = append(b, `\x`...)
			b = appendHex(b, uint64(r), 2)
		case isControl(r):
			b = append(b, `\u`...)
			b = appendHex(b, uint64(r), 4)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return string(b)
}

// isControl reports whether a terminal may act on r rather than show it:
// C0 controls but tab, DEL, C1 controls, and utf8.RuneError (which stands
// for a byte that is not UTF-8, or is U+FFFD itself, shown as it is).
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t') || (0x7f <= r && r <= 0x9f) || r == utf8.RuneError
}

// appendHex appends v in lower-case hexadecimal, zero-padded to width.
func appendHex(b []byte, v uint64, width int) []byte {
	h := strconv.FormatUint(v, 16)
	for range width - len(h) {
		b = append(b, '0')
	}
	return append(b, h...)
}
