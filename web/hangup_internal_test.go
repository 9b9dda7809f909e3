//go:build linux

package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReapTakesWhatTheWatcherHasNot checks that reap ends, on its caller's
// goroutine, a hang-up the kernel has reported but the watcher's goroutine
// has not taken (here because it is busy with another one); that it
// returns only once the stream the watcher is busy with has been ended
// too, so that its slot is free; and that each stream is ended once.
func TestReapTakesWhatTheWatcherHasNot(t *testing.T) {
	ended := make(chan uint64, 4)
	busy, resume := make(chan struct{}), make(chan struct{})
	var watcherDone atomic.Bool // the watcher's hungUp of stream 1 has returned
	w := newHangups(slog.New(slog.DiscardHandler), func(o *openStream) {
		ended <- o.n
		if o.n == 1 { // the watcher's goroutine: hold it until told
			close(busy)
			<-resume
			watcherDone.Store(true)
		}
	}, func(o *openStream) { t.Errorf("stream %d probed, but no client half-closed", o.n) })
	defer w.close()
	streams, clients := watchPairs(t, w, 3, "")
	reset(t, clients[0])
	<-busy // the watcher is in stream 1's hungUp
	reset(t, clients[1])
	// Stream 2's hang-up is ready once the kernel has seen the reset; the
	// read on the server's end that fails with it says it has.
	streams[1].raw.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := streams[1].raw.conn.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read on the server end: %v, want a reset", err)
	}
	type reaped struct {
		n            int
		watcherEnded bool
	}
	reap := make(chan reaped, 1)
	go func() {
		n := w.reap("")
		reap <- reaped{n, watcherDone.Load()}
	}()
	if got := []uint64{<-ended, <-ended}; got[0] != 1 || got[1] != 2 {
		t.Fatalf("ended streams %v, want [1 2]", got)
	}
	// reap has ended stream 2 itself; it must still be waiting for the
	// watcher's stream 1.
	close(resume)
	if r := <-reap; r.n != 1 || !r.watcherEnded {
		t.Fatalf("reap took %d hang-ups and returned with the watcher's ending done: %v; want 1 and true", r.n, r.watcherEnded)
	}
	if n := w.reap(""); n != 0 {
		t.Fatalf("a second reap took %d hang-ups, want none", n)
	}
	select {
	case n := <-ended:
		t.Fatalf("stream %d ended, but its client is still there (or it ended twice)", n)
	default:
	}
	for _, o := range streams {
		w.unwatch(o)
	}
	if len(w.watched) != 0 {
		t.Fatalf("%d streams still watched after unwatch", len(w.watched))
	}
}

// watchPairs has w watch n streams, numbered from 1 and of address ip,
// each on the server's end of a TCP connection; it returns them and the
// client ends of their connections.
func watchPairs(t *testing.T, w *hangups, n int, ip string) ([]*openStream, []net.Conn) {
	t.Helper()
	streams, clients := make([]*openStream, n), make([]net.Conn, n)
	for i := range streams {
		client, server := tcpPair(t)
		clients[i] = client
		streams[i] = &openStream{n: uint64(i + 1), ip: ip, ctx: context.Background(), raw: &rawStream{conn: server}}
		w.watch(streams[i])
	}
	return streams, clients
}

// reset closes c with a reset instead of a FIN, as a client whose socket
// is gone answers what is written to it.
func reset(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestHalfCloseIsNotHangUp checks the watcher's side of a half-closed
// client: its FIN alone is not a hang-up but a probe of its stream; a
// reset after it, as a client that had closed its socket answers the
// probe's write, is one; and reap ends a half-closed stream of the
// address it is given, and of no other.
func TestHalfCloseIsNotHangUp(t *testing.T) {
	ended, probed := make(chan uint64, 4), make(chan uint64, 4)
	w := newHangups(slog.New(slog.DiscardHandler),
		func(o *openStream) { ended <- o.n },
		func(o *openStream) { probed <- o.n })
	defer w.close()
	streams, clients := watchPairs(t, w, 2, "192.0.2.1")
	for _, c := range clients {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	if got := []uint64{recv(t, probed, "probe"), recv(t, probed, "probe")}; got[0]+got[1] != 3 {
		t.Fatalf("probed streams %v, want 1 and 2", got)
	}
	// Stream 1's client had closed its socket: the probe's write draws a
	// reset, the hang-up.
	reset(t, clients[0])
	if n := recv(t, ended, "hang-up"); n != 1 {
		t.Fatalf("stream %d ended, want 1, whose client reset", n)
	}
	if n := w.reap("198.51.100.7"); n != 0 {
		t.Fatalf("reap for another address ended %d streams, want none", n)
	}
	select {
	case n := <-ended:
		t.Fatalf("stream %d ended, but its client only half-closed", n)
	default:
	}
	if n := w.reap("192.0.2.1"); n != 1 || recv(t, ended, "end of the half-closed stream") != 2 {
		t.Fatalf("reap for the half-closed stream's address ended %d streams, want stream 2", n)
	}
	for _, o := range streams {
		w.unwatch(o)
	}
	if len(w.watched) != 0 || len(w.halfs) != 0 {
		t.Fatalf("%d streams still watched, %d half-closed, after unwatch", len(w.watched), len(w.halfs))
	}
}

// recv receives from c, failing the test if nothing comes within 10
// seconds: a watcher that does not do what is awaited fails the test
// rather than hanging it.
func recv(t *testing.T, c <-chan uint64, what string) uint64 {
	t.Helper()
	select {
	case n := <-c:
		return n
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		return 0
	}
}
