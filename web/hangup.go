package web

import (
	"errors"
	"log/slog"
)

// errHungUp is why a hijacked stream whose client hung up was dropped.
var errHungUp = errors.New("web: client hung up")

// A hijacked HTTP/1.1 stream does not read its connection (see rawStream),
// and writing to a connection whose client has closed it still succeeds
// once, so without help a departed client would keep its place in the hub
// and its address's stream slot until the second heartbeat after it left.
// The hangups watcher (hangup_linux.go; elsewhere it does nothing) tells
// the hub at once instead: one goroutine waits for the hang-ups of every
// hijacked connection together and ends the stream of each, as the hub
// ends an evicted one: by closing its subscription, whose channel the
// hub's side closes, as always. The stream's goroutine, waiting on that
// channel with a plain receive, wakes as for any other end and closes the
// connection.
//
// The life of a watched stream:
//
//	open:    hijack, then watch (register the connection's hang-up)
//	pump:    a plain receive on the channel, as before
//	half-close: the watcher watches it for a reset only and has it write
//	         a heartbeat at once (probeHalfClosed): a closed socket answers
//	         with the reset, a hang-up; a half-closed client reads on
//	hang-up: the watcher logs and counts the client as pruned, gives its
//	         slot back and closes its subscription (hungUp)
//	close:   unwatch (deregister), then close the connection: in this
//	         order, see hangups.unwatch
//
// Whichever comes first of the watcher, a failed write and close gives the
// slot back (openStream.end), once.

// hungUp ends the hijacked stream o, whose client the watcher saw hang
// up: it logs the drop and counts the client as pruned (like one whose
// write failed), gives its slot back at once, and closes its
// subscription, which wakes its pump to close the connection. So the
// client has left the hub only once all that is done.
func (s *Server) hungUp(o *openStream) {
	if o.end() {
		if ctx := o.ctx; s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "subscriber dropped", o.attrs(slog.Any("err", errHungUp))...)
		}
		s.hub.RecordPrune()
		s.released(o)
	}
	o.sub.Close()
}

// probeHalfClosed has the hijacked stream o, whose client shut down its
// sending side, write a heartbeat now: a client that closed its socket
// answers it with a reset, which the watcher takes as a hang-up; one that
// only half-closed reads it and goes on streaming (see hangups).
func probeHalfClosed(o *openStream) { o.sub.Beat() }

// Close stops the Server's background work and waits for it: the
// auth-request rechecks, the sharing of disconnects with a cluster, the
// watcher of hijacked connections (started by the first HTTP/1.1
// stream), and the summaries of repeated log lines, which it writes at
// once. Streams that are still open go on, but a client that hangs up
// is then noticed by the next write that fails, as on systems without a
// watcher. Call it once the http.Server and the hub have shut down;
// calling it again does nothing. It returns nil: it is an error only for
// io.Closer.
func (s *Server) Close() error {
	if s.authReq != nil { // its rechecks log through quiet
		s.authReq.close()
	}
	if s.stopShare != nil {
		s.stopShare()
	}
	s.hangups.close()
	s.quiet.close()
	return nil
}
