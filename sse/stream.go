package sse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultWriteTimeout bounds every write of a Stream unless
// WithWriteTimeout says otherwise: a client that stops reading cannot hold a
// sender longer than this.
const DefaultWriteTimeout = 10 * time.Second

// ErrClosed is returned by sends on a Stream that has ended: closed by the
// handler, ended by the request's context, or broken by a failed write. The
// returned error also wraps the cause where there is one.
var ErrClosed = errors.New("sse: stream closed")

// Option configures a Stream.
type Option func(*config)

type config struct {
	encodings    []Encoding
	writeTimeout time.Duration
	onOpen       func(*Stream)
	onClose      func(error)
	onError      func(error)
	unwatched    bool
}

// WithCompression lets the stream compress its events with the best coding
// the client accepts, in the server's order of preference given (or
// DefaultEncodings when none is given). Responses then carry
// Vary: Accept-Encoding.
func WithCompression(encodings ...Encoding) Option {
	return func(c *config) {
		if len(encodings) == 0 {
			encodings = DefaultEncodings
		}
		c.encodings = encodings
	}
}

// WithWriteTimeout sets the deadline of each write; zero or less disables
// deadlines.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) { c.writeTimeout = d }
}

// WithoutContextWatch stops the stream from watching the request's
// context: it then ends only by Close or a failed write, and a send after
// the request ended fails only when its write does. For servers that end
// their streams themselves and hold very many at once (hubd's own
// subscribers): watching costs about half a KiB per stream.
func WithoutContextWatch() Option {
	return func(c *config) { c.unwatched = true }
}

// OnOpen registers fn to run once the headers are flushed, before NewSSE
// returns. It runs without the stream's lock and may send events.
func OnOpen(fn func(*Stream)) Option { return func(c *config) { c.onOpen = fn } }

// OnClose registers fn to run exactly once when the stream ends, however it
// ends: nil after Close, the context's error when the request ends, the
// write error when the connection breaks. fn must not block for long; it
// may run on the goroutine that ended the stream or on a goroutine of the
// context package. It runs without the stream's lock: it may call the
// stream's methods (Close then does nothing and sends return ErrClosed).
func OnClose(fn func(error)) Option { return func(c *config) { c.onClose = fn } }

// OnError registers fn to run for every failed write, Close's included,
// with the write's error. A failed write ends the stream, so fn runs after
// the stream has ended and before OnClose. It runs without the stream's
// lock, on the goroutine whose write failed: it may call the stream's
// methods (Close then does nothing and sends return ErrClosed).
func OnError(fn func(error)) Option { return func(c *config) { c.onError = fn } }

// Stream writes Datastar events to one HTTP response. It is safe for
// concurrent use: each Send or Batch is written whole, never interleaved
// with another. Handlers should defer Close.
type Stream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	ctx      context.Context // the request's
	cfg      config
	encoding Encoding

	mu         sync.Mutex // serializes writes; held while writing this stream's own connection
	buf        []byte     // encoded events, reused between sends
	zbuf       bytes.Buffer
	comp       compressor
	noDeadline bool      // the ResponseWriter cannot set write deadlines
	perWrite   bool      // arm the deadline around each write only, then clear it (HTTP/2 and later)
	deadline   time.Time // the write deadline in force; zero when none is
	done       bool      // no more writes
	cause      error     // why the stream ended; nil after Close

	closeOnce sync.Once
	stopWatch func() bool
}

// NewSSE starts an event stream on w: it writes the SSE headers
// (Content-Type: text/event-stream, Cache-Control: no-cache,
// X-Accel-Buffering: no, Connection: keep-alive on HTTP/1.1 only) and
// flushes them at once. With WithCompression, the coding is negotiated
// from all of r's Accept-Encoding lines. The stream ends when r's context
// ends. NewSSE fails only when w cannot flush.
func NewSSE(w http.ResponseWriter, r *http.Request, opts ...Option) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), ctx: r.Context(), encoding: Identity, perWrite: r.ProtoMajor >= 2}
	s.cfg.writeTimeout = DefaultWriteTimeout
	for _, o := range opts {
		o(&s.cfg)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		h.Set("Connection", "keep-alive")
	}
	if len(s.cfg.encodings) > 0 {
		h.Add("Vary", "Accept-Encoding")
		// A list header may come on several lines (RFC 9110, section 5.3);
		// together they mean what one comma-separated line would.
		s.encoding = NegotiateEncoding(strings.Join(r.Header.Values("Accept-Encoding"), ", "), s.cfg.encodings)
		if s.encoding != Identity {
			h.Set("Content-Encoding", string(s.encoding))
			h.Del("Content-Length")
			s.comp = newCompressor(s.encoding, &s.zbuf)
		}
	}
	w.WriteHeader(http.StatusOK)
	s.setDeadline()
	err := s.rc.Flush()
	s.clearDeadline()
	if err != nil {
		return nil, fmt.Errorf("sse: flush headers: %w", err)
	}
	s.stopWatch = unwatched
	if !s.cfg.unwatched {
		s.stopWatch = context.AfterFunc(r.Context(), func() { s.end(context.Cause(r.Context())) })
	}
	if s.cfg.onOpen != nil {
		s.cfg.onOpen(s)
	}
	return s, nil
}

