package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// publishResponse is the JSON answer to a publish.
type publishResponse struct {
	ID          string   `json:"id"`  // the last event's ID
	IDs         []string `json:"ids"` // every event's ID, in order
	Topics      []string `json:"topics"`
	Subscribers int      `json:"subscribers"`
}

// handlePublish publishes one event to the topic in the path. The
// Content-Type picks the kind, as the Datastar client treats responses:
// text/html patches elements, application/json patches signals,
// text/javascript executes a script.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	topic, err := pathTopic(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	topics := []string{topic}
	p, err := s.admitPublisher(r, 1)
	if err == nil {
		err = authorizePublish(p, topics, func(int) string { return "topic" })
	}
	if err == nil {
		err = checkOptionSizes(r)
	}
	var private bool
	if err == nil {
		private, err = s.privateOption(r, false)
	}
	var retain bool
	if err == nil {
		retain, err = retainOption(r, false)
	}
	var key string
	if err == nil {
		key, err = idempotencyKey(r, p)
	}
	var retry time.Duration
	if err == nil {
		retry, err = retryOption(r, 0)
	}
	var ev sse.Eventer
	if err == nil {
		ev, err = s.eventFromRequest(w, r, retry)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.publish(w, r, topics, hub.PublishOptions{Private: private, IdempotencyKey: key, Retain: retain}, ev)
}

// MaxIdempotencyKey is the longest Idempotency-Key header a publish may
// carry, in bytes.
const MaxIdempotencyKey = 128

// idempotencyKey returns the publish's Idempotency-Key header: 1 to
// MaxIdempotencyKey printable ASCII characters, or absent. A retry that
// carries the same key within the window (a single node's
// idempotency-window, a cluster's duplicate window) answers the first
// publish's result and publishes nothing. The key returned is scoped to
// p's credential (an API key or token), or without authorization to the
// client's address (after trusted proxies), so that one publisher can
// neither learn another's result nor have its own event dropped as
// another's repeat.
func idempotencyKey(r *http.Request, p publisher) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", badField("Idempotency-Key", errors.New("given more than once"))
	}
	k := vs[0]
	if k == "" || len(k) > MaxIdempotencyKey {
		return "", badField("Idempotency-Key", fmt.Errorf("%d bytes; want 1 to %d", len(k), MaxIdempotencyKey))
	}
	for i := 0; i < len(k); i++ {
		if k[i] < ' ' || k[i] > '~' {
			return "", badField("Idempotency-Key", fmt.Errorf("byte %#x at %d; want printable ASCII", k[i], i))
		}
	}
	return p.key + "|" + k, nil
}

// MaxOptionBytes bounds each option of a publish: a Datastar-* header or
// its query parameter, and each option of a batch's events (a selector,
// an event ID, script attributes taken together). Options are copied into
// the event every subscriber and the history get; none has any business
// being longer. A longer one gets 400 naming it.
const MaxOptionBytes = 4 << 10

// MaxRetryDuration bounds the retry (reconnection delay) a published event
// may set for its subscribers; a longer one gets 400.
const MaxRetryDuration = time.Hour

// retryOption reads the reconnection delay a publish sets for its
// subscribers (the retry field of its events): the Datastar-Retry-Duration
// header, else the retryDuration parameter, else inBody (a batch's own
// retryDuration), in whole milliseconds from 0 (none) to
// MaxRetryDuration. The shorter names Datastar-Retry and retry, which
// other servers might read, are refused by name rather than ignored.
func retryOption(r *http.Request, inBody int64) (time.Duration, error) {
	if r.Header.Get("Datastar-Retry") != "" {
		return 0, badField("Datastar-Retry", errors.New("not an option; the reconnection delay is Datastar-Retry-Duration (or the retryDuration parameter), in milliseconds"))
	}
	v := option(r, "Datastar-Retry-Duration", "retryDuration")
	if v == "" && r.URL.RawQuery != "" && r.URL.Query().Has("retry") {
		return 0, badField("retry", errors.New("not an option; the reconnection delay is the retryDuration parameter (or the Datastar-Retry-Duration header), in milliseconds"))
	}
	ms := inBody
	if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, badField("retryDuration", fmt.Errorf("%.40q is not a whole number of milliseconds", v))
		}
		ms = n
	}
	if err := checkRetry("retryDuration", ms); err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// checkRetry is the 400 for a retryDuration of ms milliseconds, named
