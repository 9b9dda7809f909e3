package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// logRecords keeps every record logged through it, at every level.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }

func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// atLeast returns the records of level or above, as "LEVEL message".
func (l *logRecords) atLeast(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level >= level {
			out = append(out, r.Level.String()+" "+r.Message)
		}
	}
	return out
}

// TestClientGoneBeforeHeadersIsNoError checks that a stream whose client
// goes away before the response headers are sent (a stream reset at once,
// a tab closed) is logged as what it is, a client going away: nothing at
// Error or Warn. The stream's handler starts only once the server has
// seen the client go. Over HTTP/2 the flush of the headers then fails;
// over HTTP/1.1 it may still succeed (a socket takes bytes until the
// client's reset comes back), and the hang-up watcher drops the stream
// just after.
func TestClientGoneBeforeHeadersIsNoError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		http2 bool
	}{
		{"HTTP/1.1", false},
		{"HTTP/2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &logRecords{}
			h, s := newAPI(t, hub.Config{}, web.Config{Logger: slog.New(logs), MaxStreamsPerIP: 1})
			arrived, served := make(chan struct{}, 1), make(chan struct{}, 1)
			late := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/topics/late" {
					s.ServeHTTP(w, r)
					return
				}
				arrived <- struct{}{}
				<-r.Context().Done() // the client has gone
				defer func() { served <- struct{}{} }()
				s.ServeHTTP(w, r)
			})
			srv := httptest.NewUnstartedServer(late)
			srv.EnableHTTP2 = tc.http2
			srv.StartTLS()
			stopAtEnd(t, h, srv)

			ctx, cancel := context.WithCancel(context.Background())
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/topics/late", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "text/event-stream")
			failed := make(chan error, 1)
			go func() { // ends when the request fails, as cancel makes it
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				failed <- err
			}()
			<-arrived
			cancel()
			<-failed
			<-served

			if got := logs.atLeast(slog.LevelWarn); len(got) != 0 {
				t.Errorf("a client that went away was logged as %q, want Debug only", got)
			}
			// It leaves the hub, and its slot is free again.
			within(t, 5*time.Second, "the client leaves the hub", func() bool { return h.Stats().Clients == 0 })
			c := subscribe(t, srv, "/topics/next", "")
			if _, err := c.next(); err != nil {
				t.Fatalf("the next stream from the address: %v", err)
			}
		})
	}
}
