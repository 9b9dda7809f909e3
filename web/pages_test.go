package web_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

func getBody(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestDatastarClientSource checks where the pages load Datastar from: the
// pinned CDN by default, a configured URL, or a local file that hubd
// serves itself.
func TestDatastarClientSource(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "datastar.js")
	if err := os.WriteFile(file, []byte("// a local Datastar build\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, client, wantSrc string
	}{
		{"default CDN", "", sse.DatastarCDN},
		{"configured URL", "https://cdn.example/ds.js", "https://cdn.example/ds.js"},
		{"local file", file, "/datastar.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newServer(t, hub.Config{}, web.Config{DatastarClient: tt.client})
			code, page, _ := getBody(t, srv.URL+"/")
			if code != 200 || !strings.Contains(page, `<script type="module" src="`+tt.wantSrc+`">`) {
				t.Fatalf("page (%d) does not load Datastar from %s", code, tt.wantSrc)
			}
			if !strings.Contains(page, `class="offline" data-show="false"`) {
				t.Fatal("page lacks the notice shown when the client does not load")
			}
			code, js, h := getBody(t, srv.URL+"/datastar.js")
			if tt.client == file {
				if code != 200 || js != "// a local Datastar build\n" || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
					t.Fatalf("/datastar.js: %d %q %v", code, js, h)
				}
			} else if code != 404 {
				t.Fatalf("/datastar.js served (%d) with no local file", code)
			}
		})
	}
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	if _, err := web.New(h, web.Config{DatastarClient: filepath.Join(t.TempDir(), "missing.js")}); err == nil || !strings.Contains(err.Error(), "datastar client") {
		t.Fatalf("missing client file: %v", err)
	}
}
