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

// DefaultBufferSize is how many bytes a buffered stream (WithBuffering)
// holds before it writes them without waiting for Flush.
const DefaultBufferSize = 16 << 10

// ErrClosed is returned by sends on a Stream that has ended: closed by the
// handler, ended by the request's context, or broken by a failed write. The
// returned error also wraps the cause where there is one.
var ErrClosed = errors.New("sse: stream closed")

// errWritePanicked ends a stream whose write panicked (in a custom
// Compressor, say): what reached the connection is unknown.
var errWritePanicked = errors.New("sse: write panicked")

// Option configures a Stream.
type Option func(*config)

type config struct {
	coders       []Coder
	negotiation  Negotiation
	writeTimeout time.Duration
	bufferSize   int // zero: every send is written and flushed at once
	onOpen       func(*Stream)
	onClose      func(*Stream, error)
	onError      func(*Stream, error) bool
	unwatched    bool
}

// WithWriteTimeout sets the deadline of each write; zero or less disables
// deadlines.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) { c.writeTimeout = d }
}

// WithBuffering makes the stream buffered, the write profile for many small
// updates: Send, SendComment and SendFrames add their events to a buffer,
// written (through the compressor, if any) and flushed only by Flush, by
// Close, or by the send that makes the buffer hold size bytes or more
// (DefaultBufferSize when size is zero or less). Events of several calls
// then share one write and, compressed, one compressed block. Events in
// the buffer when the client goes are lost, as events in flight would be.
func WithBuffering(size int) Option {
	return func(c *config) {
		if size <= 0 {
			size = DefaultBufferSize
		}
		c.bufferSize = size
	}
}

// WithoutContextWatch stops the stream from watching the request's
// context: it then ends only by Close or a failed write, and a send after
// the request ended fails only when its write does. For servers that end
// their streams themselves and hold very many at once (hubd's own
// subscribers): watching costs about half a KiB per stream. The stream's
// Context then ends with the stream only.
func WithoutContextWatch() Option {
	return func(c *config) { c.unwatched = true }
}

// OnOpen registers fn to run once the headers are flushed, before NewSSE
// returns, with the new stream. It runs without the stream's lock and may
// send events. If the stream ends while fn runs (a send of fn fails, or the
// request ends), OnClose waits until fn has returned, and NewSSE then
// returns the error that ended the stream.
func OnOpen(fn func(*Stream)) Option { return func(c *config) { c.onOpen = fn } }

// OnClose registers fn to run exactly once when a stream NewSSE has opened
// ends, however it ends, with the stream and the cause: nil after Close,
// the context's error when the request ends, the write error when the
// connection breaks. Use the stream fn is given rather than a variable
// assigned from NewSSE: fn may run before NewSSE returns (after OnOpen),
// or on another goroutine at any time. fn must not block for long; it may
// run on the goroutine that ended the stream or on a goroutine of the
// context package. It runs without the stream's lock: it may call the
// stream's methods (Close then does nothing and sends return ErrClosed).
// When NewSSE fails before the headers are flushed, no stream was opened
// and fn does not run.
func OnClose(fn func(s *Stream, err error)) Option { return func(c *config) { c.onClose = fn } }

// OnError registers fn to run, on the sending goroutine and without the
// stream's lock, for every send that fails, with the stream and the error
// the send returns:
//
//   - an event that Send refuses (it is invalid, or its Event method
//     failed): nothing was written and the stream is still open; fn's
//     result decides whether it closes (true closes it, as Close would).
//   - a failed write, Close's included: the stream has ended already (a
//     partly written event cannot be taken back), whatever fn returns,
//     and OnClose runs after fn.
//
// Sends on a stream that has ended return ErrClosed without calling fn. fn
// may call the stream's methods.
func OnError(fn func(s *Stream, err error) (closeStream bool)) Option {
	return func(c *config) { c.onError = fn }
}

// Stream writes Datastar events to one HTTP response. It is safe for
// concurrent use: each Send or Batch is written whole, never interleaved
// with another. Handlers should defer Close.
type Stream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	parent   context.Context // the request's
	cfg      config
	encoding Encoding

	mu         sync.Mutex // serializes writes; held while writing this stream's own connection, never while running the caller's code
	pending    []byte     // a buffered stream's events not yet written
	zbuf       bytes.Buffer
	comp       Compressor
	noDeadline bool      // the ResponseWriter cannot set write deadlines
	perWrite   bool      // arm the deadline around each write only, then clear it (HTTP/2 and later)
	deadline   time.Time // the write deadline in force; zero when none is

	state   sync.Mutex // guards the fields below; held only for short steps, never while writing
	ended   bool       // no more writes
	cause   error      // why the stream ended; nil after Close
	opening bool       // NewSSE has not returned: OnClose waits
	ctx     context.Context
	cancel  context.CancelCauseFunc

	closeOnce sync.Once
	stopWatch func() bool
}