// unwatched stands in for the stop function of a context watch that was
// never started.
func unwatched() bool { return false }

// Encoding returns the content coding the stream writes in.
func (s *Stream) Encoding() Encoding { return s.encoding }

// Context returns the request's context, which ends when the client goes.
func (s *Stream) Context() context.Context { return s.ctx }

// Send writes events as one unit and flushes it. When any event is invalid,
// nothing is written and the error names it.
func (s *Stream) Send(events ...Eventer) error {
	return s.locked(func() error {
		buf, err := appendEvents(s.buf[:0], events)
		if err != nil {
			return err
		}
		s.buf = buf
		return s.writeLocked(buf)
	})
}

// SendComment writes an SSE comment, which clients ignore; useful to keep
// a connection warm or to test that it is alive.
func (s *Stream) SendComment(text string) error {
	return s.locked(func() error {
		s.buf = AppendComment(s.buf[:0], text)
		return s.writeLocked(s.buf)
	})
}

// locked runs fn under the stream's lock unless the stream has ended. If
// fn's write broke the stream, it runs OnError and OnClose after
// unlocking, so that they may use the stream.
func (s *Stream) locked(fn func() error) error {
	s.mu.Lock()
	if s.done {
		err := s.closedErr()
		s.mu.Unlock()
		return err
	}
	err := fn()
	broke, cause := s.done, s.cause // only a failed write ends the stream inside fn
	s.mu.Unlock()
	if broke {
		s.stopWatch()
		s.runOnError(cause)
		s.runOnClose(cause)
	}
	return err
}

// PatchElements sends elements with Datastar's default options (outer
// morph, targets found by id).
func (s *Stream) PatchElements(elements string) error {
	return s.Send(PatchElements{Elements: elements})
}

// PatchSignals marshals v as JSON and sends it as a signal patch.
func (s *Stream) PatchSignals(v any) error {
	p, err := MarshalSignals(v)
	if err != nil {
		return err
	}
	return s.Send(p)
}

// Batch is a set of events written as one unit by Stream.Batch.
type Batch struct {
	buf []byte
}

// Send encodes events into the batch. An invalid event is not added and its
// error is returned.
func (b *Batch) Send(events ...Eventer) error {
	buf, err := appendEvents(b.buf, events)
	if err != nil {
		return err
	}
	b.buf = buf
	return nil
}

// Batch holds the stream's lock while fn adds events to a batch, then
// writes the batch as one unit. No other send can come between the events.
// If fn returns an error, nothing is written and Batch returns that error.
// fn must not call the stream's own send methods (it would deadlock).
func (s *Stream) Batch(fn func(*Batch) error) error {
	return s.locked(func() error {
		b := &Batch{buf: s.buf[:0]}
		if err := fn(b); err != nil {
			return err
		}
		s.buf = b.buf
		if len(b.buf) == 0 {
			return nil
		}
		return s.writeLocked(b.buf)
	})
}

// appendEvents appends the wire form of events to dst, or returns dst
// unchanged and the first error. Every event is validated here, whatever
// its Eventer promised: an Eventer written outside this package may return
// an Event it never validated, and the package promises that no event
// reaches the wire unvalidated. (The package's own Eventers validate too,
// so their events are checked twice: a scan of bytes already in cache,
// cheaper than a list of trusted types to keep in step.)
func appendEvents(dst []byte, events []Eventer) ([]byte, error) {
	start := len(dst)
	for i, ev := range events {
		e, err := ev.Event()
		if err == nil {
			dst, err = AppendEvent(dst, &e)
		}
		if err != nil {
			if len(events) > 1 {
				err = fmt.Errorf("event %d: %w", i, err)
			}
			return dst[:start], err
		}
	}
	return dst, nil
}

