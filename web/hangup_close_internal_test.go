//go:build linux

package web

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
)

// lockedBuffer is a log destination that the watcher's goroutine and the
// test may use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHangupsCloseIsQuiet checks that closing a watcher whose goroutine is
// waiting for hang-ups, as every shutdown after a stream has connected
// does, stops it without logging an error: the closed epoll descriptor is
// how close stops it, not a failure.
func TestHangupsCloseIsQuiet(t *testing.T) {
	var logs lockedBuffer
	w := newHangups(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), func(*openStream) {}, func(*openStream) {})
	_, server := tcpPair(t)
	o := &openStream{n: 1, ctx: context.Background(), raw: &rawStream{conn: server}}
	w.watch(o) // starts the watcher's goroutine
	w.mu.Lock()
	started := w.epoll != nil
	w.mu.Unlock()
	if !started {
		t.Fatal("the watcher did not start for a TCP connection")
	}
	w.close() // waits for the goroutine
	if out := logs.String(); out != "" {
		t.Fatalf("closing the watcher logged:\n%s", out)
	}
	if w.err != nil {
		t.Fatalf("the watcher recorded %v as why it stopped", w.err)
	}
}
