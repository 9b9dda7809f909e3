package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{AllowedOrigins: []string{"https://app.example"}})
	do := func(method, path, origin string, headers ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`<p id="c">c</p>`))
		req.Header.Set("Origin", origin)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The preflight the Datastar client's @get triggers.
	pre := do(http.MethodOptions, "/topics/news", "https://app.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "datastar-request, last-event-id")
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Datastar-Request") ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") ||
		pre.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight from an allowed origin: %d %v", pre.StatusCode, pre.Header)
	}
	bad := do(http.MethodOptions, "/topics/news", "https://evil.example", "Access-Control-Request-Method", "GET")
	if bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin was allowed: %v", bad.Header)
	}
	pub := do(http.MethodPost, "/topics/news", "https://app.example", "Content-Type", "text/html")
	if pub.StatusCode != http.StatusOK || pub.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(pub.Header.Get("Vary"), "Origin") {
		t.Fatalf("publish from an allowed origin: %d %v", pub.StatusCode, pub.Header)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/topics/news", nil)
	req.Header.Set("Origin", "https://app.example")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("stream from an allowed origin: %v", resp.Header)
	}
}

func TestCORSOffByDefault(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/topics/news", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS allowed with no origins configured: %v", resp.Header)
	}
}