// field, if it is negative or over MaxRetryDuration.
func checkRetry(field string, ms int64) error {
	switch limit := MaxRetryDuration.Milliseconds(); {
	case ms < 0:
		return &apiError{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf("%s: %d is negative", field, ms)}
	case ms > limit:
		return &apiError{Status: http.StatusBadRequest, Field: field,
			Msg: fmt.Sprintf("%s: %d milliseconds, more than the limit of %d (one hour)", field, ms, limit)}
	}
	return nil
}

// publishOptions are the options of a single publish: the header, and the
// query parameter that stands in for it and names it in errors.
var publishOptions = [][2]string{
	{"Datastar-Selector", "selector"}, {"Datastar-Mode", "mode"}, {"Datastar-Namespace", "namespace"},
	{"Datastar-Use-View-Transition", "useViewTransition"}, {"Datastar-Only-If-Missing", "onlyIfMissing"},
	{"Datastar-Script-Attributes", "attributes"}, {"Datastar-Keep-Script", "keepScript"}, {"Hubd-Private", "private"},
	{"Hubd-Retain", "retain"}, {"Datastar-Retry-Duration", "retryDuration"},
}

// checkOptionSizes refuses an option header or parameter longer than
// MaxOptionBytes, before the body is read.
func checkOptionSizes(r *http.Request) error {
	var q url.Values // most publishes have no query to parse
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	for _, o := range publishOptions {
		// Looked up as they are: net/http made r.Header's keys canonical,
		// and publishOptions' are written so (TestPublishOptionsAreCanonical).
		for _, values := range [2][]string{r.Header[o[0]], q[o[1]]} {
			for _, v := range values {
				if err := checkOptionSize(o[1], len(v)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkOptionSize is the 400 for an option of n bytes, if n is over
// MaxOptionBytes.
func checkOptionSize(field string, n int) error {
	if n <= MaxOptionBytes {
		return nil
	}
	return &apiError{Status: http.StatusBadRequest, Field: field,
		Msg: fmt.Sprintf("%s: %d bytes, more than the limit of %d for an option", field, n, MaxOptionBytes)}
}

// checkEncodedSize refuses a publish whose events, encoded as subscribers
// get them and the history keeps them (with their options, field names and
// a "data:" prefix on every line), take total bytes, more than
// MaxBodyBytes: the body limit bounds what a publish costs every
// subscriber, not only what it sends. field names the events in the error.
func (s *Server) checkEncodedSize(field string, total int) error {
	if int64(total) > s.cfg.MaxBodyBytes {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Field: field,
			Msg: fmt.Sprintf("%s: encodes to %d bytes with its options, more than the limit of %d bytes (max-body-bytes)", field, total, s.cfg.MaxBodyBytes)}
	}
	return nil
}

// admitPublisher checks a publish's credential and its rate, before its
// body is read, and takes n publishes from its rate; with n zero (a batch,
// whose events are not counted yet) it only checks that one is left.
func (s *Server) admitPublisher(r *http.Request, n int) (publisher, error) {
	p, err := s.authenticatePublisher(r)
	if err != nil {
		return p, err
	}
	if n == 0 {
		return p, s.rates.ready(p.key, time.Now())
	}
	return p, s.rates.allow(p.key, n, time.Now())
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, topics []string, opts hub.PublishOptions, events ...sse.Eventer) {
	for _, t := range topics {
		if err := checkReserved(t); err != nil {
			writeError(w, r, err)
			return
		}
	}
	res, err := s.hub.PublishContext(r.Context(), topics, opts, events...)
	if err != nil {
		writeError(w, r, retainError(err))
		return
	}
	last := res.IDs[len(res.IDs)-1]
	if sse.IsDatastarRequest(r) {
		// The Datastar client would merge a JSON answer into the page's
		// signals: a page that publishes gets no body.
		w.Header().Set("Hubd-Event-Id", last)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writePublished(w, publishResponse{ID: last, IDs: res.IDs, Topics: res.Topics, Subscribers: res.Subscribers})
}

// writePublished answers a publish with p as writeJSON would, byte for
// byte, but without the encoder's reflection and allocations: the answer
// is appended into a lent buffer, for the busiest JSON hubd writes.
func writePublished(w http.ResponseWriter, p publishResponse) {
	buf := buffers.Get().(*[]byte)
	defer putBuffer(buf)
	b := append((*buf)[:0], `{"id":`...)
	b = appendJSONString(b, p.ID)
	b = append(b, `,"ids":`...)
	b = appendJSONStrings(b, p.IDs)
	b = append(b, `,"topics":`...)
	b = appendJSONStrings(b, p.Topics)
	b = append(b, `,"subscribers":`...)
	b = strconv.AppendInt(b, int64(p.Subscribers), 10)
	b = append(b, "}\n"...)
	*buf = b
	writeJSONHeader(w, http.StatusOK)
	_, _ = w.Write(b) // the client may be gone; nothing to do
}

// appendJSONStrings appends ss as a JSON array of strings, as
// encoding/json writes it (null for nil).
func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
// Event IDs and topic names are plain ASCII that needs no escape; anything
// else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// checkReserved is the 403 for a publish to topic, or a change of its
// retained state, if the hub keeps the topic for itself (hub.Reserved).
func checkReserved(topic string) error {
	if !hub.Reserved(topic) {
		return nil
	}
	return &apiError{Status: http.StatusForbidden, Field: "topic", Msg: fmt.Sprintf("topic %q is reserved for the hub", topic)}
}

// readBody reads the whole body within the size limit and the read
// timeout, refusing NUL bytes and invalid UTF-8 by name. The body is read
// into a buffer lent by buffers: the caller gives it back with putBuffer
// once nothing refers to its bytes (what is built from them copies them).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (*[]byte, error) {
	buf := buffers.Get().(*[]byte)
	err := s.readWithin(w, func() (err error) {
		*buf, err = readAll((*buf)[:0], http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		return err
	})
	if err != nil {
		putBuffer(buf)
		var tooBig *http.MaxBytesError
		var api *apiError
		switch {
		case errors.As(err, &api):
			return nil, err
		case errors.As(err, &tooBig):
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Field: "body",
				Msg: fmt.Sprintf("body: larger than the limit of %d bytes", tooBig.Limit), Err: err}
		}
		return nil, &apiError{Status: http.StatusBadRequest, Field: "body", Msg: "body: " + err.Error(), Err: err}
	}
	if i := bytes.IndexByte(*buf, 0); i >= 0 {
		putBuffer(buf)
		return nil, &apiError{Status: http.StatusBadRequest, Field: "body", Msg: fmt.Sprintf("body: NUL byte at offset %d", i)}
	}
	return buf, nil
}

// readAll appends what r has to dst until r ends, growing dst only when it
// is full: io.ReadAll, into a buffer that can be used again.
func readAll(dst []byte, r io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// readWithin runs read, which reads the request's body, with the
// connection's read deadline ReadTimeout from now, so that a client that
// trickles its body cannot hold a connection and a goroutine for longer:
// past it, read's error becomes a 408 naming read-timeout. The deadline is
// lifted after a read that succeeds; after one that fails it stays, so that
// net/http, discarding what is left of the body, cannot wait either.
func (s *Server) readWithin(w http.ResponseWriter, read func() error) error {
	rc := http.NewResponseController(w)
	// A writer without deadlines (ErrNotSupported) leaves the body to the
	// http.Server's own timeouts; there is nothing better to do.
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	if err := read(); err != nil {
		var ne net.Error
		if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return &apiError{Status: http.StatusRequestTimeout, Field: "body", Err: err,
				Msg: fmt.Sprintf("body: not received in full within the read-timeout of %v", s.cfg.ReadTimeout)}
		}
		return err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return nil
}

// option returns the Datastar-<Name> header, or else the query parameter.
func option(r *http.Request, header, query string) string {
	if v := r.Header.Get(header); v != "" || r.URL.RawQuery == "" {
		return v // most publishes have no query to parse
	}
	return r.URL.Query().Get(query)
}

func boolOption(r *http.Request, header, query string) (bool, error) {
	v := option(r, header, query)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badField(query, fmt.Errorf("%q is not true or false", v))
	}
	return b, nil
}

// eventFromRequest reads a single publish's event from its body, its
// Content-Type and its options; retry is its reconnection delay (see
// retryOption).
func (s *Server) eventFromRequest(w http.ResponseWriter, r *http.Request, retry time.Duration) (sse.Eventer, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Msg: "Content-Type: missing (want text/html, application/json or text/javascript)"}
	}
	mt := ct // the usual spellings, without parameters, need no parsing
	if !publishable(mt) {
		var params map[string]string
		var err error
		mt, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return nil, &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type", Msg: fmt.Sprintf("Content-Type: %q: %v", ct, err)}
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type", Msg: fmt.Sprintf("Content-Type: charset %q (want utf-8)", cs)}
		}
	}
	if !publishable(mt) {
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Msg: fmt.Sprintf("Content-Type: %q (want text/html, application/json or text/javascript)", mt)}
	}
	buf, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	defer putBuffer(buf) // every event below copies what it takes of the body
	body := *buf

	switch mt {
	case "text/html":
		mode, err := sse.ParseMode(option(r, "Datastar-Mode", "mode"))
		if err != nil {
			return nil, badField("mode", err)
		}
		ns, err := sse.ParseNamespace(option(r, "Datastar-Namespace", "namespace"))
		if err != nil {
			return nil, badField("namespace", err)
		}
		vt, err := boolOption(r, "Datastar-Use-View-Transition", "useViewTransition")
		if err != nil {
			return nil, err
		}
		p := sse.PatchElements{Elements: string(body), Selector: option(r, "Datastar-Selector", "selector"),
			Mode: mode, Namespace: ns, UseViewTransition: vt, Retry: retry}
		return s.checked(p, "elements")
	case "application/json":
		only, err := boolOption(r, "Datastar-Only-If-Missing", "onlyIfMissing")
		if err != nil {
			return nil, err
		}
		return s.checked(sse.PatchSignals{Signals: body, OnlyIfMissing: only, Retry: retry}, "signals")
	default: // JavaScript
		var attrs sse.JSONAttrs
		if v := option(r, "Datastar-Script-Attributes", "attributes"); v != "" {
			if err := json.Unmarshal([]byte(v), &attrs); err != nil {
				return nil, badField("attributes", err)
			}
		}
		keep, err := boolOption(r, "Datastar-Keep-Script", "keepScript")
		if err != nil {
			return nil, err
		}
		return s.checked(sse.ExecuteScript{Script: string(body), Attributes: attrs, KeepScript: keep, Retry: retry}, "script")
	}
}

