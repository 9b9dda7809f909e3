package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// runSubscribe prints the events of topics as they come, in the event
// stream's own format (event, id and data lines, then a blank line), until
// SIGINT or SIGTERM; a debugging tool, like nats sub:
//
//	hubd subscribe -url http://127.0.0.1:8080 -topic news
//
// It reconnects by itself after a cut and resumes after the last event it
// printed. A subscription the hub refuses returns the hub's message.
func runSubscribe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubd subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, getenv)
	last := fs.String("last-event-id", "", "start after this event ID (replay from the hub's history)")
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
	cl, err := cf.client(getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	for ev, err := range cl.Subscribe(ctx, cf.topics, *last) {
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil // interrupted: the normal end
			}
			return err
		}
		if ev.Type != "" {
			fmt.Fprintf(stdout, "event: %s\n", ev.Type)
		}
		if ev.ID != "" {
			fmt.Fprintf(stdout, "id: %s\n", ev.ID)
		}
		for _, d := range ev.Data {
			fmt.Fprintf(stdout, "data: %s\n", d)
		}
		if _, err := fmt.Fprintln(stdout); err != nil {
			return err // stdout is gone (a closed pipe)
		}
	}
	return nil
}
