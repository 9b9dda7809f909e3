package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// checkNewID fails unless id is a UUIDv7 that hubd made.
func checkNewID(t testing.TB, id string) {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || u.String() != id {
		t.Fatalf("request ID %q (%v), want a new UUIDv7", id, err)
	}
}

// TestRequestID checks that every answer, error or stream, carries the
// request's ID in X-Request-ID and in the JSON error: the client's own if
// it is valid, a new UUIDv7 otherwise; an invalid one is never echoed.
func TestRequestID(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	long := strings.Repeat("a", 128)
	ids := []struct {
		name string
		sent []string // X-Request-ID values sent
		keep bool     // the first value is echoed
	}{
		{"valid", []string{"req-42_ABC.x:y/z=+"}, true},
		{"128 bytes", []string{long}, true},
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"129 bytes", []string{long + "a"}, false},
		{"space", []string{"a b"}, false},
		{"tab", []string{"a\tb"}, false},
		{"not ASCII", []string{"réq"}, false},
		{"two values", []string{"one", "two"}, false},
	}
	answers := []struct {
		name, method, path, contentType string
		status                          int
	}{
		{"no such endpoint", http.MethodGet, "/nope", "", http.StatusNotFound},
		{"stream without topic", http.MethodGet, "/subscribe", "", http.StatusBadRequest},
		{"publish of an unknown kind", http.MethodPost, "/topics/a", "text/plain", http.StatusUnsupportedMediaType},
	}
	for _, in := range ids {
		for _, a := range answers {
			t.Run(in.name+"/"+a.name, func(t *testing.T) {
				t.Parallel()
				req, err := http.NewRequest(a.method, srv.URL+a.path, strings.NewReader("x"))
				if err != nil {
					t.Fatal(err)
				}
				if a.contentType != "" {
					req.Header.Set("Content-Type", a.contentType)
				}
				req.Header["X-Request-Id"] = in.sent
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct {
					Error     string `json:"error"`
					RequestID string `json:"request_id"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != a.status {
					t.Fatalf("%s (%v), want %d with a JSON error", resp.Status, err, a.status)
				}
				got := resp.Header.Get("X-Request-ID")
				if body.RequestID != got {
					t.Errorf("error body has request_id %q, header %q", body.RequestID, got)
				}
				if in.keep {
					if got != in.sent[0] {
						t.Errorf("request ID %q, want the client's %q", got, in.sent[0])
					}
					return
				}
				checkNewID(t, got)
			})
		}
	}
}

// TestStreamRequestID checks that streams, hijacked (HTTP/1.1) or not
// (HTTP/2), and refused ones carry the request ID too.
func TestStreamRequestID(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("HTTP/2 %v", h2), func(t *testing.T) {
			t.Parallel()
			newSrv := newServer
			if h2 {
				newSrv = newH2Server
			}
			srv, _ := newSrv(t, hub.Config{}, web.Config{MaxStreams: 1})
			c, err := trySubscribeWith(context.Background(), srv, "/topics/a", "", http.Header{"X-Request-Id": {"mine-1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.resp.Header.Get("X-Request-ID"); got != "mine-1" {
				t.Errorf("stream: request ID %q, want mine-1", got)
			}
			refused := getWith(t, srv, "/topics/a", http.Header{"Datastar-Request": {"true"}})
			if refused.StatusCode != http.StatusOK {
				t.Fatalf("refused stream: %s", refused.Status)
			}
			checkNewID(t, refused.Header.Get("X-Request-ID"))
		})
	}
}

// logBuffer collects a JSON handler's lines; handlers may write from
// several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the logged records with message msg.
func (l *logBuffer) records(t testing.TB, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	s := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for s.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(s.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q: %v", s.Text(), err)
		}
		if rec[slog.MessageKey] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func newLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestRequestLogCarriesID checks that the log line of a request carries
// its request ID, the client's or the one hubd made.
func TestRequestLogCarriesID(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	srv, _ := newServer(t, hub.Config{}, web.Config{Logger: newLogger(&logs)})
	sent := map[string]bool{}
	for _, id := range []string{"log-me-1", ""} {
		status, res, err := tryPost(srv, "/topics/a", "text/html", `<p id="a">a</p>`, "X-Request-ID", id)
		if err != nil || status != http.StatusOK {
			t.Fatalf("publish: %d %v %s", status, err, res.Error)
		}
	}
	// The response to the second publish is gone; its ID is the one in
	// the log that is a UUIDv7.
	for _, rec := range logs.records(t, "request") {
		id, _ := rec["request_id"].(string)
		sent[id] = true
		if id != "log-me-1" {
			checkNewID(t, id)
		}
	}
	if len(sent) != 2 || !sent["log-me-1"] {
		t.Fatalf("request log lines carry the IDs %v, want log-me-1 and a new one", sent)
	}
}

// TestStreamLogsCarryIDs checks that a stream's log lines carry its
// request ID and a stream ID that tells apart streams with one request ID.
func TestStreamLogsCarryIDs(t *testing.T) {
	t.Parallel()
	t.Run("aborted", func(t *testing.T) {
		t.Parallel()
		for _, h2 := range []bool{false, true} {
			var logs logBuffer
			newSrv := newServer
			if h2 {
				newSrv = newH2Server
			}
			srv, h := newSrv(t, hub.Config{}, web.Config{Logger: newLogger(&logs)})
			var streams []*sseClient
			for range 2 {
				c, err := trySubscribeWith(context.Background(), srv, "/topics/a", "", http.Header{"X-Request-Id": {"same"}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.next(); err != nil {
					t.Fatal(err)
				}
				streams = append(streams, c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			for _, c := range streams { // an abort is logged before the cut
				if _, err := c.next(); err == nil {
					t.Fatal("stream still open after shutdown")
				}
			}
			recs := logs.records(t, "subscriber aborted")
			if len(recs) != 2 {
				t.Fatalf("HTTP/2 %v: %d abort lines, want 2", h2, len(recs))
			}
			a, b := recs[0]["stream_id"], recs[1]["stream_id"]
			for _, rec := range recs {
				if rec["request_id"] != "same" || rec["stream_id"] == nil || a == b {
					t.Errorf("HTTP/2 %v: abort line %v, want request_id same and a stream_id of its own", h2, rec)
				}
			}
		}
	})
	t.Run("dropped", func(t *testing.T) {
		t.Parallel()
		var logs logBuffer
		srv, h := newServer(t, hub.Config{Heartbeat: 20 * time.Millisecond}, web.Config{Logger: newLogger(&logs)})
		c, err := trySubscribeWith(context.Background(), srv, "/topics/a", "", http.Header{"X-Request-Id": {"gone-1"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.next(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		// A hijacked stream notices the departure at its next write, a
		// heartbeat, and logs it before it leaves the hub.
		waitFor(t, func() bool { return h.Stats().Clients == 0 })
		recs := logs.records(t, "subscriber dropped")
		if len(recs) != 1 || recs[0]["request_id"] != "gone-1" || recs[0]["stream_id"] == nil {
			t.Fatalf("drop lines %v, want one with request_id gone-1 and a stream_id", recs)
		}
	})
}
