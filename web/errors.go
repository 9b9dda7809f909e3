package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// apiError is an error with the HTTP status and the request field it is
// about. Handlers return it; writeError turns any error into a response.
type apiError struct {
	Status int
	Field  string // the request field at fault, if one is
	Msg    string
	Err    error
	// Challenge is the WWW-Authenticate header of a 401.
	Challenge string
	// RetryAfter is the Retry-After header, in seconds, if set.
	RetryAfter string
	// Refused says why a stream is turned away for a while (it may come
	// back later); nil for every other error.
	Refused *refusal
}

func (e *apiError) Error() string { return e.Msg }
func (e *apiError) Unwrap() error { return e.Err }

// badField is a 400 naming field.
func badField(field string, err error) *apiError {
	msg := field + ": " + err.Error()
	var oe *sse.OptionError
	if errors.As(err, &oe) {
		msg = field + " " + oe.Reason
	}
	return &apiError{Status: http.StatusBadRequest, Field: field, Msg: msg, Err: err}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error     string `json:"error"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// statusOf maps an error to its HTTP status and field: the one place where
// the hub's and the encoder's errors meet HTTP.
func statusOf(err error) (int, string) {
	var api *apiError
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &api):
		return api.Status, api.Field
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, "body"
	case errors.Is(err, hub.ErrInvalidTopic), errors.Is(err, hub.ErrNoTopics):
		return http.StatusBadRequest, "topic"
	case errors.Is(err, hub.ErrNoEvents):
		return http.StatusBadRequest, "events"
	case errors.Is(err, sse.ErrInvalidOption), errors.Is(err, sse.ErrInvalidField), errors.Is(err, sse.ErrInvalidUTF8):
		return http.StatusBadRequest, ""
	case errors.Is(err, hub.ErrClosed):
		return http.StatusServiceUnavailable, ""
	case errors.Is(err, hub.ErrLogUnavailable):
		// The cluster's event log cannot be reached: nothing of the
		// request was done that a retry would repeat (a publish's retry
		// with the same Idempotency-Key is stored once).
		return http.StatusServiceUnavailable, ""
	case errors.Is(err, hub.ErrLogDamaged):
		// This node stopped following a log that lost events: another
		// node, or this one once restarted, takes the request.
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// writeError answers with err's status and a JSON body naming the field
// and the request ID.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, field := statusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		// The body may not have been read, or only in part: net/http
		// would read what is left before answering, as long as the client
		// takes to send it. Closing the connection answers at once.
		w.Header().Set("Connection", "close")
		// After answering, net/http still reads up to 256 KiB of what is
		// left, to find the end of the request, however slowly it comes:
		// a client that trickles it would hold the connection and its
		// goroutine for as long as it liked. A read deadline already past
		// ends that read at once, and the connection with it. (A writer
		// without deadlines leaves it to the http.Server's timeouts.)
		_ = http.NewResponseController(w).SetReadDeadline(time.Unix(1, 0))
	}
	var api *apiError
	if errors.As(err, &api) {
		if api.Challenge != "" {
			w.Header().Set("WWW-Authenticate", api.Challenge)
		}
		if api.RetryAfter != "" {
			w.Header().Set("Retry-After", api.RetryAfter)
		}
	}
	writeJSON(w, status, errorBody{Error: msg, Field: field, RequestID: w.Header().Get(headerRequestID)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONHeader(w, status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}

// writeJSONHeader sends the header of a JSON answer with status.
func writeJSONHeader(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}
