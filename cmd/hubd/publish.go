package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hubd-dev/hubd/client"
	"github.com/hubd-dev/hubd/sse"
)

// DefaultURL is the hub the publish and subscribe sub-commands talk to
// when given no -url (nor HUBD_URL).
const DefaultURL = "http://127.0.0.1:8080"

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// clientFlags are the flags publish and subscribe share: the hub's URL
// and the credential.
type clientFlags struct {
	url, token, tokenFile string
	topics                stringList
}

func (c *clientFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	def := getenv("HUBD_URL")
	if def == "" {
		def = DefaultURL
	}
	fs.StringVar(&c.url, "url", def, "base URL of the hub (default from HUBD_URL)")
	fs.StringVar(&c.token, "token", "", "bearer token or API key (default from HUBD_TOKEN)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token or API key")
	fs.Var(&c.topics, "topic", "topic (repeat for several)")
}

// client returns the client the flags describe, with opts; the token
// comes from -token, else -token-file, else HUBD_TOKEN.
func (c *clientFlags) client(getenv func(string) string, opts ...client.Option) (*client.Client, error) {
	if len(c.topics) == 0 {
		return nil, &configError{errors.New("give at least one -topic")}
	}
	token := c.token
	switch {
	case token != "" && c.tokenFile != "":
		return nil, &configError{errors.New("give -token or -token-file, not both")}
	case c.tokenFile != "":
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, &configError{fmt.Errorf("-token-file: %w", err)}
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, &configError{fmt.Errorf("-token-file %s: empty", c.tokenFile)}
		}
	case token == "":
		token = getenv("HUBD_TOKEN")
	}
	cl, err := client.New(c.url, append([]client.Option{client.WithToken(token)}, opts...)...)
	if err != nil {
		return nil, &configError{fmt.Errorf("-url: %w", err)}
	}
	return cl, nil
}

// parseSubcommand parses args into fs; a bad flag is a configError.
func parseSubcommand(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &configError{err}
	}
	return nil
}

// runPublish publishes one event and prints its event ID:
//
//	hubd publish -url http://127.0.0.1:8080 -topic news -selector '#x' -mode append '<li>hi</li>'
//	echo '{"count":1}' | hubd publish -topic counter -signals
//
// The body is the arguments after the flags, joined by spaces, or else
// stdin. It is HTML (patch-elements) unless -signals (JSON,
// patch-signals) or -script (JavaScript) is given. A publish the hub
// refuses returns the hub's message (exit status 1).
func runPublish(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubd publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, getenv)
	selector := fs.String("selector", "", "CSS selector of the elements to patch (patch-elements)")
	mode := fs.String("mode", "", "patch mode: outer, inner, replace, prepend, append, before, after, remove (patch-elements)")
	namespace := fs.String("namespace", "", "namespace of the elements: html, svg or mathml (patch-elements)")
	signals := fs.Bool("signals", false, "the body is a JSON object of signals (patch-signals)")
	onlyIfMissing := fs.Bool("only-if-missing", false, "set only the signals the page lacks (with -signals)")
	script := fs.Bool("script", false, "the body is JavaScript to run in the page (execute-script)")
	retain := fs.Bool("retain", false, "keep the event as the topics' state for subscribers that come later")
	private := fs.Bool("private", false, "only for subscribers granted private access to a topic")
	id := fs.String("id", "", "Idempotency-Key of the publish: a repeat with the same -id within the hub's idempotency-window publishes nothing (default: a fresh one)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hubd publish -topic T [flags] [body]\n\nPublishes one event (body from the arguments or stdin) and prints its event ID.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseSubcommand(fs, args); err != nil {
		return err
	}
	if *signals && *script {
		return &configError{errors.New("give -signals or -script, not both")}
	}
	if (*signals || *script) && (*selector != "" || *mode != "" || *namespace != "") {
		return &configError{errors.New("-selector, -mode and -namespace are for elements, not with -signals or -script")}
	}
	if *onlyIfMissing && !*signals {
		return &configError{errors.New("-only-if-missing needs -signals")}
	}
	cl, err := cf.client(getenv)
	if err != nil {
		return err
	}
	var body string
	if fs.NArg() > 0 {
		body = strings.Join(fs.Args(), " ")
	} else {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("read the body from stdin: %w", err)
		}
		body = strings.TrimSuffix(string(b), "\n")
	}
	var ev sse.Eventer
	switch {
	case *signals:
		ev = sse.PatchSignals{Signals: []byte(body), OnlyIfMissing: *onlyIfMissing}
	case *script:
		ev = sse.ExecuteScript{Script: body}
	default:
		ev = sse.PatchElements{Elements: body, Selector: *selector, Mode: sse.Mode(*mode), Namespace: sse.Namespace(*namespace)}
	}
	if _, err := ev.Event(); err != nil {
		return &configError{err}
	}
	res, err := cl.PublishWith(ctx, cf.topics, client.PublishOptions{Private: *private, Retain: *retain, IdempotencyKey: *id}, ev)
	if err != nil {
		return err
	}
	for _, id := range res.IDs {
		fmt.Fprintln(stdout, id)
	}
	return nil
}
