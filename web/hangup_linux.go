//go:build linux

package web

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// hangups watches hijacked connections for their clients' hang-ups with
// one epoll instance and one goroutine, so that a stream waits for its
// frames with a plain channel receive and costs no more than it did: a
// watched connection adds the kernel's epoll item and one entry of the
// watched map.
//
// The connection's socket is registered for EPOLLRDHUP (the client shut
// down its sending side: it closed the connection, or half-closed it),
// EPOLLHUP and EPOLLERR (a reset), one-shot: a connection reports its
// hang-up once. EPOLLIN is not asked for, so bytes a client sends after
// its request (it should send none) wake nobody and end nothing; they
// stay unread, as before. (So does a TLS close_notify alert that comes
// without the TCP FIN: it is bytes too.)
//
// EPOLLRDHUP alone is not a hang-up. A client that closed its socket and
// one that only shut down its sending side after its request
// (shutdown(SHUT_WR), as some proxies and tools do) send the same FIN;
// the second still reads, and keeps its stream. They differ only once
// something is written: a closed socket answers with a reset. So on
// EPOLLRDHUP alone the stream is registered again for EPOLLHUP and
// EPOLLERR only, marked half-closed, and probed: probe offers it a
// heartbeat at once, whose write draws the reset from a client that has
// gone, and the reset ends the stream as any hang-up does. A half-closed
// stream that is still there gives way to a new stream of its own
// address that a limit would refuse (see reap): a browser that reloads
// closes its stream and opens the next at once, and the next must not
// wait for the probe.
//
// The goroutine does not block in epoll_wait: a goroutine blocked in a
// system call keeps its scheduler slot until the runtime's monitor takes
// it back, and the stream goroutines it has just woken wait with it
// (their slots came back a quarter of a second late in tests). Instead
// the epoll descriptor, which is readable when events are ready, is itself
// waited on through the Go poller, and read with epoll_wait without
// waiting. Closing it is what stops the goroutine.
//
// The goroutine is started by the first watched stream, not by New, so
// that a Server that never hijacks a socket (HTTP/2 only, or connections
// that are not sockets, as in tests on a fake clock) runs none, and close
// stops it and waits for it.
type hangups struct {
	log    *slog.Logger
	hungUp func(*openStream) // ends a stream whose client hung up
	probe  func(*openStream) // has a half-closed stream write at once

	mu      sync.Mutex
	closed  bool                   // close has run: no more watching
	err     error                  // why run stopped early, if it did: no more watching
	epoll   *os.File               // nil until the first watch
	epfd    int                    // epoll's descriptor, valid while epoll is open
	rc      syscall.RawConn        // epoll's, for reap
	watched map[uint64]*openStream // by stream ID, the key of its epoll event
	halfs   map[uint64]*openStream // the watched streams whose clients half-closed, by stream ID
	ending  int                    // streams taken from epoll whose hungUp has not returned
	ended   sync.Cond              // on mu: ending fell to 0
	wg      sync.WaitGroup         // run
}

// errNoWatch is why a stream is not watched after close.
var errNoWatch = errors.New("web: hang-up watcher stopped")

// newHangups returns a watcher that calls hungUp, from its own goroutine
// or from reap's caller, with each watched stream whose client hangs up,
// and probe, from the same goroutines, with each whose client half-closes.
func newHangups(log *slog.Logger, hungUp, probe func(*openStream)) *hangups {
	w := &hangups{log: log, hungUp: hungUp, probe: probe, watched: map[uint64]*openStream{}, halfs: map[uint64]*openStream{}}
	w.ended.L = &w.mu
	return w
}

// watch registers the hijacked connection of o, unless it is not a socket
// (then a failed write notices the hang-up, as before). A failure to
// register leaves the stream unwatched; it is logged at Debug.
func (w *hangups) watch(o *openStream) {
	rc := socketOf(o.raw.conn)
	if rc == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.startLocked()
	if err == nil {
		ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR | unix.EPOLLONESHOT}
		ev.Fd, ev.Pad = int32(uint32(o.n)), int32(uint32(o.n>>32))
		err = control(rc, func(fd int) error { return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev) })
	}
	if err != nil {
		if ctx := o.ctx; w.log.Enabled(ctx, slog.LevelDebug) {
			w.log.LogAttrs(ctx, slog.LevelDebug, "stream not watched for hang-up", o.attrs(slog.Any("err", err))...)
		}
		return
	}
	w.watched[o.n] = o
}