// NewSSE starts an event stream on w: it writes the SSE headers
// (Content-Type: text/event-stream, Cache-Control: no-cache,
// X-Accel-Buffering: no, Connection: keep-alive on HTTP/1.1 only) and
// flushes them at once. With WithCompression or WithCoders, the coding is
// negotiated from all of r's Accept-Encoding lines. The stream ends when r's
// context ends.
//
// NewSSE fails, writing nothing, when an encoding given to WithCompression
// has no coder or the chosen coder cannot make its compressor; it fails
// when w cannot flush; and it returns the stream's end cause when the
// stream ended during OnOpen (OnClose has then run). Read the request's
// body, ReadSignals included, before calling NewSSE: once the response has
// started, net/http may close the body.
func NewSSE(w http.ResponseWriter, r *http.Request, opts ...Option) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), parent: r.Context(), encoding: Identity, perWrite: r.ProtoMajor >= 2, opening: true}
	s.cfg.writeTimeout = DefaultWriteTimeout
	for _, o := range opts {
		o(&s.cfg)
	}
	h := w.Header()
	if len(s.cfg.coders) > 0 {
		// A list header may come on several lines (RFC 9110, section 5.3);
		// together they mean what one comma-separated line would.
		coder, err := negotiate(strings.Join(r.Header.Values("Accept-Encoding"), ", "), s.cfg.coders, s.cfg.negotiation)
		if err != nil {
			return nil, err
		}
		if coder != nil {
			comp, err := coder.NewCompressor(&s.zbuf)
			if err != nil {
				return nil, fmt.Errorf("sse: %s compressor: %w", coder.Encoding(), err)
			}
			s.encoding, s.comp = coder.Encoding(), comp
			h.Set("Content-Encoding", string(s.encoding))
			h.Del("Content-Length")
		}
		if s.cfg.negotiation != Forced {
			h.Add("Vary", "Accept-Encoding")
		}
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		h.Set("Connection", "keep-alive")
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
		ctx := r.Context()
		s.stopWatch = context.AfterFunc(ctx, func() {
			if s.end(context.Cause(ctx)) {
				s.runOnClose()
			}
		})
	}
	if s.open() { // the stream ended while OnOpen ran; OnClose waited for it
		s.runOnClose()
		return nil, s.Err()
	}
	return s, nil
}

// open runs OnOpen, then lets OnClose run (even if OnOpen panics), and
// reports whether the stream ended meanwhile.
func (s *Stream) open() (ended bool) {
	defer func() {
		s.state.Lock()
		s.opening = false
		ended = s.ended
		s.state.Unlock()
	}()
	if s.cfg.onOpen != nil {
		s.cfg.onOpen(s)
	}
	return false
}

// unwatched stands in for the stop function of a context watch that was
// never started.
func unwatched() bool { return false }

// Encoding returns the content coding the stream writes in.
func (s *Stream) Encoding() Encoding { return s.encoding }

// Context returns a context that ends when the stream ends (by Close, by a
// failed write, or with the request's context unless WithoutContextWatch),
// so that work done for the stream stops with it: its Done is closed
// exactly when Closed turns true, and its cause (context.Cause) is what
// Err returns. It carries the request context's values.
func (s *Stream) Context() context.Context {
	s.state.Lock()
	defer s.state.Unlock()
	if s.ctx == nil { // made on first use: most streams never ask
		// Not derived from the request's cancellation: Done closes exactly
		// when Closed turns true (the watch ends the stream with the
		// request).
		s.ctx, s.cancel = context.WithCancelCause(context.WithoutCancel(s.parent))
		if s.ended {
			s.cancel(s.errLocked())
		}
	}
	return s.ctx
}

// Done returns a channel that is closed when the stream ends: it is
// Context().Done().
func (s *Stream) Done() <-chan struct{} { return s.Context().Done() }

// Closed reports whether the stream has ended. It never waits for a write.
func (s *Stream) Closed() bool {
	s.state.Lock()
	defer s.state.Unlock()
	return s.ended
}

