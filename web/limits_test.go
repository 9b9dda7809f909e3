package web_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// refusal opens a stream that must be refused, and returns its status,
// Retry-After and error text.
func refusal(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return resp.StatusCode, resp.Header.Get("Retry-After"), b.String()
}

func TestStreamLimits(t *testing.T) {
	t.Parallel()
	t.Run("whole server", func(t *testing.T) {
		t.Parallel()
		srv, h := newServer(t, hub.Config{Heartbeat: 20 * time.Millisecond}, web.Config{MaxStreams: 2})
		a := subscribe(t, srv, "/topics/a", "")
		subscribe(t, srv, "/topics/b", "")
		status, retry, body := refusal(t, srv.URL+"/topics/c")
		if status != http.StatusServiceUnavailable || retry == "" || !strings.Contains(body, "maximum of 2 streams") {
			t.Fatalf("third stream: %d, Retry-After %q, %s", status, retry, body)
		}
		// A slot comes back when a stream ends (noticed by the next heartbeat).
		a.Close()
		admitted(t, srv, "/topics/c")
		if got := h.Stats().Clients; got != 2 {
			t.Fatalf("%d clients, want 2", got)
		}
	})
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		srv, _ := newServer(t, hub.Config{}, web.Config{MaxStreamsPerIP: 1})
		subscribe(t, srv, "/topics/a", "")
		status, retry, body := refusal(t, srv.URL+"/topics/b")
		if status != http.StatusTooManyRequests || retry == "" || !strings.Contains(body, "127.0.0.1 holds its maximum of 1 streams") {
			t.Fatalf("second stream from one address: %d, Retry-After %q, %s", status, retry, body)
		}
		// Publishing is not a stream and is not limited by it.
		publishHTML(t, srv, "a", `<p id="x">x</p>`)
	})
}

// TestTrustedProxies checks which address counts as the client's for the
// per-address limit: X-Forwarded-For only from a trusted proxy, and then
// its right-most untrusted entry.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{MaxStreamsPerIP: 1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}})
	open := func(xff string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/topics/p", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		resp, err := srv.Client().Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			b := make([]byte, 256)
			n, _ := resp.Body.Read(b)
			return resp.StatusCode, string(b[:n])
		}
		return resp.StatusCode, ""
	}
	if code, _ := open("198.51.100.7"); code != 200 {
		t.Fatalf("first stream of 198.51.100.7: %d", code)
	}
	if code, body := open("203.0.113.9, 198.51.100.7, 10.1.2.3"); code != 429 || !strings.Contains(body, "198.51.100.7 holds") {
		t.Fatalf("second stream of 198.51.100.7 through two proxies: %d %s", code, body)
	}
	if code, _ := open("198.51.100.8"); code != 200 {
		t.Fatalf("first stream of another client: %d", code)
	}
}
