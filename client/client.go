// Package client publishes to and subscribes from a hubd hub over HTTP.
//
// A Client retries what can safely be retried: a publish that got 429,
// 503 or no answer at all is sent again, with backoff and honouring
// Retry-After, and always with the Idempotency-Key of its first try, so
// that a retry never publishes twice (within the hub's idempotency
// window). Subscribe returns an iterator over a stream's events that
// reconnects by itself after a cut and resumes with Last-Event-ID.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hubd-dev/hubd/sse"
)

// Defaults of the retry options.
const (
	DefaultRetries     = 4
	DefaultBackoffBase = 200 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
)

// Defaults of the stream limits (see WithStreamLimits): twice and eight
// times a hub's default max-body-bytes (1 MiB), which bounds every event a
// hub sends, with its field names and options.
const (
	DefaultMaxLineBytes  = 2 << 20
	DefaultMaxEventBytes = 8 << 20
)

// ErrUnsupportedEvent is wrapped by the error for an event Publish cannot
// send: the hub's batch endpoint carries patch-elements, patch-signals and
// execute-script events only.
var ErrUnsupportedEvent = errors.New("client: unsupported event")

// Client talks to one hub. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	token       string
	hc          *http.Client
	retries     int
	backoffBase time.Duration
	backoffMax  time.Duration
	maxLine     int // see WithStreamLimits
	maxEvent    int
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as a bearer token (an API key or a JWT) with
// every request.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends requests with hc instead of http.DefaultClient. Its
// Timeout, if any, also ends streams: leave it zero for Subscribe.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithRetries sets how many times a publish is retried after 429, 503 or
// a network error (0: never), and the backoff between tries: base,
// doubling up to max, unless the hub's Retry-After asks for longer. The
// same backoff spaces Subscribe's reconnections, which never give up.
func WithRetries(n int, base, max time.Duration) Option {
	return func(c *Client) { c.retries, c.backoffBase, c.backoffMax = n, base, max }
}

// WithStreamLimits bounds what Subscribe reads of a stream, so that a
// hostile or broken hub (or whoever sits between a plain-HTTP hub and the
// client) cannot make it hold an endless line or event in memory: line
// bytes for one line, event bytes for the lines of one event together,
// field names included (DefaultMaxLineBytes and DefaultMaxEventBytes
// unless set). Past either, Subscribe yields an error wrapping
// ErrLineTooLong or ErrEventTooLarge and stops. Raise them for a hub whose
// max-body-bytes is higher than its default.
func WithStreamLimits(line, event int) Option {
	return func(c *Client) { c.maxLine, c.maxEvent = line, event }
}

// New returns a client of the hub at baseURL (such as
// "http://127.0.0.1:8080"; a path prefix is kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, hc: http.DefaultClient, retries: DefaultRetries, backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax,
		maxLine: DefaultMaxLineBytes, maxEvent: DefaultMaxEventBytes}
	for _, o := range opts {
		o(c)
	}
	if c.retries < 0 || c.backoffBase <= 0 || c.backoffMax < c.backoffBase {
		return nil, fmt.Errorf("client: retries %d, backoff %v to %v: want retries >= 0 and 0 < base <= max", c.retries, c.backoffBase, c.backoffMax)
	}
	if c.maxLine <= 0 || c.maxEvent <= 0 {
		return nil, fmt.Errorf("client: stream limits of %d bytes a line and %d an event: want both above zero", c.maxLine, c.maxEvent)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	return c, nil
}

// Error is a hub's answer other than success, with what its JSON body
// says: the message, the request field at fault (if one is) and the
// request ID to find it in the hub's logs.
type Error struct {
	Status    int
	Message   string
	Field     string
	RequestID string

	retryAfter time.Duration // the answer's Retry-After
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hubd: %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Result is what a publish did: the event IDs in order (ID is the last),
// the topics, and how many subscribers the first event was offered to on
// the node that answered (in a cluster, other nodes' subscribers receive it
// too but are not counted).
type Result struct {
	ID          string   `json:"id"`
	IDs         []string `json:"ids"`
	Topics      []string `json:"topics"`
	Subscribers int      `json:"subscribers"`
}

// PublishOptions are the options of PublishWith.
type PublishOptions struct {
	// Private events reach only subscribers granted private access.
	Private bool
	// Retain asks the hub to keep the events as the topics' state for
	// subscribers that come later.
	Retain bool
	// IdempotencyKey is sent as the Idempotency-Key header; empty makes a
	// fresh one (a UUIDv7). Every try of one publish sends the same key.
	IdempotencyKey string
}

// Publish publishes events, in order and atomically, to every topic, and
// returns what the hub answered. It retries as WithRetries says; an answer
// the hub refused is an *Error.
func (c *Client) Publish(ctx context.Context, topics []string, events ...sse.Eventer) (Result, error) {
	return c.PublishWith(ctx, topics, PublishOptions{}, events...)
}

// PublishPrivate publishes as Publish does, for subscribers granted
// private access only.
func (c *Client) PublishPrivate(ctx context.Context, topics []string, events ...sse.Eventer) (Result, error) {
	return c.PublishWith(ctx, topics, PublishOptions{Private: true}, events...)
}

// batch is the body of POST /publish.
type batch struct {
	Topics  []string        `json:"topics"`
	Events  []sse.JSONEvent `json:"events"`
	Private bool            `json:"private,omitempty"`
	Retain  bool            `json:"retain,omitempty"`
}

// PublishWith publishes as Publish does, with options. It always sends a
// batch (POST /publish), which carries every option of every event kind.
func (c *Client) PublishWith(ctx context.Context, topics []string, opts PublishOptions, events ...sse.Eventer) (Result, error) {
	b := batch{Topics: topics, Events: make([]sse.JSONEvent, len(events)), Private: opts.Private, Retain: opts.Retain}
	for i, ev := range events {
		j, err := toJSON(ev)
		if err != nil {
			return Result{}, fmt.Errorf("publish: event %d: %w", i, err)
		}
		b.Events[i] = j
	}
	body, err := json.Marshal(b)
	if err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	key := opts.IdempotencyKey
	if key == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Result{}, fmt.Errorf("publish: idempotency key: %w", err)
		}
		key = id.String()
	}
	var res Result
	err = c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("/publish"), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		if opts.Retain {
			req.Header.Set("Hubd-Retain", "true")
		}
		return req, nil
	}, &res)
	if err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	return res, nil
}

