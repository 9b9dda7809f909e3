// Command publisher is a small Go back end that publishes a clock to a
// hubd topic every second with package client. The page of the README's
// "Your first page" shows it: it follows the topic clock and holds
//
//	<span id="clock"></span>
//
// Run a hub and then:
//
//	go run ./examples/publisher -url http://127.0.0.1:8080 -topic clock
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
	"time"

	"github.com/hubd-dev/hubd/client"
	"github.com/hubd-dev/hubd/sse"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "publisher:", err)
		os.Exit(1)
	}
}

// run publishes the time into #clock every interval until ctx ends, or
// -ticks times if given.
func run(ctx context.Context, args []string, getenv func(string) string, log io.Writer) error {
	fs := flag.NewFlagSet("publisher", flag.ContinueOnError)
	fs.SetOutput(log)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the hub")
	topic := fs.String("topic", "clock", "topic to publish to")
	interval := fs.Duration("interval", time.Second, "time between two publishes")
	ticks := fs.Int("ticks", 0, "publish this many times, then stop (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 {
		return fmt.Errorf("-interval %v: want a positive duration", *interval)
	}
	c, err := client.New(*url, client.WithToken(getenv("HUBD_TOKEN")))
	if err != nil {
		return err
	}
	t := time.NewTicker(*interval)
	defer t.Stop()
	for n := 1; ; n++ {
		now := time.Now()
		res, err := c.Publish(ctx, []string{*topic}, sse.PatchElements{
			Selector: "#clock", Mode: sse.ModeInner,
			Elements: fmt.Sprintf(`<time datetime="%s">%s</time>`, now.Format(time.RFC3339), now.Format(time.TimeOnly)),
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "published %s to %d subscribers\n", res.ID, res.Subscribers)
		if n == *ticks {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
