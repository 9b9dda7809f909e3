package browser_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/web"
)

// consoleProblems collects what the tab of ctx reports as going wrong:
// console errors and warnings, uncaught exceptions, and the browser's own
// log entries at error level (such as a script that failed to load).
type consoleProblems struct {
	mu   sync.Mutex
	list []string
}

func watchConsole(t *testing.T, ctx context.Context) *consoleProblems {
	t.Helper()
	p := &consoleProblems{}
	add := func(s string) {
		p.mu.Lock()
		p.list = append(p.list, s)
		p.mu.Unlock()
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				add(fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				add(fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	enableLog := chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return chromedp.Void{}, err
	})
	if err := chromedp.Do(ctx, enableLog); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *consoleProblems) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// visibleText returns the text of the first element matching the CSS
// selector, or fails if there is none or it is not displayed.
func visibleText(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return "<missing>";
		const s = getComputedStyle(e); if (s.display === "none" || s.visibility === "hidden") return "<hidden>";
		return e.textContent.trim(); })()`, selector)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("read %s: %v", selector, err)
	}
	if text == "<missing>" || text == "<hidden>" {
		t.Fatalf("%s is %s", selector, text)
	}
	return text
}

// TestPagesRender loads the dashboard and the demos as an install whose
// client does not work does (the operator's local copy, served at
// /datastar.js, is here an empty file). Each page must load with no
// console error, render its static parts, and say that live updates are
// unavailable. The dashboard's screenshot at 1280×800 is written to the
// test's folder. The pages with the official client are checked in
// demos_test.go.
func TestPagesRender(t *testing.T) {
	client := filepath.Join(t.TempDir(), "datastar.js")
	if err := os.WriteFile(client, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _ := newServer(t, web.Config{Demos: true, DatastarClient: client})
	ctx := newBrowser(t)
	problems := watchConsole(t, ctx)

	pages := []struct {
		path   string
		static map[string]string // selector: text it must contain
	}{
		{"/", map[string]string{
			".brand":                             "hubd",
			"h1":                                 "Dashboard",
			"#charts":                            "Deliveries",
			"#counters .card:nth-child(5)":       "Heartbeat prunes",
			"#counters .card:nth-child(5) .hint": "client was gone",
			"#topics thead":                      "subscribers",
			"#hubd-topics":                       "No topics yet",
			"#try button":                        "Publish to demo",
		}},
		{"/demo/counter", map[string]string{"h1": "A shared counter", "button": "Add one", "[data-text='$count']": "0"}},
		{"/demo/chat", map[string]string{"h1": "A live chat", "form button": "Send"}},
	}
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+p.path)); err != nil {
			t.Fatalf("open %s: %v", p.path, err)
		}
		for sel, want := range p.static {
			if got := visibleText(t, ctx, sel); !strings.Contains(got, want) {
				t.Errorf("%s: %s says %q, want %q", p.path, sel, got, want)
			}
		}
		if got := visibleText(t, ctx, ".offline"); !strings.Contains(got, "Live updates are unavailable") {
			t.Errorf("%s: offline notice %q", p.path, got)
		}
		if p.path == "/" {
			shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatalf("screenshot is not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 800 {
				t.Errorf("screenshot is %v, want 1280×800", b.Size())
			}
			file := filepath.Join(t.TempDir(), "dashboard.png")
			if dir := os.Getenv("HUBD_SCREENSHOTS"); dir != "" {
				file = filepath.Join(dir, "dashboard.png")
			}
			if err := os.WriteFile(file, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("dashboard screenshot: %s", file)
		}
	}
	// Let the browser report anything still pending from the last page.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("true")); err != nil {
		t.Fatal(err)
	}
	if got := problems.get(); len(got) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(got, "\n"))
	}
}
