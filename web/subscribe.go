package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// framesPool lends the slice a stream collects queued frames in: an idle
// stream then holds none.
var framesPool = sync.Pool{New: func() any { s := make([][]byte, 0, maxBatchFrames); return &s }}

// maxBatchFrames bounds how many queued frames one write takes, so that a
// long queue is written in pieces of reasonable size.
const maxBatchFrames = 64

// handleSubscribePath streams the one topic named by the path.
func (s *Server) handleSubscribePath(w http.ResponseWriter, r *http.Request) {
	topic, err := pathTopic(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.subscribe(w, r, []string{topic})
}

// pathTopic is the topic named by the rest of the path after /topics/,
// percent-decoded once (so that /topics/%24hubd/stats names $hubd/stats).
func pathTopic(r *http.Request) (string, error) {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/topics/")
	topic, err := url.PathUnescape(raw)
	if err != nil {
		return "", badField("topic", fmt.Errorf("%q: %w", raw, err))
	}
	return topic, nil
}

// handleSubscribeQuery streams every topic given as a "topic" parameter.
func (s *Server) handleSubscribeQuery(w http.ResponseWriter, r *http.Request) {
	topics := r.URL.Query()["topic"]
	if len(topics) == 0 {
		writeError(w, r, badField("topic", errors.New("missing: give one or more topic parameters")))
		return
	}
	s.subscribe(w, r, topics)
}

// lastEventID is the ID the client saw last: the Last-Event-ID header that
// EventSource and Datastar send when they reconnect, or the lastEventId
// parameter for clients that cannot set headers.
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

// openStream is a subscriber whose response has started: what the pump
// needs, and what must be released when it ends.
type openStream struct {
	ctx    context.Context // the request's; ended once a hijacked stream's handler has returned
	id     string          // the request ID
	n      uint64          // the stream ID: unique in this process, unlike a request ID a client gives
	ip     string
	sub    *hub.Subscription
	frames <-chan *broadcast.Frame // sub.C(), kept beside the rest: every delivery reads it
	stream *sse.Stream
	raw    *rawStream  // the hijacked connection, or nil
	fast   bool        // frames go to raw as they are (no compression)
	over   atomic.Bool // see end

	user    string      // whom the stream belongs to (a token's subject, the app's user), if known
	expiry  *time.Timer // ends the stream when its token expires; nil without one
	session string      // the credential key the app is asked again about it with (auth-request), or ""
}

// subscribe registers the client, writes its replay, then drains its
// channel into the response until the client goes, a write fails, or the
// hub closes the channel. An eviction or a shutdown aborts the connection
// instead of ending the response, because the Datastar client reconnects
// only after an error.
//
// What an idle stream keeps is most of what hubd costs per connection
// (see the README's performance section), so an HTTP/1.1 stream, once its
// connection is hijacked and its replay written, goes on in a goroutine of
// its own and lets net/http's goroutine end: the stream then waits on a
// 2 KiB stack (8 KiB at the bottom of net/http's call chain), and net/http
// drops the connection's 8 KiB of buffers. Other streams stay in the
// handler, where open (a large frame) returns before pump (a small one)
// waits.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, topics []string) {
	s.run(s.open(w, r, topics))
}

// run serves an opened stream (nil: nothing to serve) as subscribe says.
func (s *Server) run(o *openStream) {
	if o == nil {
		return
	}
	if o.raw != nil {
		// The connection is ours: net/http forgets it once this handler
		// returns, and with it the connection's read and write buffers
		// (8 KiB), the response and the frames of its call chain. The
		// stream goes on in a goroutine that starts with a small stack.
		go s.serveOwn(o)
		return
	}
	s.serve(o)
}

// serveOwn is serve on a goroutine of the stream's own, where net/http no
// longer stands behind it: a panic is logged and ends this stream only
// (serve's deferred close has run by then), instead of the whole hub.
func (s *Server) serveOwn(o *openStream) {
	defer func() {
		if v := recover(); v != nil {
			s.log.LogAttrs(o.ctx, slog.LevelError, "stream panicked", o.attrs(
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))...)
		}
	}()
	s.serve(o)
}

