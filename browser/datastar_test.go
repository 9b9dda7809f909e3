package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// bundleEnv names the environment variable that, when set, says where the
// official Datastar client bundle is.
const bundleEnv = "HUBD_DATASTAR_JS"

// defaultBundle is where the bundle is without bundleEnv: in shared/ beside
// the repository, relative to this package's folder (go test runs in it).
// CI clones the repository with shared/ beside it, so the path holds there.
const defaultBundle = "../../shared/datastar/datastar-1.0.2.js"

// datastarBundle returns the path of the official Datastar v1.0.2 client.
// Without it the test is skipped, except under CI=true, where it fails.
func datastarBundle(t *testing.T) string {
	t.Helper()
	path := os.Getenv(bundleEnv)
	if path == "" {
		path = defaultBundle
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		msg := fmt.Sprintf("tests of the real Datastar client need its bundle at %s (or set %s): %v", path, bundleEnv, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return abs
}

// datastarPage is a user page that loads the Datastar client from src
// (hubd serves it at /datastar.js) and holds body.
func datastarPage(src, body string) string {
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hubd Datastar test</title>
<link rel="icon" href="data:,">
<script type="module" src="` + src + `"></script>
</head>
<body>
` + body + `
</body>
</html>
`
}

// newClientServer serves a fresh hub, with configuration wc and the
// official client at /datastar.js, over plain HTTP/1.1; the front handler
// also serves pages (HTML by path). It returns the hub too, so that tests
// can wait for its subscribers.
func newClientServer(t *testing.T, wc web.Config, pages map[string]string) (*httptest.Server, *front, *hub.Hub) {
	t.Helper()
	wc.DatastarClient = datastarBundle(t)
	f, h := newFront(t, wc)
	f.pages = pages
	srv := httptest.NewUnstartedServer(f)
	serve(t, srv, h, false)
	return srv, f, h
}

// runStats publishes the dashboard's statistics every interval until the
// end of the test, as hubd does; the goroutine is stopped and waited for
// in the cleanup.
func runStats(t *testing.T, f *front, interval time.Duration) {
	t.Helper()
	f.mu.Lock()
	api, ok := f.api.(*web.Server)
	f.mu.Unlock()
	if !ok {
		t.Fatalf("front's API is a %T, not a *web.Server", f.api)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		api.RunStats(ctx, interval)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// waitSubscribers waits until topic has exactly n subscribers in h: the
// pages' Datastar clients have opened their streams (or closed them), so
// a publish from now on reaches exactly them.
func waitSubscribers(t *testing.T, h *hub.Hub, topic string, n int) {
	t.Helper()
	const bound = 10 * time.Second
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for got := h.Subscribers(topic); got != n; got = h.Subscribers(topic) {
		if time.Now().After(deadline) {
			t.Fatalf("topic %s has %d subscribers after %v, want %d", topic, got, bound, n)
		}
		<-tick.C
	}
}

// open loads url in the tab of ctx.
func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// texts returns the trimmed text of every element matching the CSS
// selector, in document order.
func texts(t *testing.T, ctx context.Context, selector string) []string {
	t.Helper()
	js := fmt.Sprintf(`[...document.querySelectorAll(%q)].map((e) => e.textContent.trim())`, selector)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil {
		t.Fatalf("read %s: %v", selector, err)
	}
	return got
}

// eval evaluates the JavaScript expression in the page and returns its
// value as T.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// jsonText reads the JSON that the element matching selector shows (a
// data-json-signals element) into a map.
func jsonText(t *testing.T, ctx context.Context, selector string) map[string]any {
	t.Helper()
	raw := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, selector))
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("%s shows %q, not a JSON object: %v", selector, raw, err)
	}
	return m
}

// typeInto replaces what the field matching selector holds with text,
// typed key by key as a user would, so that data-bind sees input events.
func typeInto(t *testing.T, ctx context.Context, selector, text string) {
	t.Helper()
	// Emptied by script (chromedp's SetValue takes an empty result for a
	// failure), then typed.
	clear := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, selector))
	if err := chromedp.Do(ctx, clear, chromedp.SendKeys(chromedp.CSS(selector), text)); err != nil {
		t.Fatalf("type into %s: %v", selector, err)
	}
}

// click clicks the element matching selector with the mouse, once no
// animation runs: while a view transition runs (the chat appends messages
// with one), its overlay takes the clicks, and the button is not where
// the mouse is sent either.
func click(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	waitFor(t, ctx, 5*time.Second, "document.getAnimations().length === 0")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
}

// noProblems fails the test if the tab reported console errors, warnings
// or exceptions. A round trip to the page first lets pending reports in.
func noProblems(t *testing.T, ctx context.Context, p *consoleProblems) {
	t.Helper()
	eval[bool](t, ctx, "true")
	if got := p.get(); len(got) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(got, "\n"))
	}
}
