//go:build linux

package web

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
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
	})
	defer w.close()
	streams := make([]*openStream, 3)
	clients := make([]net.Conn, 3)
	for i := range streams {
		client, server := tcpPair(t)
		clients[i] = client
		streams[i] = &openStream{n: uint64(i + 1), ctx: context.Background(), raw: &rawStream{conn: server}}
		w.watch(streams[i])
	}
	clients[0].Close()
	<-busy // the watcher is in stream 1's hungUp
	clients[1].Close()
	// Stream 2's hang-up is ready once the kernel has seen the FIN; the
	// read of EOF on the server's end says it has.
	streams[1].raw.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := streams[1].raw.conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on the server end: %v, want EOF", err)
	}
	type reaped struct {
		n            int
		watcherEnded bool
	}
	reap := make(chan reaped, 1)
	go func() {
		n := w.reap()
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
	if n := w.reap(); n != 0 {
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
