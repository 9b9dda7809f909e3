package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// newH2Server serves a hub's HTTP surface over TLS with HTTP/2 enabled and
// shuts both down at the end of the test.
func newH2Server(t testing.TB, hc hub.Config, wc web.Config) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h, s := newAPI(t, hc, wc)
	srv := httptest.NewUnstartedServer(s)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	stopAtEnd(t, h, srv)
	return srv, h
}

// getWith sends a GET with the given headers and returns the response,
// closed at the end of the test.
func getWith(t testing.TB, srv *httptest.Server, path string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var retryField = regexp.MustCompile(`(?m)^retry: (\d+)$`)

// TestRefusedStreams checks what a stream over a limit gets. A client that
// wants an event stream (the Datastar client, EventSource) gets a 200
// event stream with a retry field and a comment naming the reason, and
// then the connection is cut, because the Datastar client gives up after
// an error status but retries after a broken response. Other clients get
// the plain status with Retry-After and a JSON error. Once capacity frees,
// the next attempt streams.
func TestRefusedStreams(t *testing.T) {
	t.Parallel()
	datastar := http.Header{"Datastar-Request": {"true"}, "Accept": {"text/event-stream, text/html, application/json"}}
	eventSource := http.Header{"Accept": {"text/event-stream"}}
	plain := http.Header{"Accept": {"*/*"}}
	cases := []struct {
		name    string
		h2      bool
		cfg     web.Config
		header  http.Header
		status  int    // for a plain client
		reason  string // the metric label and the comment
		message string // in a plain client's JSON error
	}{
		{"max streams, datastar, HTTP/1.1", false, web.Config{MaxStreams: 1}, datastar, 0, "max-streams", ""},
		{"max streams, datastar, HTTP/2", true, web.Config{MaxStreams: 1}, datastar, 0, "max-streams", ""},
		{"max streams, event source, HTTP/1.1", false, web.Config{MaxStreams: 1}, eventSource, 0, "max-streams", ""},
		{"per address, datastar, HTTP/1.1", false, web.Config{MaxStreamsPerIP: 1}, datastar, 0, "max-streams-per-ip", ""},
		{"per address, datastar, HTTP/2", true, web.Config{MaxStreamsPerIP: 1}, datastar, 0, "max-streams-per-ip", ""},
		{"max streams, plain, HTTP/1.1", false, web.Config{MaxStreams: 1}, plain, http.StatusServiceUnavailable, "max-streams", "maximum of 1 streams"},
		{"max streams, plain, HTTP/2", true, web.Config{MaxStreams: 1}, plain, http.StatusServiceUnavailable, "max-streams", "maximum of 1 streams"},
		{"per address, plain, HTTP/1.1", false, web.Config{MaxStreamsPerIP: 1}, nil, http.StatusTooManyRequests, "max-streams-per-ip", "127.0.0.1 holds its maximum of 1 streams"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hc := hub.Config{Heartbeat: 20 * time.Millisecond} // notices the closed first stream soon
			var srv *httptest.Server
			var h *hub.Hub
			if tc.h2 {
				srv, h = newH2Server(t, hc, tc.cfg)
			} else {
				srv, h = newServer(t, hc, tc.cfg)
			}
			first := subscribe(t, srv, "/topics/a", "")
			if _, err := first.next(); err != nil {
				t.Fatal(err)
			}

			resp := getWith(t, srv, "/topics/b", tc.header)
			if tc.h2 != (resp.ProtoMajor == 2) {
				t.Fatalf("protocol %s", resp.Proto)
			}
			body, err := io.ReadAll(resp.Body)
			if tc.status != 0 {
				var e struct{ Error, RequestID string }
				if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != "5" || err != nil {
					t.Fatalf("plain client: %d, Retry-After %q, body %q (%v); want %d, Retry-After 5", resp.StatusCode, resp.Header.Get("Retry-After"), body, err, tc.status)
				}
				if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.message) {
					t.Fatalf("plain client: body %q (%v), want an error saying %q", body, err, tc.message)
				}
			} else {
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
					t.Fatalf("stream client: %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if err == nil {
					t.Fatalf("stream client: the response ended cleanly after %q; want it cut", body)
				}
				if !strings.Contains(string(body), ": refused: "+tc.reason+" reached\n") {
					t.Errorf("stream client: body %q has no comment naming %s", body, tc.reason)
				}
				m := retryField.FindStringSubmatch(string(body))
				if m == nil {
					t.Fatalf("stream client: body %q has no retry field", body)
				}
				// Retry-After would be 5 s; the field adds up to half again
				// of jitter, so that refused clients do not return in step.
				if ms, _ := strconv.Atoi(m[1]); ms < 5000 || ms >= 7500 {
					t.Errorf("stream client: retry %d ms, want 5000 to 7499", ms)
				}
			}
			if got := h.Stats().Clients; got != 1 {
				t.Errorf("after the refusal the hub has %d clients, want 1", got)
			}
			metric := `hubd_streams_refused_total{reason="` + tc.reason + `"} 1`
			if _, m, _ := fetch(t, srv, "/metrics"); !strings.Contains(m, metric) {
				t.Errorf("metrics lack %s", metric)
			}

			// Capacity frees: the first stream goes, and a later attempt
			// streams.
			first.Close()
			admitted(t, srv, "/topics/b")
		})
	}
}