// serve is a stream's goroutine from its first frame on: it drains the
// subscriber's channel into the connection until the stream ends, then
// releases it. It ends when the hub closes the channel (unsubscribed,
// evicted, shut down, or hung up), so the hub's Shutdown waits for it.
func (s *Server) serve(o *openStream) {
	renewed := false
	defer func() {
		if !renewed {
			o.close(s)
		}
	}()
	renewed = s.pump(o)
}

// open checks and registers the subscriber and writes its replay; nil
// means the request has been answered (or the client is gone).
func (s *Server) open(w http.ResponseWriter, r *http.Request, topics []string) *openStream {
	if len(topics) > s.cfg.MaxTopicsPerSubscription {
		writeError(w, r, badField("topic", fmt.Errorf("%d topics, more than the limit of %d", len(topics), s.cfg.MaxTopicsPerSubscription)))
		return nil
	}
	s.allowOrigin(w, r)
	acc, err := s.authorizeSubscribe(r, topics)
	if err != nil {
		if api := (*apiError)(nil); errors.As(err, &api) && api.Refused != nil {
			s.refuse(w, r, s.clientIP(r), api)
			return nil
		}
		writeError(w, r, err)
		return nil
	}
	var opts []hub.SubscribeOption
	if acc.private != nil {
		opts = append(opts, acc.private)
	}
	if opts, err = presenceOption(r, opts); err != nil {
		writeError(w, r, err)
		return nil
	}
	return s.start(w, r, streamSpec{topics: topics, lastID: lastEventID(r), opts: opts, acc: acc})
}

// streamSpec is what start needs of an authorized subscribe.
type streamSpec struct {
	topics []string
	lastID string
	opts   []hub.SubscribeOption
	// ready, if set, sees the subscription before the response starts:
	// it may set headers.
	ready func(w http.ResponseWriter, sub *hub.Subscription)
	// acc is what admitted the stream: its user, when its credential
	// expires, and what the app is asked again about it with.
	acc access
}

// start registers an authorized subscriber and writes its replay; nil
// means the request has been answered (or the client is gone).
func (s *Server) start(w http.ResponseWriter, r *http.Request, spec streamSpec) *openStream {
	var err error
	o := &openStream{ctx: r.Context(), id: w.Header().Get(headerRequestID), ip: s.clientIP(r), user: spec.acc.user}
	refused := s.limits.acquire(o.ip, o.user)
	if refused != nil {
		// A client that hung up may not have given its slot back yet.
		s.hangups.reap(o.ip)
		refused = s.limits.acquire(o.ip, o.user)
	}
	if refused != nil {
		s.refuse(w, r, o.ip, refused)
		return nil
	}
	o.n = s.streamN.Add(1)
	// With a cluster the hub may wait on the event log; a client that goes
	// away meanwhile ends the wait.
	o.sub, err = s.hub.SubscribeContext(r.Context(), spec.topics, spec.lastID, spec.opts...)
	if err != nil {
		s.limits.release(o.ip, o.user)
		if ctx := r.Context(); ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			if s.log.Enabled(ctx, slog.LevelDebug) {
				s.log.LogAttrs(ctx, slog.LevelDebug, "subscriber gone while its replay was awaited", o.attrs(slog.Any("err", err))...)
			}
			return nil
		}
		if errors.Is(err, hub.ErrClosed) {
			// A client that comes back later finds a hub again: this
			// one restarted, or a load balancer sends it to another.
			s.refuse(w, r, o.ip, &apiError{Status: http.StatusServiceUnavailable, RetryAfter: "1",
				Refused: refusedClosing, Msg: "the hub is shutting down; retry later", Err: err})
			return nil
		}
		writeError(w, r, err)
		return nil
	}
	o.frames = o.sub.C()
	if spec.ready != nil {
		spec.ready(w, o.sub)
	}
	var out http.ResponseWriter = w
	if o.raw = hijack(w, r); o.raw != nil {
		// The request's context ends when this handler returns, and an
		// idle stream need not keep it (nor its parents) alive.
		out, o.ctx = o.raw, context.Background()
		r = r.WithContext(o.ctx)
	}
	// Admitted once o.ctx is final, since a disconnect or an expiry may
	// end the stream (and log with it) from another goroutine at once;
	// and before the hang-up watch, whose end of the stream releases what
	// admitted holds.
	s.admitted(o, spec.acc)
	if o.raw != nil {
		s.hangups.watch(o)
	}
	o.stream, err = sse.NewSSE(out, r, s.streams...)
	if err != nil {
		s.logStartFailure(o, err)
		o.close(s)
		return nil
	}
	if o.raw != nil && o.stream.Encoding() == sse.Identity {
		o.fast, o.raw.timeout = true, s.cfg.WriteTimeout
	}
	if !s.write(o, o.sub.Replay) {
		o.close(s)
		return nil
	}
	o.sub.Replay = nil // let history trim what was replayed
	return o
}

