package web_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestClientScriptAnyOrigin checks that /datastar.js may be loaded by a
// page of any origin: a module script from another origin is fetched in
// CORS mode, and the browser refuses it without Access-Control-Allow-Origin.
// The file is public, so it is served to every origin, listed in
// cors-origins or not, and to pages opened from a file (origin null).
func TestClientScriptAnyOrigin(t *testing.T) {
	t.Parallel()
	js := filepath.Join(t.TempDir(), "datastar.js")
	if err := os.WriteFile(js, []byte("export const ok = 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		origins []string
		origin  string
	}{
		{"no cors-origins", nil, "http://localhost:3000"},
		{"origin not listed", []string{"https://app.example"}, "http://localhost:3000"},
		{"origin listed", []string{"http://localhost:3000"}, "http://localhost:3000"},
		{"page from a file", nil, "null"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, hub.Config{}, web.Config{DatastarClient: js, AllowedOrigins: tt.origins})
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/datastar.js", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", tt.origin)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "export const ok = 1;\n" {
				t.Fatalf("GET /datastar.js: %s %q", resp.Status, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Access-Control-Allow-Credentials %q with a wildcard origin, which browsers refuse", got)
			}
		})
	}
}
