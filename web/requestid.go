package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
)

// headerRequestID is the request and response header of a request's ID
// (in Go's canonical spelling).
const headerRequestID = "X-Request-Id"

// maxRequestIDLen is the longest X-Request-ID a client may give; a longer
// one is replaced.
const maxRequestIDLen = 128

// setRequestID gives the response r's ID in X-Request-ID, before anything
// else can write its headers: errors, streams (a hijacked stream writes
// the response's own header map) and refusals all carry it.
//
// It is not inlined: ServeHTTP's frame stays on the stack of every idle
// stream, and should not grow by the room the ID takes.
//
//go:noinline
func setRequestID(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(headerRequestID, requestID(r))
}

// requestID is the ID of r: the client's X-Request-ID if it sent exactly
// one that validRequestID accepts, so that a proxy's or a back end's ID
// follows the request into hubd's logs; otherwise a new UUIDv7, which
// sorts by time. An invalid ID is never echoed.
func requestID(r *http.Request) string {
	if ids := r.Header.Values(headerRequestID); len(ids) == 1 && validRequestID(ids[0]) {
		return ids[0]
	}
	// NewV7 fails only when the system's random source does, which
	// crypto/rand never reports (since Go 1.24 it crashes instead).
	return uuid.Must(uuid.NewV7()).String()
}

// validRequestID reports whether id is 1 to maxRequestIDLen printable
// ASCII characters without spaces: safe in a header, a log line and a JSON
// string without escaping surprises.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// requestIDKey is the context key of a request's ID (see Server.route).
// Streams do without: the copy of the request would cost every idle stream
// a quarter of a KiB, so they log their IDs themselves.
type requestIDKey struct{}

// logHandler adds the request ID that a log call's context carries, so
// that every line about a request can be found by it.
type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		rec.AddAttrs(slog.String(keyRequestID, id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