// publishable reports whether a single publish may have the media type mt.
func publishable(mt string) bool {
	switch mt {
	case "text/html", "application/json", "text/javascript", "application/javascript":
		return true
	}
	return false
}

// checked validates ev now (building it validates it), so that a bad
// publish is reported with the option it is about before it reaches the
// hub, and refuses it when its encoding is too large (see
// checkEncodedSize). It returns the event ev built, so that the hub does
// not build it again.
func (s *Server) checked(ev sse.Eventer, field string) (sse.Eventer, error) {
	e, err := ev.Event()
	if err != nil {
		return nil, badField(fieldOf(err, field), err)
	}
	if err := s.checkEncodedSize("event", e.EncodedLen()); err != nil {
		return nil, err
	}
	return e, nil
}

// fieldOf names the option an encoder error is about, else def.
func fieldOf(err error, def string) string {
	var oe *sse.OptionError
	if errors.As(err, &oe) {
		return oe.Option
	}
	return def
}

// batchRequest is the body of POST /publish.
type batchRequest struct {
	Topics  []string        `json:"topics"`
	Events  []sse.JSONEvent `json:"events"`
	Private bool            `json:"private"` // only for subscribers whose token grants a topic
	Retain  bool            `json:"retain"`  // keep every event in the topics' retained state
	// RetryDuration is the retryDuration of every event that sets none of
	// its own, in milliseconds.
	RetryDuration int64 `json:"retryDuration"`
}

