// Package natstest holds what the tests of several packages need around
// real NATS servers.
package natstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AwaitJetStream returns nil once JetStream answers on nc: for a cluster
// of servers, once they have elected their meta leader. It asks again
// every 50 ms, each try bounded by a second, until ctx ends; then it
// returns the last try's error.
func AwaitJetStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for {
		try, stop := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(try)
		stop()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream did not answer: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// JetStream connects to the NATS server at url and returns its JetStream,
// failing t when it cannot; the connection is closed when t ends.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
