package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// event is one server-sent event as a client parses it; frames without
// data (cursor frames, comments) are reported too, so that tests see IDs.
type event struct {
	Type  string
	ID    string // the id field of this event, if it had one
	Retry string // the retry field of this event, if it had one
	Data  string
}

// sseClient reads events from a real HTTP response, following the
// event-stream parsing rules of the HTML standard.
type sseClient struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
	lastID string // the last id seen, as a browser keeps it
}

// subscribe opens a stream at path with the given Last-Event-ID ("" for
// none) and checks that it starts as an event stream.
func subscribe(t testing.TB, srv *httptest.Server, path, lastID string) *sseClient {
	t.Helper()
	c, err := trySubscribe(srv, path, lastID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func trySubscribe(srv *httptest.Server, path, lastID string) (*sseClient, error) {
	return trySubscribeCtx(context.Background(), srv, path, lastID)
}

// trySubscribeCtx opens a stream that ends when ctx does.
func trySubscribeCtx(ctx context.Context, srv *httptest.Server, path, lastID string) (*sseClient, error) {
	return trySubscribeWith(ctx, srv, path, lastID, nil)
}

// trySubscribeWith opens a stream with extra request headers.
func trySubscribeWith(ctx context.Context, srv *httptest.Server, path, lastID string, header http.Header) (*sseClient, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Datastar-Request", "true")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("subscribe %s: %s %q: %s", path, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	return &sseClient{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel, lastID: lastID}, nil
}

// Close cancels the request and releases the connection.
func (c *sseClient) Close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next dispatched frame: an event, or a frame that only
// set the ID. Comments are skipped.
func (c *sseClient) next() (event, error) {
	var ev event
	var data []string
	seen := false
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if !seen {
				continue
			}
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "id":
			ev.ID = value
			c.lastID = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.Retry = value
		}
	}
}

// nextEvent skips ID-only frames and returns the next real event.
func (c *sseClient) nextEvent() (event, error) {
	for {
		ev, err := c.next()
		if err != nil || ev.Type != "" {
			return ev, err
		}
	}
}

// seqOf returns the sequence number of a hub event ID ("epoch-seq").
func seqOf(t testing.TB, id string) uint64 {
	t.Helper()
	_, n, ok := strings.Cut(id, "-")
	if !ok {
		t.Fatalf("event ID %q is not epoch-seq", id)
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		t.Fatalf("event ID %q: %v", id, err)
	}
	return seq
}

// newServer starts a hub and its HTTP surface on a real loopback server.
func newServer(t testing.TB, hc hub.Config, wc web.Config) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h, s := newAPI(t, hc, wc)
	return newTestServer(t, s, h), h
}

// newAPI makes a hub and its HTTP surface, closed at the end of the test.
func newAPI(t testing.TB, hc hub.Config, wc web.Config) (*hub.Hub, *web.Server) {
	t.Helper()
	h, err := hub.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(h, wc)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the test server's cleanup, so it runs after it:
	// the hang-up watcher and the log summaries stop once nothing serves.
	t.Cleanup(func() { s.Close() })
	return h, s
}

// newTestServer serves handler on loopback and shuts the hub and server
// down at the end of the test.
func newTestServer(t testing.TB, handler http.Handler, h *hub.Hub) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	stopAtEnd(t, h, srv)
	srv.Client().Transport.(*http.Transport).MaxIdleConnsPerHost = 100
	return srv
}

// stopAtEnd shuts h down, which aborts its streams, and then closes srv,
// at the end of the test.
func stopAtEnd(t testing.TB, h *hub.Hub, srv *httptest.Server) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
}

// publishResult is the JSON answer to a publish.
type publishResult struct {
	ID          string   `json:"id"`
	IDs         []string `json:"ids"`
	Topics      []string `json:"topics"`
	Subscribers int      `json:"subscribers"`
	Error       string   `json:"error"`
	Field       string   `json:"field"`
}

// post publishes body with contentType to path and decodes the answer.
func post(t testing.TB, srv *httptest.Server, path, contentType, body string, headers ...string) (int, publishResult) {
	t.Helper()
	status, res, err := tryPost(srv, path, contentType, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return status, res
}

func tryPost(srv *httptest.Server, path, contentType, body string, headers ...string) (int, publishResult, error) {
	var res publishResult
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, res, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0, res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return resp.StatusCode, res, fmt.Errorf("decode answer (%s): %w", resp.Status, err)
	}
	return resp.StatusCode, res, nil
}

// publishHTML publishes one patch-elements event and returns its ID.
func publishHTML(t testing.TB, srv *httptest.Server, topic, html string) string {
	t.Helper()
	status, res := post(t, srv, "/topics/"+topic, "text/html", html)
	if status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", topic, status, res.Error)
	}
	return res.ID
}

func query(v url.Values) string { return "?" + v.Encode() }
