package browser_test

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestRefusedPageComesInLater: with max-streams 1, a first page holds the
// hub's one stream, and a second page's official client is refused; when
// the first page goes away, the second page's stream comes up by itself
// (the refusal is a cut 200 with a retry field, which the client retries,
// where a 503 would have ended its stream for good), no sooner than the
// retry field asks, and receives.
func TestRefusedPageComesInLater(t *testing.T) {
	const topic = "browser/full"
	srv, f, h := newFullServer(t, topic)

	first := newBrowser(t)
	second := newTab(t, first)
	problems := watchConsole(t, second)
	open(t, first, srv.URL+"/list")
	waitSubscribers(t, h, topic, 1)
	open(t, second, srv.URL+"/list")
	waitRequests(t, f, 2) // the second page's, refused
	publish(t, srv, topic, "text/html", "<li>1</li>", "Datastar-Selector", "#list", "Datastar-Mode", "append")
	waitFor(t, first, 5*time.Second, `items().join() === "1"`)
	if got := eval[[]string](t, second, "items()"); len(got) != 0 {
		t.Fatalf("the refused page shows %q", got)
	}
	if n := h.Subscribers(topic); n != 1 {
		t.Fatalf("%d subscribers with max-streams 1", n)
	}

	// The first page goes away; the hub drops its stream at the next
	// heartbeat it fails to write, and then the one stream it holds is
	// the second page's, come back by itself. (The refusal asked for 5 s
	// and up to half again.)
	pruned := h.Stats().Pruned
	open(t, first, "about:blank")
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for h.Stats().Pruned == pruned || h.Subscribers(topic) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("10s after the first page left: %d streams dropped, %d subscribers, want 1 and 1; requests %+v",
				h.Stats().Pruned-pruned, h.Subscribers(topic), f.subscribes())
		}
		<-tick.C
	}
	// It came back no sooner than the refusal asked, so that a full hub
	// is not asked again every second by every page it turned away. (Cut
	// in the same read as its data, the retry field was lost in Chromium
	// two times in three, and the client came back after its own 1 s.)
	subs := f.subscribes()
	if len(subs) != 3 {
		t.Fatalf("%d subscribe requests, want 3 (first page, second refused, second let in): %+v", len(subs), subs)
	}
	if gap := subs[2].At.Sub(subs[1].At); gap < 5*time.Second {
		t.Errorf("the refused page came back after %v, before the 5 s the refusal asked for", gap)
	}
	publish(t, srv, topic, "text/html", "<li>2</li>", "Datastar-Selector", "#list", "Datastar-Mode", "append")
	waitFor(t, second, 5*time.Second, `items().length >= 1`)
	if got := eval[[]string](t, second, "items()"); !slices.Equal(got, []string{"2"}) {
		t.Errorf("the page let in shows %q, want [2]", got)
	}
	// The refusal is a response cut short; Chromium reports that, and
	// nothing else may go wrong.
	for _, p := range problems.get() {
		if !isNetworkError(p) {
			t.Errorf("console problem: %s", p)
		}
	}
}

// newFullServer serves a hub that takes one stream at most, with the
// official client and listPage(topic) at /list. Its heartbeat is short,
// so that the hub notices a page that went away (at its next write) within
// a fraction of a second.
func newFullServer(t *testing.T, topic string) (*httptest.Server, *front, *hub.Hub) {
	t.Helper()
	h, err := hub.New(hub.Config{Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(h, web.Config{MaxStreams: 1, DatastarClient: datastarBundle(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := &front{api: api, pages: map[string]string{"/list": listPage(topic)}}
	srv := httptest.NewUnstartedServer(f)
	serve(t, srv, h, false)
	return srv, f, h
}

// waitRequests waits until the front has seen at least n subscribe
// requests, for at most 10 s.
func waitRequests(t *testing.T, f *front, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(f.subscribes()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribe requests after 10s, want %d: %+v", len(f.subscribes()), n, f.subscribes())
		}
		<-tick.C
	}
}