// unwatch deregisters o's connection. The caller owns the connection and
// must call unwatch before closing it: a registration is made and removed
// only while the descriptor is surely this connection's. Closed first,
// the descriptor's number could be given at once to a connection accepted
// meanwhile and registered by its own stream, and the removal would hit
// that one instead (or fail). Removed first, the number stays ours until
// the close. An event the watcher had already taken for o when unwatch
// ran is harmless: it looks o up by stream ID, which is never reused,
// under the same lock, and finds nothing; or it finds o just before and
// closes a subscription that is closed anyway.
func (w *hangups) unwatch(o *openStream) {
	if o.raw == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.watched[o.n]; !ok {
		return
	}
	delete(w.watched, o.n)
	delete(w.halfs, o.n)
	if w.closed { // not reached: close empties the map
		return
	}
	if rc := socketOf(o.raw.conn); rc != nil {
		// It fails only if the connection is closed already, and then the
		// kernel has dropped the registration itself.
		_ = control(rc, func(fd int) error { return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil) })
	}
}

// startLocked opens the epoll instance and starts run, once.
func (w *hangups) startLocked() error {
	switch {
	case w.closed:
		return errNoWatch
	case w.err != nil:
		return w.err
	case w.epoll != nil:
		return nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile hands it to the Go poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	epoll := os.NewFile(uintptr(epfd), "hang-ups")
	rc, err := epoll.SyscallConn()
	if err != nil {
		epoll.Close()
		return err
	}
	w.epoll, w.epfd, w.rc = epoll, epfd, rc
	w.wg.Add(1)
	go w.run(rc) // stopped by close, which waits for it
	return nil
}

// run waits for hang-ups and ends the stream of each, until close closes
// the epoll descriptor.
func (w *hangups) run(rc syscall.RawConn) {
	defer w.wg.Done()
	var b hangupBatch
	var werr error
	err := rc.Read(func(epfd uintptr) bool {
		for {
			n, err := w.take(int(epfd), &b)
			if err != nil {
				werr = err
				return true
			}
			if n == 0 {
				return false // wait until the descriptor is readable again
			}
		}
	})
	w.mu.Lock()
	closing := w.closed
	w.mu.Unlock()
	if closing || werr == nil && (err == nil || errors.Is(err, os.ErrClosed)) {
		// close closed the descriptor: the raw read then fails with the
		// poller's "use of closed file", which is not os.ErrClosed.
		return
	}
	// Not expected. The streams then end on a failed write, as without a
	// watcher.
	werr = errors.Join(werr, err)
	w.log.LogAttrs(context.Background(), slog.LevelError, "watch hang-ups", slog.Any("err", werr))
	w.mu.Lock()
	w.err = werr
	w.mu.Unlock()
}

// reap ends at once the streams whose hang-ups the kernel has reported
// and run has not taken yet, and the half-closed streams of address ip
// (see hangups), then waits for the streams run has taken to be ended,
// and says how many hang-ups it took itself: the events it read from epoll
// and the half-closed streams it ended. A stream from ip about to be refused
// for a limit calls it first: a browser tab that reloads closes
// its stream and opens the next at once, and the next must find the slot
// of the one it closed free, however busy the scheduler is. (The kernel
// has seen the old connection's FIN before the new request, which the
// client sent after it.) Its hang-up is then either still in epoll, and
// reap ends it, or taken by run, which may have been preempted before it
// gave the slot back: reap waits for it. The wait is short: ending a
// stream takes the hub's lock, never a client.
func (w *hangups) reap(ip string) int {
	w.mu.Lock()
	rc := w.rc
	w.mu.Unlock()
	if rc == nil {
		return 0
	}
	var b hangupBatch
	total := 0
	// Control holds the descriptor open, even against a close meanwhile.
	_ = rc.Control(func(epfd uintptr) {
		for {
			n, err := w.take(int(epfd), &b)
			total += n
			if err != nil || n < len(b.events) {
				return
			}
		}
	})
	w.mu.Lock()
	var gone []*openStream
	for n, o := range w.halfs {
		if o.ip == ip {
			delete(w.halfs, n)
			gone = append(gone, o)
		}
	}
	w.ending += len(gone)
	w.mu.Unlock()
	w.end(gone)
	total += len(gone)
	w.mu.Lock()
	for w.ending > 0 {
		w.ended.Wait()
	}
	w.mu.Unlock()
	return total
}

// end ends the streams gone, counted in ending by the caller, which
// holds no lock: ending a stream takes the hub's.
func (w *hangups) end(gone []*openStream) {
	for i, o := range gone {
		w.hungUp(o)
		gone[i] = nil
	}
	if len(gone) > 0 {
		w.mu.Lock()
		if w.ending -= len(gone); w.ending == 0 {
			w.ended.Broadcast()
		}
		w.mu.Unlock()
	}
}

// hangupBatch is the room of one take.
type hangupBatch struct {
	events [64]unix.EpollEvent
	gone   [64]*openStream
	halfs  [64]*openStream
}

// take reads the ready hang-ups without waiting, and ends their streams;
// a stream whose client only shut down its sending side (EPOLLRDHUP
// alone) is registered again for resets, marked half-closed and probed
// instead (see hangups). It returns how many events it read. The events
// are read and counted in ending under mu, so that a reap either finds a
// hang-up in epoll or waits for its stream to be ended: never neither.
func (w *hangups) take(epfd int, b *hangupBatch) (int, error) {
	w.mu.Lock()
	n, err := unix.EpollWait(epfd, b.events[:], 0)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.EpollWait(epfd, b.events[:], 0)
	}
	if err != nil {
		w.mu.Unlock()
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	gone, halfs := b.gone[:0], b.halfs[:0]
	for _, ev := range b.events[:n] {
		id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
		o := w.watched[id]
		switch {
		case o == nil:
		case ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) == 0 && w.rearmLocked(o) == nil:
			w.halfs[id] = o
			halfs = append(halfs, o)
		default:
			delete(w.halfs, id)
			gone = append(gone, o)
		}
	}
	w.ending += len(gone)
	w.mu.Unlock()
	// Ending a stream, or offering it a frame, takes the hub's lock: not
	// under ours.
	w.end(gone)
	for i, o := range halfs {
		w.probe(o)
		halfs[i] = nil
	}
	return n, nil
}

