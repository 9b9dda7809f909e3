package browser_test

import (
	"context"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// TestCounterNewTabShowsHubCount: with the official client, a counter tab
// opened after clicks in another shows the current count at once, from
// the hub's retained state (the page the demo handler serves says 0), and
// then follows live clicks like the first tab.
func TestCounterNewTabShowsHubCount(t *testing.T) {
	srv, _, h := newClientServer(t, web.Config{Demos: true}, nil)
	first := newBrowser(t)
	problems := watchConsole(t, first)
	open(t, first, srv.URL+"/demo/counter")
	waitSubscribers(t, h, "demo/counter", 1)
	const count = `document.querySelector("[data-text='$count']").textContent`
	for range 3 {
		click(t, first, "button")
	}
	if err := pollFor(first, 5*time.Second, count+` === "3"`); err != nil {
		t.Fatalf("first tab shows %q after 3 clicks: %v", eval[string](t, first, count), err)
	}

	late := newTab(t, first)
	open(t, late, srv.URL+"/demo/counter")
	waitSubscribers(t, h, "demo/counter", 2)
	if err := pollFor(late, 5*time.Second, count+` === "3"`); err != nil {
		t.Fatalf("a tab opened later shows %q, want the hub's count 3: %v", eval[string](t, late, count), err)
	}

	click(t, late, "button")
	for i, tab := range []context.Context{first, late} {
		if err := pollFor(tab, 5*time.Second, count+` === "4"`); err != nil {
			t.Fatalf("tab %d shows %q after a click in the late tab, want 4: %v", i, eval[string](t, tab, count), err)
		}
	}
	noProblems(t, first, problems)
}
