package browser_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// card is the selector of the dashboard's counter in card n (from 1):
// clients, topics, history, evictions, heartbeat prunes, last event.
func card(n int) string { return fmt.Sprintf("#counters .card:nth-child(%d) b", n) }

// publishRate is the selector of the dashboard's current publish rate,
// above its chart.
const publishRate = "#charts .card:nth-child(1) .now span"

// TestDashboardLive: the dashboard, with the official client, follows the
// hub's statistics: its client count moves when another page subscribes,
// its publish rate and topic table move when a back end publishes, and its
// try-it form publishes HTML and signals that come back to the page over
// the demo topic, or shows why the hub refused them.
func TestDashboardLive(t *testing.T) {
	other := datastarPage("/datastar.js", `<div data-init="@get('/topics/browser/other')"></div>`)
	srv, f, h := newClientServer(t, web.Config{Demos: true}, map[string]string{"/other": other})
	runStats(t, f, 250*time.Millisecond)
	ctx := newBrowser(t)
	problems := watchConsole(t, ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	open(t, ctx, srv.URL+"/")
	waitSubscribers(t, h, hub.StatsTopic, 1)
	waitSubscribers(t, h, "demo", 1)

	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector(".offline")).display`); got != "none" {
		t.Errorf("the offline notice shows (display %q) although the client loaded", got)
	}
	// The dashboard's own two streams: statistics and the demo topic.
	waitFor(t, ctx, 5*time.Second, fmt.Sprintf(`document.querySelector(%q).textContent === "2"`, card(1)))
	// A hub on its own has no cluster to show.
	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector("#cluster")).display`); got != "none" {
		t.Errorf("the cluster line shows (display %q) on a hub without a cluster", got)
	}

	t.Run("clients", func(t *testing.T) {
		tab := newTab(t, ctx)
		open(t, tab, srv.URL+"/other")
		waitSubscribers(t, h, "browser/other", 1)
		waitFor(t, ctx, 5*time.Second, fmt.Sprintf(`document.querySelector(%q).textContent === "3"`, card(1)))
	})

	t.Run("publishes", func(t *testing.T) {
		const n = 12
		// Nothing has been published yet (the statistics themselves do
		// not count).
		if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, publishRate)); got != "0" {
			t.Fatalf("publishes/s shows %q before any publish, want 0", got)
		}
		for i := range n {
			publish(t, srv, "browser/dash", "text/html", fmt.Sprintf(`<p id="d%d">%d</p>`, i, i))
		}
		// The rate shows for one interval; the table row stays.
		waitFor(t, ctx, 5*time.Second, fmt.Sprintf(`parseFloat(document.querySelector(%q).textContent) > 0`, publishRate))
		row := fmt.Sprintf(`[...document.querySelectorAll("#hubd-topics tr")].some((r) =>
			r.cells.length === 3 && r.cells[0].textContent === "browser/dash" && r.cells[2].textContent === "%d")`, n)
		waitFor(t, ctx, 5*time.Second, row)
	})

	t.Run("try it", func(t *testing.T) {
		cases := []struct {
			name, kind, body string
			arrived          string // JavaScript: true once the publish shows
			wantError        string // in the form's error text
		}{
			{"html", "html", `<li id="tried">tried from the browser</li>`,
				`document.querySelector("#arrivals #tried")?.textContent === "tried from the browser"`, ""},
			{"signals", "signals", `{"greeting": "hi there"}`,
				`JSON.parse(document.querySelector("pre[data-json-signals]").textContent).greeting === "hi there"`, ""},
			{"not an object", "signals", `[1, 2]`, "", "signals"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				click(t, ctx, fmt.Sprintf(`#try input[value=%q]`, c.kind))
				typeInto(t, ctx, "#try textarea", c.body)
				click(t, ctx, "#try button")
				if c.wantError == "" {
					waitFor(t, ctx, 5*time.Second, c.arrived)
					if got := visibleTextOrEmpty(t, ctx, "#try .error"); got != "" {
						t.Errorf("form shows error %q", got)
					}
					return
				}
				waitFor(t, ctx, 5*time.Second, `document.querySelector("#try .error").textContent !== ""`)
				if got := visibleTextOrEmpty(t, ctx, "#try .error"); !strings.Contains(got, c.wantError) {
					t.Errorf("form shows error %q, want one naming %q", got, c.wantError)
				}
			})
		}
	})
	eval[bool](t, ctx, "window.scrollTo(0, 0), true")
	saveScreenshot(t, ctx, "dashboard-live.png")
	noProblems(t, ctx, problems)
}

// saveScreenshot writes a PNG of the tab's viewport to name in
// $HUBD_SCREENSHOTS, or in the test's folder.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name)
	if dir := os.Getenv("HUBD_SCREENSHOTS"); dir != "" {
		file = filepath.Join(dir, name)
	}
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

