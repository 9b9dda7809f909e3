package web

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// rawStream is an HTTP/1.1 response written by hand on a hijacked
// connection, in chunked encoding. A subscriber's handler goroutine takes
// its connection over this way so that net/http's per-connection reading
// goroutine ends and the handler waits on a shallow stack: an idle stream
// then costs about half the memory (bench/floor: 26.3 KiB per connection
// through the ResponseWriter, 12.7 KiB hijacked). Nothing reads the
// connection, so a client that goes away is noticed by the hang-up watcher
// (hangup.go) on Linux, and elsewhere by the next write that fails (a
// heartbeat at the latest).
//
// It implements what sse.Stream needs of a ResponseWriter: headers, writes,
// FlushError and SetWriteDeadline (found by http.ResponseController).
type rawStream struct {
	conn    net.Conn
	fd      syscall.RawConn    // conn's descriptor, for writes that never wait; nil without one (see tryWrite)
	writeFn func(uintptr) bool // s.writeFD, bound once so that a write allocates nothing
	try     []byte             // what writeFD is to write
	tried   int                // what it wrote
	timeout time.Duration      // bounds a write that has to wait for room (see sendFrames)
	turn    turns              // the turn this stream holds, if any (see tryWrite)
	header  http.Header        // until the headers are sent
	head    []byte             // status line and headers, until the first flush sends them
	wrote   bool               // WriteHeader has run
	pending *[]byte            // sizeRoom bytes, then what Write gave since the last flush; nil when idle
	size    [sizeRoom]byte
}

// sizeRoom is the space kept in front of a chunk's data for its size line:
// 16 hexadecimal digits and CRLF at most.
const sizeRoom = 18

var _ http.ResponseWriter = (*rawStream)(nil)

// buffers lends rawStreams the space for one flush, so that an idle stream
// holds none.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// hijack takes the connection of an HTTP/1.1 request over. It returns nil
// when the connection cannot be hijacked (HTTP/2) or the client may not
// read chunked encoding (HTTP/1.0); the caller then keeps using w.
func hijack(w http.ResponseWriter, r *http.Request) *rawStream {
	if !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return nil
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil
	}
	// The buffered reader may hold bytes the client sent after its request;
	// a subscriber has nothing more to say, so they are ignored.
	// Headers set before the hijack (such as CORS) still apply: the map is
	// the response's own, which net/http keeps until the handler returns
	// anyway.
	s := &rawStream{conn: conn, header: w.Header(), fd: rawConn(conn)}
	s.writeFn = s.writeFD
	return s
}

// Header returns the response's headers; once they are sent, a new empty
// map, whose changes go nowhere (as with net/http's own responses).
func (s *rawStream) Header() http.Header {
	if s.header == nil {
		return http.Header{}
	}
	return s.header
}

// WriteHeader prepares the status line and headers; they leave with the
// first flush.
func (s *rawStream) WriteHeader(status int) {
	if s.wrote {
		return
	}
	s.wrote = true
	s.header.Del("Content-Length")
	s.header.Set("Transfer-Encoding", "chunked")
	b := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for k, vs := range s.header {
		for _, v := range vs {
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	s.head = append(b, "\r\n"...)
}

// Write buffers p as part of the next chunk.
func (s *rawStream) Write(p []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	if s.pending == nil {
		s.pending = buffers.Get().(*[]byte)
		*s.pending = append((*s.pending)[:0], s.size[:]...) // room for the size line
	}
	*s.pending = append(*s.pending, p...)
	return len(p), nil
}

// FlushError sends the head (the first time) and what was written since
// the last flush as one chunk, with one write: the size line goes into the
// room kept in front of the data.
func (s *rawStream) FlushError() error {
	var out []byte
	if s.pending != nil && len(*s.pending) > sizeRoom {
		b := *s.pending
		line := strconv.AppendUint(s.size[:0], uint64(len(b)-sizeRoom), 16)
		line = append(line, '\r', '\n')
		start := sizeRoom - len(line)
		copy(b[start:], line)
		b = append(b, '\r', '\n')
		*s.pending = b
		out = b[start:]
	}
	if s.head != nil { // the first flush: once per stream
		out = append(s.head, out...)
		s.head, s.header = nil, nil // an idle stream keeps neither
	}
	if len(out) == 0 {
		return nil
	}
	if s.turn != nil {
		out = out[s.tryWrite(out):]
	}
	var err error
	if len(out) > 0 {
		if s.timeout > 0 {
			err = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		}
		if err == nil {
			_, err = s.conn.Write(out)
		}
	}
	s.release()
	return err
}

// sendFrames writes ready-made frames as one chunk, as Write and
// FlushError would through an sse.Stream without compression, but
// without the stream's lock, callbacks and deadline bookkeeping: a
// stream's frames are written by its own goroutine only. A write that
// has to wait for room gets the timeout set with the stream's options.
func (s *rawStream) sendFrames(frames [][]byte) error {
	for _, f := range frames {
		s.Write(f)
	}
	return s.FlushError()
}

// tryWrite writes as much of b as the connection takes at once and gives
// back the stream's turn: what is left, the caller writes without a turn,
// waiting for room as long as the write deadline allows.
func (s *rawStream) tryWrite(b []byte) int {
	s.try, s.tried = b, 0
	_ = s.fd.Write(s.writeFn) // an error (closed) leaves tried at 0, and the write that follows reports it
	s.try = nil
	s.giveTurn()
	return s.tried
}

// takeTurn waits for one of t's turns and reports true, if the stream can
// write without waiting; giveTurn gives it back (tryWrite does, once it
// has written).
func (s *rawStream) takeTurn(t turns) bool {
	if s.fd == nil {
		return false
	}
	t.take()
	s.turn = t
	return true
}

func (s *rawStream) giveTurn() {
	if s.turn != nil {
		s.turn.give()
		s.turn = nil
	}
}

func (s *rawStream) release() {
	if s.pending == nil {
		return
	}
	putBuffer(s.pending)
	s.pending = nil
}

// putBuffer gives b back to buffers, unless it grew past 64 KiB: one huge
// event's buffer is not worth keeping.
func putBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		buffers.Put(b)
	}
}

// SetWriteDeadline bounds the next writes to the connection.
func (s *rawStream) SetWriteDeadline(t time.Time) error { return s.conn.SetWriteDeadline(t) }

// Close ends the connection without the last chunk: to the client the
// stream was cut, not finished, so it reconnects. A turn still held (a
// write that panicked) is given back, or the other streams would be a
// turn short for good.
func (s *rawStream) Close() error {
	s.release()
	s.giveTurn()
	return s.conn.Close()
}