// admitted tries to open a stream at path, as a client that keeps
// retrying a refusal would, until one is let in and gets its cursor frame;
// it returns that stream, open. A slot comes back only after its stream
// has ended, which a hijacked stream notices when its client hangs up (on
// Linux) or at its next write, so the first tries may be refused.
func admitted(t testing.TB, srv *httptest.Server, path string) *sseClient {
	t.Helper()
	var in *sseClient
	waitFor(t, func() bool {
		c, err := trySubscribe(srv, path, "")
		if err != nil {
			return false
		}
		if ev, err := c.next(); err != nil || ev.ID == "" { // a refusal has no id and is then cut
			c.Close()
			return false
		}
		in = c
		return true
	})
	t.Cleanup(in.Close)
	return in
}

// fetch fetches path and returns its status and body.
func fetch(t testing.TB, srv *httptest.Server, path string) (int, string, http.Header) {
	t.Helper()
	resp := getWith(t, srv, path, nil)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// TestRefusedWhileShuttingDown checks that a hub that is shutting down
// turns stream clients away in the same way as a full one, so that they
// come back (to this hub restarted, or to another behind the same load
// balancer) instead of stopping for good.
func TestRefusedWhileShuttingDown(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		header http.Header
		stream bool
	}{
		{"datastar", http.Header{"Datastar-Request": {"true"}}, true},
		{"plain", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := getWith(t, srv, "/topics/a", tc.header)
			body, err := io.ReadAll(resp.Body)
			if !tc.stream {
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || err != nil {
					t.Fatalf("plain client: %d, Retry-After %q, %q (%v); want 503, Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"), body, err)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || err == nil || !strings.Contains(string(body), ": refused: the hub is shutting down\n") {
				t.Fatalf("stream client: %d, %q (%v); want 200, a comment and a cut", resp.StatusCode, body, err)
			}
			m := retryField.FindStringSubmatch(string(body))
			if m == nil {
				t.Fatalf("no retry field in %q", body)
			}
			if ms, _ := strconv.Atoi(m[1]); ms < 1000 || ms >= 1500 {
				t.Fatalf("retry %d ms, want 1000 to 1499", ms)
			}
		})
	}
	if _, m, _ := fetch(t, srv, "/metrics"); !strings.Contains(m, `hubd_streams_refused_total{reason="shutting-down"} 2`) {
		t.Error(`metrics lack hubd_streams_refused_total{reason="shutting-down"} 2`)
	}
}

// TestRefusalLingers checks, on a fake clock, that a refused stream is
// cut only a while after its retry field. A browser that gets the data
// and the cut together may drop the data (the body's stream errors before
// the page reads it), and then retries after its own second instead of
// after the retry field; Chromium with Datastar 1.0.2 did so about every
// other time.
func TestRefusalLingers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, s := newAPI(t, hub.Config{}, web.Config{MaxStreams: 1})
		l := newPipeListener()
		srv := &http.Server{Handler: s}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		first, _ := l.dial(t, "a") // takes the only slot
		client, server := net.Pipe()
		t.Cleanup(func() { // inside the bubble, even after a failure
			client.Close()
			first.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				t.Error(err)
			}
			srv.Close()
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Error(err)
			}
		})

		l.conns <- server
		if _, err := io.WriteString(client, "GET /topics/b HTTP/1.1\r\nHost: localhost\r\nDatastar-Request: true\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(client), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("refused stream: %v %v", resp, err)
		}
		body := bufio.NewReader(resp.Body)
		var got strings.Builder
		for !strings.HasSuffix(got.String(), "\n\n") {
			line, err := body.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", got.String(), err)
			}
			got.WriteString(line)
		}
		if !retryField.MatchString(got.String()) {
			t.Fatalf("refusal %q has no retry field", got.String())
		}
		start := time.Now()
		if _, err := io.ReadAll(body); err == nil {
			t.Fatal("the refusal ended cleanly; want it cut")
		}
		if waited := time.Since(start); waited < 100*time.Millisecond || waited > time.Second {
			t.Fatalf("cut %v after the retry field, want 100 ms to 1 s", waited)
		}
	})
}