// Err returns nil while the stream is open; once it has ended, the error
// its sends return: ErrClosed after Close, or ErrClosed wrapping the cause
// (the request context's error, the failed write's) otherwise.
func (s *Stream) Err() error {
	s.state.Lock()
	defer s.state.Unlock()
	return s.errLocked()
}

func (s *Stream) errLocked() error {
	switch {
	case !s.ended:
		return nil
	case s.cause != nil:
		return fmt.Errorf("%w: %w", ErrClosed, s.cause)
	}
	return ErrClosed
}

// end marks the stream ended by cause (nil for Close) and ends its
// context. It reports whether this call ended it; only that caller runs
// OnClose, through runOnClose.
func (s *Stream) end(cause error) bool {
	s.state.Lock()
	defer s.state.Unlock()
	if s.ended {
		return false
	}
	s.ended, s.cause = true, cause
	if s.cancel != nil {
		s.cancel(s.errLocked())
	}
	return true
}

// runOnClose runs OnClose once, unless NewSSE is still running OnOpen:
// NewSSE runs it then. The caller must not hold s.mu.
func (s *Stream) runOnClose() {
	s.state.Lock()
	opening, cause := s.opening, s.cause
	s.state.Unlock()
	if opening {
		return
	}
	s.closeOnce.Do(func() {
		if s.cfg.onClose != nil {
			s.cfg.onClose(s, cause)
		}
	})
}

// Send writes events as one unit and flushes it (a buffered stream keeps
// it for Flush). The events are encoded before the stream is locked, so an
// Eventer that panics or blocks holds up no other sender. When any event
// is invalid, nothing is written, the error names it, and OnError decides
// whether the stream closes.
func (s *Stream) Send(events ...Eventer) error {
	if err := s.Err(); err != nil {
		return err
	}
	b := getBuf()
	defer putBuf(b)
	buf, err := appendEvents((*b)[:0], events)
	*b = buf
	if err != nil {
		return s.refused(err)
	}
	return s.write(false, buf)
}

// refused reports an event Send could not encode to OnError, and closes
// the stream if OnError says so.
func (s *Stream) refused(err error) error {
	if s.cfg.onError != nil && s.cfg.onError(s, err) {
		s.Close()
	}
	return err
}

// SendComment writes an SSE comment, which clients ignore; useful to keep
// a connection warm or to test that it is alive.
func (s *Stream) SendComment(text string) error {
	b := getBuf()
	defer putBuf(b)
	*b = AppendComment((*b)[:0], text)
	return s.write(false, *b)
}

// SendFrames writes frames that are already encoded (complete events or
// comments, such as a hub's shared frames) as one unit and flushes once.
// They are written as they are; the caller vouches for their encoding.
func (s *Stream) SendFrames(frames ...[]byte) error {
	return s.write(false, frames...)
}

// Flush writes what a buffered stream (WithBuffering) holds and flushes
// it to the client. On a stream that is not buffered every send is
// flushed already, and Flush does nothing.
func (s *Stream) Flush() error { return s.write(true) }

// write writes frames as one unit, or adds them to a buffered stream's
// buffer; flush writes the buffer whatever its size. If the write breaks
// the stream, OnError and then OnClose run after the lock is released, so
// that they may use the stream.
func (s *Stream) write(flush bool, frames ...[]byte) error {
	var broke error
	defer func() { // deferred, to run even when a write panics
		if broke != nil {
			s.stopWatch()
			if s.cfg.onError != nil {
				s.cfg.onError(s, broke)
			}
			s.runOnClose()
		}
	}()
	return s.writeLocked(flush, frames, &broke)
}

// writeLocked does write's work under s.mu, which it releases however the
// write ends, a panic included; *broke is set to the error of a write that
// failed, which ends the stream.
func (s *Stream) writeLocked(flush bool, frames [][]byte, broke *error) error {
	s.mu.Lock()
	finished := false
	defer func() {
		if !finished { // a Compressor panicked: the stream is in pieces
			s.end(errWritePanicked)
			*broke = errWritePanicked
		}
		s.mu.Unlock()
	}()
	if err := s.Err(); err != nil {
		finished = true
		return err
	}
	if s.cfg.bufferSize > 0 {
		for _, p := range frames {
			s.pending = append(s.pending, p...)
		}
		if len(s.pending) == 0 || !flush && len(s.pending) < s.cfg.bufferSize {
			finished = true
			return nil
		}
		frames = [][]byte{s.pending}
		defer s.dropPending()
	}
	err := s.writeOut(frames)
	if err != nil {
		err = fmt.Errorf("sse: write: %w", err)
		s.end(err) // unless the request's end came first
		*broke = err
	}
	finished = true
	return err
}