// handleBatch publishes several events to several topics atomically and in
// order. It counts against the publish rate once per event.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	p, err := s.admitPublisher(r, 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, r, &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Msg: fmt.Sprintf("Content-Type: %q (want application/json)", r.Header.Get("Content-Type"))})
		return
	}
	buf, err := s.readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer putBuffer(buf) // decoding copies what it keeps of the body
	body := *buf
	var req batchRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, r, badField("body", fmt.Errorf("invalid JSON: %w", err)))
		return
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		writeError(w, r, badField("body", fmt.Errorf("data after the JSON object at offset %d", len(body)-len(rest))))
		return
	}
	if len(req.Topics) == 0 {
		writeError(w, r, badField("topics", errors.New("empty")))
		return
	}
	if len(req.Events) == 0 {
		writeError(w, r, badField("events", errors.New("empty")))
		return
	}
	if n := len(req.Events); n > s.cfg.MaxBatchEvents {
		writeError(w, r, &apiError{Status: http.StatusRequestEntityTooLarge, Field: "events",
			Msg: fmt.Sprintf("events: %d events, more than the limit of %d (max-batch-events)", n, s.cfg.MaxBatchEvents)})
		return
	}
	if err := authorizePublish(p, req.Topics, func(i int) string { return fmt.Sprintf("topics[%d]", i) }); err != nil {
		writeError(w, r, err)
		return
	}
	private, err := s.privateOption(r, req.Private)
	if err != nil {
		writeError(w, r, err)
		return
	}
	retain, err := retainOption(r, req.Retain)
	if err != nil {
		writeError(w, r, err)
		return
	}
	key, err := idempotencyKey(r, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	retry, err := retryOption(r, req.RetryDuration)
	if err != nil {
		writeError(w, r, err)
		return
	}
	events := make([]sse.Eventer, len(req.Events))
	total := 0 // encoded bytes of the events (see checkEncodedSize)
	for i := range req.Events {
		if req.Events[i].RetryDuration == 0 {
			req.Events[i].RetryDuration = retry.Milliseconds()
		}
		e, err := batchEvent(&req.Events[i], fmt.Sprintf("events[%d]", i))
		if err != nil {
			writeError(w, r, err)
			return
		}
		events[i] = e
		total += e.EncodedLen()
	}
	if err := s.checkEncodedSize("events", total); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.rates.allow(p.key, len(events), time.Now()); err != nil {
		writeError(w, r, err)
		return
	}
	s.publish(w, r, req.Topics, hub.PublishOptions{Private: private, IdempotencyKey: key, Retain: retain}, events...)
}

// batchEvent checks one event of a batch, whose fields are named after
// field ("events[2]"): its options within MaxOptionBytes, its retry within
// MaxRetryDuration, and what the encoder checks; it returns the event built.
func batchEvent(j *sse.JSONEvent, field string) (sse.Event, error) {
	attrs := 0
	for _, a := range j.Attributes {
		attrs += len(a.Name) + len(a.Value)
	}
	for _, o := range []struct {
		name string
		n    int
	}{{"type", len(j.Type)}, {"selector", len(j.Selector)}, {"mode", len(j.Mode)}, {"namespace", len(j.Namespace)},
		{"eventId", len(j.EventID)}, {"attributes", attrs}} {
		if err := checkOptionSize(field+"."+o.name, o.n); err != nil {
			return sse.Event{}, err
		}
	}
	if err := checkRetry(field+".retryDuration", j.RetryDuration); err != nil {
		return sse.Event{}, err
	}
	ev, err := j.Eventer()
	var e sse.Event
	if err == nil {
		e, err = ev.Event() // building it validates it
	}
	if err != nil {
		return sse.Event{}, badField(field+"."+fieldOf(err, "type"), err)
	}
	return e, nil // built once: the size check and the hub take it as it is
}