// Close finishes the stream: it closes the compressor, flushes, and runs
// OnClose. Close is idempotent; later sends return ErrClosed. It does not
// end the HTTP response: the handler does that by returning, soon after
// Close. Over HTTP/1 net/http then writes the response's last chunk; Close
// gives that write one whole write timeout from now, so that a deadline
// armed long ago cannot cut a stream that ended cleanly (a client that
// sees the response cut reconnects).
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	var err error
	if s.comp != nil {
		if err = s.comp.Close(); err == nil {
			err = s.writeOut()
		}
		if err != nil {
			err = fmt.Errorf("sse: close: %w", err)
		}
	}
	if !s.perWrite && !s.noDeadline && s.cfg.writeTimeout > 0 {
		s.setDeadlineAt(time.Now().Add(s.cfg.writeTimeout))
	}
	s.done = true
	s.mu.Unlock()
	s.stopWatch()
	if err != nil {
		s.runOnError(err)
	}
	s.runOnClose(nil)
	return err
}

// end marks the stream ended by cause without writing: the connection or
// the request is gone.
func (s *Stream) end(cause error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done, s.cause = true, cause
	s.mu.Unlock()
	s.runOnClose(cause)
}

// runOnError and runOnClose run the callbacks; the caller must not hold
// s.mu.
func (s *Stream) runOnError(err error) {
	if s.cfg.onError != nil {
		s.cfg.onError(err)
	}
}

func (s *Stream) runOnClose(cause error) {
	s.closeOnce.Do(func() {
		if s.cfg.onClose != nil {
			s.cfg.onClose(cause)
		}
	})
}

func (s *Stream) closedErr() error {
	if s.cause != nil {
		return fmt.Errorf("%w: %w", ErrClosed, s.cause)
	}
	return ErrClosed
}

// writeLocked writes frames, through the compressor if there is one, and
// flushes once. A failure ends the stream.
// The caller holds s.mu, through locked.
func (s *Stream) writeLocked(frames ...[]byte) error {
	var err error
	if s.comp == nil {
		s.setDeadline()
		for _, p := range frames {
			if _, err = s.w.Write(p); err != nil {
				break
			}
		}
		if err == nil {
			err = s.rc.Flush()
		}
		s.clearDeadline()
	} else {
		for _, p := range frames {
			if _, err = s.comp.Write(p); err != nil {
				break
			}
		}
		if err == nil {
			if err = s.comp.Flush(); err == nil {
				err = s.writeOut()
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("sse: write: %w", err)
		s.done, s.cause = true, err // locked runs OnError and OnClose after unlocking
	}
	return err
}

// writeOut sends what the compressor produced and flushes.
func (s *Stream) writeOut() error {
	defer s.zbuf.Reset()
	if s.zbuf.Len() == 0 {
		return nil
	}
	s.setDeadline()
	defer s.clearDeadline()
	if _, err := s.w.Write(s.zbuf.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// setDeadline makes sure the next write must finish within the write
// timeout.
//
// How long a deadline may outlive its write depends on the protocol. Over
// HTTP/1 the deadline is the connection's (net.Conn.SetWriteDeadline, also
// on web's hijacked connections): it only fails writes made after it has
// passed, so it can stay armed while the stream is idle. A deadline with
// more than half the timeout left is then kept, so a busy stream re-arms
// its timer at most twice per timeout instead of on every write (re-arming
// was 8% of a hub's CPU at 10,000 streams); every write still has between
// half the timeout and all of it. Over HTTP/2 net/http turns the deadline
// into a timer that resets the stream when it fires, whether a write is
// pending or not, so an idle stream would be cut one timeout after its
// last event: there (perWrite, also for any later protocol, whose writers
// we cannot vouch for) every write arms a fresh deadline and clearDeadline
// removes it once the write is done. HTTP/1, the hot path of hubd's
// subscribers, keeps the cheap way.
func (s *Stream) setDeadline() {
	if s.noDeadline || s.cfg.writeTimeout <= 0 {
		return
	}
	now := time.Now()
	if !s.perWrite && s.deadline.Sub(now) > s.cfg.writeTimeout/2 {
		return
	}
	s.setDeadlineAt(now.Add(s.cfg.writeTimeout))
}

// clearDeadline removes the deadline of a write that is done, where a
// deadline left armed would fire on its own (perWrite).
func (s *Stream) clearDeadline() {
	if s.perWrite && !s.deadline.IsZero() {
		s.setDeadlineAt(time.Time{})
	}
}

func (s *Stream) setDeadlineAt(t time.Time) {
	s.deadline = t
	if err := s.rc.SetWriteDeadline(t); errors.Is(err, http.ErrNotSupported) {
		s.noDeadline, s.deadline = true, time.Time{}
	}
}

// SendFrames writes frames that are already encoded (complete events or
// comments, such as a hub's shared frames) as one unit and flushes once.
// They are written as they are; the caller vouches for their encoding.
func (s *Stream) SendFrames(frames ...[]byte) error {
	return s.locked(func() error { return s.writeLocked(frames...) })
}