// attrs are what every log line about the stream says, then more.
func (o *openStream) attrs(more ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{slog.String(keyRequestID, o.id), slog.Uint64(keyStreamID, o.n),
		slog.String(keyRemote, o.ip)}, more...)
}

// logStartFailure logs why a stream could not send its headers: almost
// always because its client has already gone, which is normal (Debug); a
// ResponseWriter that cannot flush is a mistake in the server (Error);
// anything else is a Warn, rate-limited because it may hit many streams
// at once.
func (s *Server) logStartFailure(o *openStream, err error) {
	ctx := o.ctx
	switch {
	case errors.Is(err, http.ErrNotSupported):
		s.log.LogAttrs(ctx, slog.LevelError, "start stream", o.attrs(slog.Any("err", err))...)
	case clientGone(ctx, err):
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "subscriber dropped", o.attrs(slog.Any("err", err))...)
		}
	default:
		s.quiet.LogAttrs(ctx, slog.LevelWarn, "start stream", o.attrs(slog.Any("err", err))...)
	}
}

// close unsubscribes and gives back the stream's slot; a hijacked
// connection is closed without the last chunk, so the client reconnects.
// Its hang-up watch is removed first, while the connection is still open
// (see hangups.unwatch).
func (o *openStream) close(s *Server) {
	o.sub.Close()
	if o.raw != nil {
		s.hangups.unwatch(o)
		o.raw.Close()
	}
	if o.end() {
		s.released(o)
	}
}

// end marks the stream over and reports whether it was the first to: the
// one that ends a stream gives its slot back (and counts it pruned if its
// client is gone), so that it is done once, by the hang-up watcher, a
// failed write or close, whichever comes first.
func (o *openStream) end() bool { return o.over.CompareAndSwap(false, true) }

// pump writes the subscriber's frames as they come, each batch of queued
// frames with one write. A hijacked connection is never cancelled by
// net/http, so its pump waits on the channel alone (a plain receive keeps
// the waiting stack smaller than a select); other responses also end when
// the request's context does.
//
// It reports true when it has handed the stream to a fresh goroutine
// after a heartbeat (see below); the stream is then not over.
func (s *Server) pump(o *openStream) (renewed bool) {
	frames := o.frames
	var done <-chan struct{}
	if o.raw == nil {
		done = o.ctx.Done()
	}
	for {
		var f *broadcast.Frame
		ok := true
		if done == nil {
			f, ok = <-frames
		} else {
			select {
			case <-done:
				return false
			case f, ok = <-frames:
			}
		}
		if !ok {
			s.abort(o)
			return false
		}
		if !s.deliver(o, f) {
			return false
		}
		if f.ID == 0 && o.raw != nil && len(frames) == 0 {
			// A control frame (a heartbeat) on a hijacked stream with
			// nothing else queued: the write grew this goroutine's stack
			// to 4 KiB, which the runtime keeps until a garbage
			// collection shrinks it, and an idle hub collects rarely. A
			// fresh goroutine waits on 2 KiB, and the grown stack goes
			// back to the runtime for the next stream that writes. Once
			// per heartbeat, this costs one goroutine start per stream.
			go s.serveOwn(o)
			return true
		}
	}
}

