package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxSignalsSize is the largest signals payload ReadSignals accepts.
const DefaultMaxSignalsSize = 1 << 20

// ErrSignalsTooLarge is returned when a request's signals exceed the limit.
var ErrSignalsTooLarge = errors.New("sse: signals too large")

// IsDatastarRequest reports whether r was sent by the Datastar client,
// which sets the Datastar-Request: true header on every backend action.
func IsDatastarRequest(r *http.Request) bool {
	return r.Header.Get("Datastar-Request") == "true"
}

// ReadSignals decodes the page's signals sent with r into v, as
// encoding/json does: from the "datastar" query parameter of a GET,
// DELETE or HEAD request (as the Datastar client sends them), from the
// JSON body otherwise. A request that carries no signals leaves v
// untouched and returns nil. The payload may be at most
// DefaultMaxSignalsSize bytes. Call it before NewSSE: once the response
// has started, net/http closes the body, and the error says so.
func ReadSignals(r *http.Request, v any) error {
	return ReadSignalsLimit(r, v, DefaultMaxSignalsSize)
}

// ReadSignalsLimit is ReadSignals with a size limit of maxBytes.
func ReadSignalsLimit(r *http.Request, v any, maxBytes int64) error {
	var data []byte
	switch r.Method {
	case http.MethodGet, http.MethodDelete, http.MethodHead:
		q := r.URL.Query().Get("datastar")
		if int64(len(q)) > maxBytes {
			return fmt.Errorf("%w: datastar query parameter is %d bytes, limit %d", ErrSignalsTooLarge, len(q), maxBytes)
		}
		data = []byte(q)
	default:
		if r.Body == nil {
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
		if errors.Is(err, http.ErrBodyReadAfterClose) {
			return fmt.Errorf("sse: read signals body: the body is closed; read the signals before NewSSE starts the response: %w", err)
		}
		if err != nil {
			return fmt.Errorf("sse: read signals body: %w", err)
		}
		if int64(len(b)) > maxBytes {
			return fmt.Errorf("%w: body exceeds %d bytes", ErrSignalsTooLarge, maxBytes)
		}
		data = b
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("sse: read signals: invalid JSON: %w", err)
	}
	return nil
}