// dropPending empties the buffer of a buffered stream, keeping its memory
// unless one large event grew it.
func (s *Stream) dropPending() {
	s.pending = s.pending[:0]
	if cap(s.pending) > max(maxKeptBuffer, s.cfg.bufferSize*2) {
		s.pending = nil
	}
}

// writeOut writes frames, through the compressor if there is one, and
// flushes once. The caller holds s.mu.
func (s *Stream) writeOut(frames [][]byte) error {
	if s.comp == nil {
		s.setDeadline()
		defer s.clearDeadline()
		for _, p := range frames {
			if len(p) == 0 {
				continue
			}
			if _, err := s.w.Write(p); err != nil {
				return err
			}
		}
		return s.rc.Flush()
	}
	for _, p := range frames {
		if _, err := s.comp.Write(p); err != nil {
			return err
		}
	}
	if err := s.comp.Flush(); err != nil {
		return err
	}
	return s.writeCompressed()
}

// writeCompressed sends what the compressor produced and flushes.
func (s *Stream) writeCompressed() error {
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

// PatchElements sends elements with Datastar's default options (outer
// morph, targets found by id).
func (s *Stream) PatchElements(elements string) error {
	return s.Send(PatchElements{Elements: elements})
}

// PatchElementsf is PatchElements of fmt.Sprintf(format, args...). The
// arguments are not escaped: escape text that is not markup yourself.
func (s *Stream) PatchElementsf(format string, args ...any) error {
	return s.PatchElements(fmt.Sprintf(format, args...))
}

// PatchSignals sends signals, a JSON object, as a signal patch: the same
// raw JSON as the PatchSignals event's Signals. To send a Go value, use
// MarshalAndPatchSignals.
func (s *Stream) PatchSignals(signals []byte) error {
	return s.Send(PatchSignals{Signals: signals})
}

// MarshalAndPatchSignals marshals v as JSON (it must marshal to an object)
// and sends it as a signal patch.
func (s *Stream) MarshalAndPatchSignals(v any) error {
	p, err := MarshalSignals(v)
	if err != nil {
		return s.refused(err)
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

// Batch calls fn to add events to a batch, then writes the batch as one
// unit: no other send can come between its events. fn runs without the
// stream's lock, so other senders go on while it works, and it may call
// the stream's own methods (what they send is written before the batch).
// If fn returns an error, nothing is written and Batch returns that error.
func (s *Stream) Batch(fn func(*Batch) error) error {
	if err := s.Err(); err != nil {
		return err
	}
	buf := getBuf()
	defer putBuf(buf)
	b := &Batch{buf: (*buf)[:0]}
	err := fn(b)
	*buf = b.buf
	if err != nil {
		return err
	}
	if len(b.buf) == 0 {
		return nil
	}
	return s.write(false, b.buf)
}

// bufs holds the buffers that sends encode their events into, outside the
// stream's lock.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxKeptBuffer { // do not hold on to one large event's buffer
		bufs.Put(b)
	}
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

// Close finishes the stream: it writes what a buffered stream holds,
// closes the compressor, flushes, and runs OnClose. Close is idempotent;
// later sends return ErrClosed. It does not end the HTTP response: the
// handler does that by returning, soon after Close. Over HTTP/1 net/http
// then writes the response's last chunk; Close gives that write one whole
// write timeout from now, so that a deadline armed long ago cannot cut a
// stream that ended cleanly (a client that sees the response cut
// reconnects).
func (s *Stream) Close() error {
	err, ended := s.closeLocked()
	if !ended {
		return nil
	}
	s.stopWatch()
	if err != nil && s.cfg.onError != nil {
		s.cfg.onError(s, err)
	}
	s.runOnClose()
	return err
}

// closeLocked does Close's writes under s.mu, and reports whether this
// call ended the stream.
func (s *Stream) closeLocked() (err error, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Closed() {
		return nil, false
	}
	if s.comp != nil {
		if _, err = s.comp.Write(s.pending); err == nil {
			if err = s.comp.Close(); err == nil {
				err = s.writeCompressed()
			}
		}
	} else if len(s.pending) > 0 {
		err = s.writeOut([][]byte{s.pending})
	}
	s.pending = nil
	if err != nil {
		err = fmt.Errorf("sse: close: %w", err)
	}
	if !s.perWrite && !s.noDeadline && s.cfg.writeTimeout > 0 {
		s.setDeadlineAt(time.Now().Add(s.cfg.writeTimeout))
	}
	return err, s.end(nil)
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
