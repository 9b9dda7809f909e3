package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/internal/natstest"
)

// streamConfig reads the config of the stream name from the server.
func streamConfig(t *testing.T, srv *server.Server, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := natstest.JetStream(t, srv.ClientURL()).Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

// TestClusterStreamMismatchRefused checks that hubd refuses to join a
// stream that keeps events otherwise than its settings say: it exits with
// a configuration error (status 2) that names each difference, with the
// stream's value and the settings', and the settings to change.
func TestClusterStreamMismatchRefused(t *testing.T) {
	t.Parallel()
	srv := startJetStream(t)
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: srv.ClientURL(), Stream: "EV", MaxAge: 2 * time.Hour, MaxMsgs: 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = run(ctx, []string{"-addr", "127.0.0.1:0", "-cluster", srv.ClientURL(), "-cluster-stream", "EV",
		"-cluster-max-age", "1h", "-cluster-max-msgs", "500"}, env(nil), io.Discard, io.Discard)
	var cfgErr *configError
	if !errors.As(err, &cfgErr) || !errors.Is(err, cluster.ErrStreamMismatch) {
		t.Fatalf("run: %v, want a configuration error (exit 2) wrapping cluster.ErrStreamMismatch", err)
	}
	for _, want := range []string{`stream "EV"`, "max age is 2h0m0s, the settings want 1h0m0s", "cluster-max-age"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "max msgs") {
		t.Errorf("error names max msgs, which fits:\n%v", err)
	}
	if got := streamConfig(t, srv, "EV"); got.MaxAge != 2*time.Hour {
		t.Errorf("the refused node changed the stream's max age to %v", got.MaxAge)
	}
}

// TestClusterNoLimits checks that hubd with cluster-max-* set to none (or
// -1) creates a stream that keeps events without those limits, and that a
// node with the default limits is then refused by that stream.
func TestClusterNoLimits(t *testing.T) {
	t.Parallel()
	srv := startJetStream(t)
	runUntilListening(t, "-cluster", srv.ClientURL(), "-cluster-max-age", "none", "-cluster-max-msgs", "-1", "-cluster-max-bytes", "none")
	got := streamConfig(t, srv, cluster.DefaultStream)
	if got.MaxAge != 0 || got.MaxMsgs != -1 || got.MaxBytes != -1 {
		t.Fatalf("stream limits: max age %v, max msgs %d, max bytes %d; want JetStream's none (0, -1, -1)", got.MaxAge, got.MaxMsgs, got.MaxBytes)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"-addr", "127.0.0.1:0", "-cluster", srv.ClientURL()}, env(nil), io.Discard, io.Discard)
	if !errors.Is(err, cluster.ErrStreamMismatch) || !strings.Contains(err.Error(), "max msgs is none, the settings want 1000000") {
		t.Fatalf("a node with default limits on a stream without any: %v", err)
	}
}
