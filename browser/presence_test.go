package browser_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/web"
)

// TestChatPresence opens the chat demo in two tabs and closes one: the
// official Datastar client reaches the _hubdPresence signal under its
// "demo/chat" key (a key with a slash), and the page's "N here" follows
// the hub's count both ways.
func TestChatPresence(t *testing.T) {
	srv, _, h := newClientServer(t, web.Config{Demos: true}, nil)
	first := newBrowser(t)
	problems := watchConsole(t, first)
	second := newTab(t, first)

	const here = `document.querySelector(".presence").textContent.trim()`
	open(t, first, srv.URL+"/demo/chat")
	waitSubscribers(t, h, "demo/chat", 1)
	if err := pollFor(first, 5*time.Second, here+` === "1 here"`); err != nil {
		t.Fatalf("one tab shows %q, want \"1 here\": %v", eval[string](t, first, here), err)
	}
	open(t, second, srv.URL+"/demo/chat")
	waitSubscribers(t, h, "demo/chat", 2)
	for i, tab := range []context.Context{first, second} {
		if err := pollFor(tab, 5*time.Second, here+` === "2 here"`); err != nil {
			t.Fatalf("tab %d shows %q, want \"2 here\": %v", i+1, eval[string](t, tab, here), err)
		}
	}

	// Closing the tab ends its stream (the hang-up watcher sees the
	// connection go) and the other tab's count follows within the
	// presence interval.
	if err := chromedp.Cancel(second); err != nil {
		t.Fatalf("close the second tab: %v", err)
	}
	waitSubscribers(t, h, "demo/chat", 1)
	if err := pollFor(first, 5*time.Second, here+` === "1 here"`); err != nil {
		t.Fatalf("after the second tab closed, the first shows %q, want \"1 here\": %v", eval[string](t, first, here), err)
	}
	noProblems(t, first, problems)
}