// visibleTextOrEmpty is the trimmed text of the element matching selector,
// which must exist.
func visibleTextOrEmpty(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent.trim()`, selector))
}

// TestCounterAcrossTabs: two tabs show the shared counter; a click in one
// tab changes the count in both, through the hub.
func TestCounterAcrossTabs(t *testing.T) {
	srv, _, h := newClientServer(t, web.Config{Demos: true}, nil)
	first := newBrowser(t)
	problems := watchConsole(t, first)
	tabs := []context.Context{first, newTab(t, first)}
	for _, tab := range tabs {
		open(t, tab, srv.URL+"/demo/counter")
	}
	waitSubscribers(t, h, "demo/counter", 2)
	const count = `document.querySelector("[data-text='$count']").textContent`
	for i, tab := range tabs {
		if got := eval[string](t, tab, count); got != "0" {
			t.Fatalf("tab %d shows count %q before any click, want 0", i, got)
		}
	}

	steps := []struct {
		name   string
		tab    int // where the button is clicked
		clicks int
		want   string
	}{
		{"first tab clicks once", 0, 1, "1"},
		{"second tab clicks twice", 1, 2, "3"},
		{"first tab again", 0, 1, "4"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			for range s.clicks {
				click(t, tabs[s.tab], "button")
			}
			for i, tab := range tabs {
				if err := pollFor(tab, 5*time.Second, fmt.Sprintf("%s === %q", count, s.want)); err != nil {
					t.Fatalf("tab %d shows count %q, want %s: %v", i, eval[string](t, tab, count), s.want, err)
				}
			}
		})
	}
	noProblems(t, first, problems)
}

// TestChatHostileInput: what a visitor types into the chat reaches every
// tab as text, never as markup: an element or script in a message or name
// is shown and never runs. A message over the limit (past the input's
// maxlength, as a hostile page can send) is refused with its reason shown,
// and nothing is published.
func TestChatHostileInput(t *testing.T) {
	const hostile = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
	srv, _, h := newClientServer(t, web.Config{Demos: true}, nil)
	sender := newBrowser(t)
	problems := watchConsole(t, sender)
	watcher := newTab(t, sender)
	for _, tab := range []context.Context{sender, watcher} {
		open(t, tab, srv.URL+"/demo/chat")
	}
	waitSubscribers(t, h, "demo/chat", 2)

	const (
		nameField    = `input[aria-label=name]`
		messageField = `input[aria-label=message]`
		messages     = `#messages li`
	)
	var want []string // the messages every tab shows, in order
	cases := []struct {
		name, who, message string
		typed              bool   // typed key by key; else set by script, past maxlength
		wantError          string // the form's error text; empty: the message is posted
	}{
		{"markup in the message", "mallory", hostile, true, ""},
		{"markup in the name", `<b onmouseover="window.pwned=3">bold</b>`, "hello", true, ""},
		{"too long", "mallory", strings.Repeat("x", 501), false, "a message holds at most 500 characters"},
		{"plain", "alice", "after the others", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typeInto(t, sender, nameField, c.who)
			if c.typed {
				typeInto(t, sender, messageField, c.message)
			} else {
				eval[bool](t, sender, fmt.Sprintf(`(() => { const i = document.querySelector(%q);
					i.value = %q; i.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, messageField, c.message))
			}
			click(t, sender, "form button")
			if c.wantError != "" {
				waitFor(t, sender, 5*time.Second, `document.querySelector("form .error").textContent !== ""`)
				if got := visibleTextOrEmpty(t, sender, "form .error"); got != c.wantError {
					t.Errorf("form shows error %q, want %q", got, c.wantError)
				}
				return
			}
			want = append(want, c.who+" "+c.message)
			for i, tab := range []context.Context{sender, watcher} {
				if err := pollFor(tab, 5*time.Second, fmt.Sprintf(`document.querySelectorAll(%q).length >= %d`, messages, len(want))); err != nil {
					t.Fatalf("tab %d shows %q, want %q (form error %q): %v", i, texts(t, tab, messages), want, visibleTextOrEmpty(t, sender, "form .error"), err)
				}
			}
			// A successful post clears the message field and the error.
			waitFor(t, sender, 5*time.Second, fmt.Sprintf(`document.querySelector(%q).value === ""`, messageField))
			if got := visibleTextOrEmpty(t, sender, "form .error"); got != "" {
				t.Errorf("form shows error %q after a successful post", got)
			}
		})
	}

	// The last message arrived after the hostile ones: had their markup
	// been parsed, the image's error handler and the script would have had
	// their turn by now.
	for i, tab := range []context.Context{sender, watcher} {
		if got := texts(t, tab, messages); !slices.Equal(got, want) {
			t.Errorf("tab %d shows messages %q, want %q", i, got, want)
		}
		if n := eval[int](t, tab, `document.querySelectorAll("#messages img, #messages script, #messages li b b").length`); n != 0 {
			t.Errorf("tab %d: %d elements made from a visitor's markup in #messages", i, n)
		}
		if got := eval[string](t, tab, `typeof window.pwned`); got != "undefined" {
			t.Errorf("tab %d: window.pwned is %s: a visitor's script ran", i, got)
		}
	}
	noProblems(t, sender, problems)
}