// rearmLocked registers o's connection again, for resets only: its
// client has shut down its sending side, and the next hang-up worth
// telling is a reset. The caller holds mu, and o is watched: its
// connection is open (see unwatch).
func (w *hangups) rearmLocked(o *openStream) error {
	rc := socketOf(o.raw.conn)
	if rc == nil {
		return errNoWatch // not reached: only sockets are watched
	}
	ev := unix.EpollEvent{Events: unix.EPOLLHUP | unix.EPOLLERR | unix.EPOLLONESHOT}
	ev.Fd, ev.Pad = int32(uint32(o.n)), int32(uint32(o.n>>32))
	return control(rc, func(fd int) error { return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev) })
}

// close stops run and waits for it, and closes the epoll instance.
// Streams still registered are forgotten: their unwatch finds nothing.
func (w *hangups) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	epoll := w.epoll
	clear(w.watched)
	clear(w.halfs)
	w.mu.Unlock()
	if epoll == nil {
		return
	}
	// Nothing else uses epfd now: watch and unwatch see closed, and run's
	// epoll_wait holds the file open until it returns.
	epoll.Close()
	w.wg.Wait()
}

// socketOf returns the socket under c (through TLS, which rawConn does
// not look through), or nil when c is not one.
func socketOf(c net.Conn) syscall.RawConn {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	return rawConn(c)
}

// control runs fn with rc's descriptor, which stays open while fn runs.
func control(rc syscall.RawConn, fn func(fd int) error) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = fn(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}