// toJSON describes ev as the batch endpoint reads it.
func toJSON(ev sse.Eventer) (sse.JSONEvent, error) {
	if _, err := ev.Event(); err != nil {
		return sse.JSONEvent{}, err
	}
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	switch e := ev.(type) {
	case sse.PatchElements:
		return sse.JSONEvent{Type: "patchElements", Elements: e.Elements, Selector: e.Selector, Mode: string(e.Mode),
			Namespace: string(e.Namespace), UseViewTransition: e.UseViewTransition, EventID: e.ID, RetryDuration: ms(e.Retry)}, nil
	case *sse.PatchElements:
		return toJSON(*e)
	case sse.PatchSignals:
		raw := string(e.Signals)
		return sse.JSONEvent{Type: "patchSignals", SignalsRaw: &raw, OnlyIfMissing: e.OnlyIfMissing, EventID: e.ID, RetryDuration: ms(e.Retry)}, nil
	case *sse.PatchSignals:
		return toJSON(*e)
	case sse.ExecuteScript:
		j := sse.JSONEvent{Type: "executeScript", Script: e.Script, Attributes: e.Attributes, EventID: e.ID, RetryDuration: ms(e.Retry)}
		if e.KeepScript {
			no := false
			j.AutoRemove = &no
		}
		return j, nil
	case *sse.ExecuteScript:
		return toJSON(*e)
	}
	return sse.JSONEvent{}, fmt.Errorf("%w: %T (want sse.PatchElements, sse.PatchSignals or sse.ExecuteScript)", ErrUnsupportedEvent, ev)
}

func (c *Client) endpoint(path string) string {
	u := *c.base
	u.Path += path
	return u.String()
}

// do sends the request newReq makes, retrying as configured, and decodes
// a successful JSON answer into out.
func (c *Client) do(ctx context.Context, newReq func() (*http.Request, error), out any) error {
	for try := 0; ; try++ {
		req, err := newReq()
		if err != nil {
			return err
		}
		c.authorize(req)
		resp, err := c.hc.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			var body []byte
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				if err := json.Unmarshal(body, out); err != nil {
					return fmt.Errorf("decode the answer: %w", err)
				}
				return nil
			}
			// The answer was cut: the request may have been done, and is
			// retried as after any network error.
			err = fmt.Errorf("read the answer: %w", err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		default:
			err = answerError(resp)
			wait = retryAfter(resp.Header.Get("Retry-After"))
			if !retryable(resp.StatusCode) {
				return err
			}
		}
		if try >= c.retries {
			return err
		}
		if err := sleep(ctx, max(wait, c.backoff(try))); err != nil {
			return err
		}
	}
}

func (c *Client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// retryable says whether an answer with status may be retried.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// answerError reads an error answer into an *Error and closes its body.
func answerError(resp *http.Response) error {
	defer resp.Body.Close()
	var body struct {
		Error     string `json:"error"`
		Field     string `json:"field"`
		RequestID string `json:"request_id"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Message, e.Field = body.Error, body.Field
		if body.RequestID != "" {
			e.RequestID = body.RequestID
		}
	} else {
		e.Message = strings.TrimSpace(string(raw))
	}
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// backoff returns the wait before retry try+1: the base doubled try times,
// at most the maximum, with up to a fifth taken off at random so that
// many clients cut at once do not come back at once.
func (c *Client) backoff(try int) time.Duration {
	d := c.backoffBase
	for range try {
		d *= 2
		if d >= c.backoffMax {
			d = c.backoffMax
			break
		}
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
