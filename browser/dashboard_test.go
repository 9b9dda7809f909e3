package browser_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// updateScreenshots makes the tests below write their screenshots of the
// dashboard, the demos and the topic view to docs/img/, where the README
// and the docs show them: go test ./browser -run Screenshots -update-screenshots
var updateScreenshots = flag.Bool("update-screenshots", false, "write the screenshots of the dashboard, the demos and the topic view to docs/img/")

// docScreenshot takes a screenshot of the tab at 1280 pixels wide and
// height high, and writes it to docs/img/name with -update-screenshots
// (else to the test's folder, or $HUBD_SCREENSHOTS).
func docScreenshot(t *testing.T, ctx context.Context, name string, height int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, height)); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, "window.scrollTo(0, 0), true")
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	switch {
	case *updateScreenshots:
		dir = filepath.Join("..", "docs", "img")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	case os.Getenv("HUBD_SCREENSHOTS") != "":
		dir = os.Getenv("HUBD_SCREENSHOTS")
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

// newHubServer is newClientServer with a hub configured as hc.
func newHubServer(t *testing.T, hc hub.Config, wc web.Config, pages map[string]string) (*httptest.Server, *front, *hub.Hub) {
	t.Helper()
	wc.DatastarClient = datastarBundle(t) // skips the test before anything starts, if missing
	h, err := hub.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(h, wc)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{api: api, pages: pages}
	srv := httptest.NewUnstartedServer(f)
	serve(t, srv, h, false)
	return srv, f, h
}

// noOverflow fails the test if the page is wider than the window or a
// block of code (a pre) runs past its box, at the window's width.
func noOverflow(t *testing.T, ctx context.Context) {
	t.Helper()
	got := eval[string](t, ctx, `(() => { if (document.documentElement.scrollWidth > window.innerWidth) return "the page";
		const p = [...document.querySelectorAll("pre")].find((p) => p.scrollWidth > p.clientWidth);
		return p ? "a pre: " + p.textContent.slice(0, 80) : ""; })()`)
	if got != "" {
		t.Errorf("%s runs wider than its box", got)
	}
}

// chartRises is JavaScript that is true once the chart in the element
// with the given id draws a point above its baseline (y below 150): a
// rate above zero.
func chartRises(id string) string {
	return fmt.Sprintf(`(() => { const p = document.querySelector("#%s path[fill=none]"); if (!p) return false;
		return p.getAttribute("d").split(/[ML]/).slice(1).some((pt) => parseFloat(pt.split(" ")[1]) < 149); })()`, id)
}

// TestDashboardScreenshots: the dashboard, with the official client,
// draws the hub's publish and delivery rates as they happen (the charts
// are SVG the hub renders and Datastar patches in), lists the topics with
// links to their views, and a topic's view shows its subscribers, its
// retained state and an event published while it is open. Screenshots of
// the dashboard, the topic view and the demos are written (to docs/img/
// with -update-screenshots).
func TestDashboardScreenshots(t *testing.T) {
	other := datastarPage("/datastar.js", `<div data-init="@get('/topics/demo/chat')"></div>`)
	srv, f, h := newHubServer(t, hub.Config{NodeID: "hub-1", Version: "dev"}, web.Config{Demos: true}, map[string]string{"/other": other})
	runStats(t, f, 100*time.Millisecond)
	ctx := newBrowser(t)
	problems := watchConsole(t, ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatal(err)
	}

	open(t, ctx, srv.URL+"/")
	waitSubscribers(t, h, hub.StatsTopic, 1)
	waitFor(t, ctx, 5*time.Second, `document.querySelector("#live").textContent.includes("live")`)
	if eval[bool](t, ctx, chartRises("chart-publishes")) {
		t.Fatal("the publishes chart rises before anything was published")
	}

	// Traffic for a few seconds, in waves, to several topics, with
	// subscribers to deliver to.
	tab := newTab(t, ctx)
	open(t, tab, srv.URL+"/other")
	waitSubscribers(t, h, "demo/chat", 1)
	publish(t, srv, "demo/counter", "application/json", `{"count": 42}`, "Hubd-Retain", "true")
	topics := []string{"news", "demo/chat", "orders/eu"}
	pace := time.NewTicker(100 * time.Millisecond) // spreads the traffic over the charts' intervals
	defer pace.Stop()
	n := 0
	for i := range 60 {
		for range []int{1, 2, 4, 6, 5, 3, 2, 3, 5, 8, 6, 4}[i%12] {
			publish(t, srv, topics[n%3], "text/html", fmt.Sprintf(`<p id="n%d">item %d</p>`, n%4, n))
			n++
		}
		<-pace.C
	}
	waitFor(t, ctx, 5*time.Second, chartRises("chart-publishes"))
	waitFor(t, ctx, 5*time.Second, chartRises("chart-deliveries"))
	row := fmt.Sprintf(`[...document.querySelectorAll("#hubd-topics tr")].some((r) =>
		r.cells[0].querySelector("a")?.getAttribute("href") === "/dashboard/topics/orders/eu" && r.cells[2].textContent === "%d")`, n/3)
	waitFor(t, ctx, 5*time.Second, row)
	// The try-it form, for the screenshot's sake and its own.
	click(t, ctx, "#try button")
	waitFor(t, ctx, 5*time.Second, `document.querySelectorAll("#arrivals li").length === 1`)
	noOverflow(t, ctx)
	docScreenshot(t, ctx, "dashboard.png", 1000)

	t.Run("topic view", func(t *testing.T) {
		publish(t, srv, "news", "application/json", `{"headline": "hubd ships a dashboard"}`, "Hubd-Retain", "true")
		click(t, ctx, `#hubd-topics a[href="/dashboard/topics/news"]`)
		waitSubscribers(t, h, "$hubd/topic/news", 1)
		waitFor(t, ctx, 5*time.Second, `document.querySelector("#live, .pill .dot.live") !== null`)
		if got := visibleText(t, ctx, "#view-retained pre"); !strings.Contains(got, `"headline": "hubd ships a dashboard"`) {
			t.Errorf("retained state shows %q", got)
		}
		publish(t, srv, "news", "text/html", `<p id="long">`+strings.Repeat("0123456789", 40)+`</p>`)
		publish(t, srv, "news", "text/html", `<li id="fresh">fresh <b>news</b></li>`, "Datastar-Selector", "#feed", "Datastar-Mode", "append")
		// The event shows as text, newest first, as Datastar reads it.
		waitFor(t, ctx, 5*time.Second, `document.querySelector("#view-events .event pre")?.textContent ===
			"mode append\nselector #feed\nelements <li id=\"fresh\">fresh <b>news</b></li>"`)
		if n := eval[int](t, ctx, `document.querySelectorAll("#fresh").length`); n != 0 {
			t.Errorf("the view applied the event it shows (%d #fresh elements)", n)
		}
		waitFor(t, ctx, 5*time.Second, `document.querySelector("#view-subscribers").textContent === "0"`)
		waitFor(t, ctx, 5*time.Second, `document.querySelector("#view-events").textContent.includes("0123456789".repeat(40))`)
		noOverflow(t, ctx)
		docScreenshot(t, ctx, "topic.png", 900)
	})

	noProblems(t, ctx, problems)

	t.Run("demos", func(t *testing.T) {
		ctx := newBrowser(t) // a browser of its own, with time of its own
		problems := watchConsole(t, ctx)
		open(t, ctx, srv.URL+"/demo/counter")
		waitFor(t, ctx, 5*time.Second, `document.querySelector(".big-number").textContent === "42"`)
		docScreenshot(t, ctx, "demo-counter.png", 640)
		open(t, ctx, srv.URL+"/demo/chat")
		waitSubscribers(t, h, "demo/chat", 2)
		for _, m := range [][2]string{{"ada", "Is the deploy done?"}, {"grace", "Yes, all three nodes are on the new version."}} {
			typeInto(t, ctx, `input[aria-label=name]`, m[0])
			typeInto(t, ctx, `input[aria-label=message]`, m[1])
			click(t, ctx, `form button`)
		}
		waitFor(t, ctx, 5*time.Second, `document.querySelectorAll("#messages li").length === 2`)
		noOverflow(t, ctx)
		docScreenshot(t, ctx, "demo-chat.png", 640)
		noProblems(t, ctx, problems)
	})

	t.Run("todo", func(t *testing.T) {
		base := startTodo(t, datastarBundle(t)) // built before the browser starts, whose time runs from then
		ctx := newBrowser(t)
		problems := watchConsole(t, ctx)
		// The todo page carries hubd's stylesheet as it is.
		css, err := os.ReadFile("../web/pages/hubd.css")
		if err != nil {
			t.Fatal(err)
		}
		if _, page, _ := get(t, base+"/"); !strings.Contains(page, string(css)) {
			t.Error("examples/todo's page does not carry web/pages/hubd.css as it is: copy it into the page's <style>")
		}
		open(t, ctx, base+"/")
		for _, todo := range []string{"Write the release notes", "Tag v1.0"} {
			typeInto(t, ctx, `input[aria-label="new todo"]`, todo)
			click(t, ctx, `form button`)
		}
		waitFor(t, ctx, 5*time.Second, `document.querySelectorAll("#todos li").length === 2`)
		click(t, ctx, "#todos li:first-child .toggle")
		waitFor(t, ctx, 5*time.Second, `document.querySelector("#left").textContent === "1 left"`)
		// The todo page has hubd's stylesheet: its accent colour.
		if got := eval[string](t, ctx, `getComputedStyle(document.querySelector("form button")).backgroundColor`); got != "rgb(79, 70, 229)" {
			t.Errorf("the todo page's button is %s, not hubd's accent colour", got)
		}
		docScreenshot(t, ctx, "demo-todo.png", 640)
		open(t, ctx, "about:blank") // before the app stops, at the end of this subtest
		noProblems(t, ctx, problems)
	})
}

// TestTopicViewNeedsSubscribeRight: with authorization on, a topic's view
// shows only to a visitor whose token grants subscribing to the topic.
// Without a token, and with a token for another topic, the page says why
// and opens no stream; with the right token it shows the topic live.
func TestTopicViewNeedsSubscribeRight(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, err := auth.New(t.Context(), auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv, f, h := newClientServer(t, web.Config{Auth: a}, nil)
	runStats(t, f, 250*time.Millisecond)
	mint := func(subscribe auth.Patterns) string {
		s, err := auth.Mint(auth.Token{Subject: "viewer", Grants: auth.Grants{Subscribe: subscribe}, TTL: time.Hour}, secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pub, err := auth.Mint(auth.Token{Subject: "back end", Grants: auth.Grants{Publish: auth.Patterns{"secret/plans"}}, TTL: time.Hour}, secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, srv, "secret/plans", "text/html", `<p id="plan">the plan</p>`, "Authorization", "Bearer "+pub)

	ctx := newBrowser(t)
	setCookie := func(value string) {
		t.Helper()
		js := fmt.Sprintf(`document.cookie = "hubd_token=%s; path=/", true`, value)
		eval[bool](t, ctx, js)
	}
	open(t, ctx, srv.URL+"/healthz") // an origin to set cookies on
	cases := []struct {
		name, token, want string
		status            int
	}{
		{"no token", "", `topic "secret/plans" needs a token`, http.StatusUnauthorized},
		{"another topic's token", mint(auth.Patterns{"news"}), `does not grant subscribing to "secret/plans"`, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setCookie(c.token)
			resp := nextAfter(t, ctx, srv.URL+"/dashboard/topics/secret/plans")
			if resp != c.status {
				t.Errorf("page status %d, want %d", resp, c.status)
			}
			if got := visibleText(t, ctx, "#view-error"); !strings.Contains(got, c.want) {
				t.Errorf("page says %q, want %q", got, c.want)
			}
			if n := eval[int](t, ctx, `document.querySelectorAll("#topic-view, #view-events").length`); n != 0 {
				t.Errorf("the page shows the view (%d elements) without the right", n)
			}
			if n := h.Subscribers("$hubd/topic/secret/plans"); n != 0 {
				t.Errorf("%d streams follow the view without the right", n)
			}
		})
	}
	t.Run("the topic's token", func(t *testing.T) {
		setCookie(mint(auth.Patterns{"secret/*"}))
		if status := nextAfter(t, ctx, srv.URL+"/dashboard/topics/secret/plans"); status != http.StatusOK {
			t.Errorf("page status %d, want 200", status)
		}
		waitSubscribers(t, h, "$hubd/topic/secret/plans", 1)
		waitFor(t, ctx, 5*time.Second, `(document.querySelector("#view-events pre")?.textContent ?? "").includes('<p id="plan">the plan</p>')`)
	})
}

// nextAfter opens url in the tab and returns the status of its document.
func nextAfter(t *testing.T, ctx context.Context, url string) int {
	t.Helper()
	responses := recordResponses(t, ctx)
	open(t, ctx, url)
	for {
		r := nextResponse(t, ctx, responses)
		if r.URL == url {
			return int(r.Status)
		}
	}
}

// get fetches url.
func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}
