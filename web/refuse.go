package web

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// refusal is a reason to turn a stream away for a while: the client may
// come back later and be let in.
type refusal struct {
	name string // the reason label of hubd_streams_refused_total
	note string // the SSE comment a refused stream client reads
}

// The reasons a stream is refused for a while.
var (
	refusedFull    = &refusal{name: "max-streams", note: "max-streams reached"}
	refusedPerIP   = &refusal{name: "max-streams-per-ip", note: "max-streams-per-ip reached"}
	refusedClosing = &refusal{name: "shutting-down", note: "the hub is shutting down"}
	refusedPerUser = &refusal{name: "max-streams-per-user", note: "max-streams-per-user reached"}
	refusedAuthApp = &refusal{name: "auth-request-unavailable", note: "the app could not authorize the stream now"}
	refusals       = []*refusal{refusedFull, refusedPerIP, refusedClosing, refusedPerUser, refusedAuthApp}
)

// refusalCounts counts refused streams by reason; the map is filled once
// in New and only read afterwards.
type refusalCounts map[*refusal]*atomic.Uint64

func newRefusalCounts() refusalCounts {
	c := make(refusalCounts, len(refusals))
	for _, r := range refusals {
		c[r] = new(atomic.Uint64)
	}
	return c
}

// wantsStream reports whether r comes from a client that reads event
// streams and reconnects by itself: the Datastar client (Datastar-Request:
// true) or anything that accepts text/event-stream, such as EventSource.
// "*/*" does not count: curl and most back ends send it.
func wantsStream(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Datastar-Request"), "true") {
		return true
	}
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			media, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(media), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// refuse answers a subscriber that e (whose Refused is set) turns away for
// a while, and counts it. The client is neither registered nor counted as
// a stream.
//
// A client that wants an event stream gets a 200 event stream holding a
// retry field and a comment naming the reason, and then the connection is
// cut. The Datastar client does not retry after an error status (unless
// the page asked for retry: 'error'), so a 503 or 429 would end the page's
// stream for good; a response that breaks off, it does retry, after the
// interval the retry field sets. Because the response was a 200, the
// client also starts its count of failed tries afresh: it keeps coming
// back at that interval until it is let in. The interval is Retry-After
// plus up to half again of jitter, so that clients refused together do
// not all return together. The cut comes refusalLinger after the retry
// field, so that the page has read it.
//
// Every other client gets the error status, Retry-After and the JSON
// error.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ip string, e *apiError) {
	s.refused[e.Refused].Add(1)
	stream := wantsStream(r)
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "stream refused",
		slog.String(keyRequestID, w.Header().Get(headerRequestID)), slog.String(keyRemote, ip),
		slog.String(keyReason, e.Refused.name), slog.Bool("event_stream", stream))
	if !stream {
		writeError(w, r, e)
		return
	}
	seconds, err := strconv.Atoi(e.RetryAfter)
	if err != nil || seconds < 1 {
		seconds = 1
	}
	wait := time.Duration(seconds) * time.Second
	wait += rand.N(wait / 2)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	b := make([]byte, 0, 96)
	b = append(append(append(b, ": refused: "...), e.Refused.note...), "\nretry: "...)
	b = append(strconv.AppendInt(b, wait.Milliseconds(), 10), "\n\n"...)
	_, _ = w.Write(b) // a client that is gone needs no answer
	_ = http.NewResponseController(w).Flush()
	linger := time.NewTimer(refusalLinger)
	select {
	case <-linger.C:
	case <-r.Context().Done(): // the client went first
	}
	linger.Stop()
	// Cut the response: net/http closes an HTTP/1.x connection without
	// the last chunk and resets an HTTP/2 stream, so the client sees an
	// error, not an end.
	panic(http.ErrAbortHandler)
}

// refusalLinger is how long a refused stream stays open after its retry
// field, before it is cut. A browser that gets the data and the cut at
// once may lose the data: the body's stream fails before the page has
// read from it, and the page then retries after its own 1 s instead of
// the retry field (Datastar 1.0.2 in headless Chromium did so in two of
// three refusals; with this linger it kept to the retry field every time,
// over HTTP/1.1 and HTTP/2). Each refusal holds its connection this long.
const refusalLinger = 250 * time.Millisecond
