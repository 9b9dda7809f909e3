package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/go-chi/chi/v5"

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

// pathTopic is the topic named by the rest of the path, percent-decoded
// (so that /topics/%24hubd/stats names $hubd/stats).
func pathTopic(r *http.Request) (string, error) {
	raw := chi.URLParam(r, "*")
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

// subscribe registers the client, writes its replay, then drains its
// channel into the response until the client goes, a write fails, or the
// hub closes the channel. An eviction or a shutdown aborts the connection
// instead of ending the response, because the Datastar client reconnects
// only after an error.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, topics []string) {
	if len(topics) > s.cfg.MaxTopicsPerSubscription {
		writeError(w, r, badField("topic", fmt.Errorf("%d topics, more than the limit of %d", len(topics), s.cfg.MaxTopicsPerSubscription)))
		return
	}
	s.allowOrigin(w, r)
	private, err := s.authorizeSubscribe(r, topics)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var opts []hub.SubscribeOption
	if private != nil {
		opts = append(opts, private)
	}
	ip := s.clientIP(r)
	refused := s.limits.acquire(ip)
	if refused != nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, r, refused)
		return
	}
	defer s.limits.release(ip)
	sub, err := s.hub.Subscribe(topics, lastEventID(r), opts...)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer sub.Close()

	var out http.ResponseWriter = w
	raw, hijacked := hijack(w, r)
	if hijacked {
		defer raw.Close() // never a clean end: the client reconnects
		out = raw
	}
	stream, err := sse.NewSSE(out, r, s.streams...)
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "start stream", slog.String(keyRemote, s.clientIP(r)), slog.Any("err", err))
		return
	}
	if !s.write(stream, sub.Replay) {
		return
	}
	sub.Replay = nil // let history trim what was replayed
	ctx, frames := r.Context(), sub.C()
	for {
		select {
		case <-ctx.Done():
			return
		case f, ok := <-frames:
			if !ok {
				s.abort(r, sub.Err(), hijacked)
				return
			}
			batch := framesPool.Get().(*[][]byte)
			*batch = append((*batch)[:0], f.Data)
			open := drain(frames, batch)
			written := s.write(stream, *batch)
			clear(*batch) // drop the references to the frames
			framesPool.Put(batch)
			if !written {
				return
			}
			if !open {
				s.abort(r, sub.Err(), hijacked)
				return
			}
		}
	}
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
func (s *Server) write(stream *sse.Stream, frames [][]byte) bool {
	if err := stream.SendFrames(frames...); err != nil {
		s.hub.RecordPrune()
		s.log.LogAttrs(stream.Context(), slog.LevelDebug, "subscriber dropped", slog.Any("err", err))
		return false
	}
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	s.hub.RecordWrite(n)
	return true
}

// abort ends the response with an error the client notices, so that it
// reconnects (with Last-Event-ID) instead of stopping: a hijacked
// connection is closed by the caller without the last chunk, any other
// response is aborted by panicking with http.ErrAbortHandler.
func (s *Server) abort(r *http.Request, reason error, hijacked bool) {
	level := slog.LevelDebug
	if errors.Is(reason, broadcast.ErrSlow) {
		level = slog.LevelInfo
	}
	s.log.LogAttrs(r.Context(), level, "subscriber aborted",
		slog.String(keyRemote, s.clientIP(r)), slog.Any("reason", reason),
		slog.Bool("shutdown", errors.Is(reason, hub.ErrShutdown)))
	if !hijacked {
		panic(http.ErrAbortHandler)
	}
}
