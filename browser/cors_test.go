package browser_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// TestCrossOriginPage: a page served from one origin follows a topic of a
// hub on another origin (same host, other port) with the official client,
// whose Datastar-Request header makes Chromium send a CORS preflight
// first. Unless the hub's AllowedOrigins (cors-origins) lists the page's
// origin or "*", Chromium reports a CORS error and the subscribe never
// reaches the hub, whatever is published; with it, the page receives.
func TestCrossOriginPage(t *testing.T) {
	const topic = "browser/cors"
	bundle := datastarBundle(t)
	js, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	cases := []struct {
		name    string
		allowed func(pageOrigin string) []string
		works   bool
	}{
		{"no origin allowed", func(string) []string { return nil }, false},
		{"another origin allowed", func(string) []string { return []string{"http://app.example"} }, false},
		{"the page's origin allowed", func(o string) []string { return []string{o} }, true},
		{"any origin allowed", func(string) []string { return []string{"*"} }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The page's origin must be known before the hub is set up.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pageOrigin := "http://" + ln.Addr().String()
			hubSrv, f, h := newClientServer(t, web.Config{AllowedOrigins: c.allowed(pageOrigin)}, nil)

			// The page's own server serves the page and its copy of the
			// client: loaded from the hub, the module script would be a
			// cross-origin request of its own.
			page := datastarPage("/datastar.js", fmt.Sprintf(`
<div data-init="@get('%s/topics/%s')"></div>
<ul id="list"></ul>
<script>window.items = () => [...document.querySelectorAll("#list li")].map((e) => e.textContent);</script>
`, hubSrv.URL, topic))
			pageSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/page":
					w.Header().Set("Content-Type", "text/html; charset=utf-8")
					fmt.Fprint(w, page)
				case "/datastar.js":
					w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
					w.Write(js)
				default:
					http.NotFound(w, r)
				}
			}))
			pageSrv.Listener.Close()
			pageSrv.Listener = ln
			pageSrv.Start()
			t.Cleanup(pageSrv.Close)

			ctx := newTab(t, browser)
			problems := watchConsole(t, ctx)
			open(t, ctx, pageOrigin+"/page")

			if !c.works {
				// Chromium reports the refused preflight; the client
				// retries a second later, after the publish, and is
				// refused again.
				refused := fmt.Sprintf("from origin '%s' has been blocked by CORS policy: Response to preflight request", pageOrigin)
				problems.waitCount(t, refused, 1, 10*time.Second)
				publish(t, hubSrv, topic, "text/html", "<li>1</li>", "Datastar-Selector", "#list", "Datastar-Mode", "append")
				problems.waitCount(t, refused, 2, 10*time.Second)
				if subs := f.subscribes(); len(subs) != 0 {
					t.Errorf("the hub got %d subscribe requests from a page it does not allow: %+v", len(subs), subs)
				}
				if n := h.Subscribers(topic); n != 0 {
					t.Errorf("topic has %d subscribers, want none", n)
				}
				if got := eval[[]string](t, ctx, "items()"); len(got) != 0 {
					t.Errorf("page not allowed received %q", got)
				}
				return
			}
			waitSubscribers(t, h, topic, 1)
			publish(t, hubSrv, topic, "text/html", "<li>1</li>", "Datastar-Selector", "#list", "Datastar-Mode", "append")
			waitFor(t, ctx, 5*time.Second, `items().join() === "1"`)
			if subs := f.subscribes(); len(subs) != 1 {
				t.Errorf("%d subscribe requests, want 1: %+v", len(subs), subs)
			}
			noProblems(t, ctx, problems)
		})
	}
}

// waitCount waits until at least n of the problems contain substr, and
// fails the test if that takes longer than d.
func (p *consoleProblems) waitCount(t *testing.T, substr string, n int, d time.Duration) {
	t.Helper()
	count := func() int {
		c := 0
		for _, s := range p.get() {
			if strings.Contains(s, substr) {
				c++
			}
		}
		return c
	}
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d console problems with %q after %v, want %d; all: %q", count(), substr, d, n, p.get())
		}
		<-tick.C
	}
}