// deliver writes f and whatever else is queued; false means the stream is
// over: the client is gone, or the hub closed the channel (then the
// response is aborted).
func (s *Server) deliver(o *openStream, f *broadcast.Frame) bool {
	// A stream on a connection of its own waits for a turn to write (see
	// turns): meanwhile the publishers run, more frames queue for it, and
	// the write below carries them all. Other streams (HTTP/2, TLS) cannot
	// write without waiting, so that a turn might be held while a client
	// does not read; with nothing else queued, they let the other
	// goroutines run first instead, to the same end but less well (make
	// bench-fanout-max). Either comes before the batch is taken from its
	// pool, so that thousands of waiting streams do not each hold one.
	if (o.raw == nil || !o.raw.takeTurn(s.turns)) && len(o.frames) == 0 {
		runtime.Gosched()
	}
	batch := framesPool.Get().(*[][]byte)
	*batch = append((*batch)[:0], f.Data)
	open := drain(o.frames, batch)
	written := s.write(o, *batch)
	if o.raw != nil {
		o.raw.giveTurn() // if the write did not (nothing to flush, or it failed first)
	}
	clear(*batch) // drop the references to the frames
	framesPool.Put(batch)
	if written && !open {
		s.abort(o)
	}
	return written && open
}

// drain appends the frames already queued in c, without waiting, up to
// maxBatchFrames. It reports false if it found c closed.
func drain(c <-chan *broadcast.Frame, frames *[][]byte) bool {
	for len(*frames) < maxBatchFrames {
		select {
		case f, ok := <-c:
			if !ok {
				return false
			}
			*frames = append(*frames, f.Data)
		default:
			return true
		}
	}
	return true
}

// write sends frames with one flush; false means the client is gone.
func (s *Server) write(o *openStream, frames [][]byte) bool {
	var err error
	if o.fast {
		err = o.raw.sendFrames(frames)
	} else {
		err = o.stream.SendFrames(frames...)
	}
	if err != nil {
		s.dropped(o, err)
		return false
	}
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	s.hub.RecordWrite(n)
	return true
}

// dropped ends a stream whose write failed: the client is gone. It is
// kept out of write so that write's frame stays small: every delivery and
// heartbeat runs write at the bottom of a stream's stack, and a stack that
// grows past 4 KiB there stays at 8 KiB while the stream idles (make
// bench-idle: 15.1 against 21.5 KiB per connection after a heartbeat).
//
//go:noinline
func (s *Server) dropped(o *openStream, err error) {
	if o.end() {
		s.hub.RecordPrune()
		s.released(o)
	}
	if ctx := o.ctx; s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "subscriber dropped", o.attrs(slog.Any("err", err))...)
	}
}

// abort ends the response with an error the client notices, so that it
// reconnects (with Last-Event-ID) instead of stopping: a hijacked
// connection is closed by the caller without the last chunk, any other
// response is aborted by panicking with http.ErrAbortHandler.
//
// A channel closed with broadcast.ErrClosed while the pump runs was
// closed by the hang-up watcher (the stream's own close comes after the
// pump), which has logged the drop: the client is gone.
func (s *Server) abort(o *openStream) {
	reason := o.sub.Err()
	ctx := o.ctx
	switch {
	case errors.Is(reason, broadcast.ErrClosed): // see hungUp
	case errors.Is(reason, broadcast.ErrSlow): // evictions come in storms
		s.quiet.LogAttrs(ctx, slog.LevelInfo, "subscriber aborted", o.attrs(
			slog.Any(keyReason, reason), slog.Bool("shutdown", false))...)
	case s.log.Enabled(ctx, slog.LevelDebug):
		s.log.LogAttrs(ctx, slog.LevelDebug, "subscriber aborted", o.attrs(
			slog.Any(keyReason, reason), slog.Bool("shutdown", errors.Is(reason, hub.ErrShutdown)))...)
	}
	if o.raw == nil {
		panic(http.ErrAbortHandler)
	}
}
