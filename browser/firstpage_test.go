package browser_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// readmePage returns the index.html of the README's "Your first page", as
// printed there.
func readmePage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- doc: file index.html -->\n```html\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("the README has no index.html block")
	}
	return string(m[1])
}

// TestReadmeFirstPage opens the README's first page in Chromium as a
// newcomer does: served from another origin than the hub, which allows it
// in cors-origins, as the README says. The page then shows a published
// headline and the clock that examples/publisher publishes. Its client is
// loaded from the hub's /datastar.js instead of the CDN (the tests run
// without internet), which is itself a cross-origin module script.
func TestReadmeFirstPage(t *testing.T) {
	page := readmePage(t)
	const cdn = "https://cdn.jsdelivr.net/gh/starfederation/datastar@1.0.2/bundles/datastar.js"
	if !strings.Contains(page, cdn) || !strings.Contains(page, "http://127.0.0.1:8080/") {
		t.Fatalf("the README's page no longer loads %s or follows the hub on 127.0.0.1:8080:\n%s", cdn, page)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageOrigin := "http://" + ln.Addr().String()
	hubSrv, _, h := newClientServer(t, web.Config{AllowedOrigins: []string{pageOrigin}}, nil)
	page = strings.ReplaceAll(page, cdn, hubSrv.URL+"/datastar.js")
	page = strings.ReplaceAll(page, "http://127.0.0.1:8080", hubSrv.URL)
	pageSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
		case "/favicon.ico": // the page names none; Chromium asks anyway
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	pageSrv.Listener.Close()
	pageSrv.Listener = ln
	pageSrv.Start()
	t.Cleanup(pageSrv.Close)

	ctx := newTab(t, newBrowser(t))
	problems := watchConsole(t, ctx)
	open(t, ctx, pageOrigin+"/")
	waitSubscribers(t, h, "news", 1)
	publish(t, hubSrv, "news", "text/html", `<h1 id="headline">Rates cut</h1>`)
	waitFor(t, ctx, 5*time.Second, `document.querySelector("#headline").textContent === "Rates cut"`)
	// What examples/publisher sends every second.
	publish(t, hubSrv, "clock", "text/html", `<time datetime="2026-12-08T01:00:00Z">01:00:00</time>`, "Datastar-Selector", "#clock", "Datastar-Mode", "inner")
	waitFor(t, ctx, 5*time.Second, `document.querySelector("#clock").textContent === "01:00:00"`)
	noProblems(t, ctx, problems)
}
