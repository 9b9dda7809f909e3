package browser_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// listPage follows topic with the official client; items() lists the
// texts of the list the published items are appended to.
func listPage(topic string) string {
	return datastarPage("/datastar.js", fmt.Sprintf(`
<div data-init="@get('/topics/%s')"></div>
<ul id="list"></ul>
<script>window.items = () => [...document.querySelectorAll("#list li")].map((e) => e.textContent);</script>
`, topic))
}

// appendItem publishes item i, appended to #list, and returns its ID.
func appendItem(t *testing.T, srv *httptest.Server, topic string, i int) string {
	t.Helper()
	return publish(t, srv, topic, "text/html", fmt.Sprintf("<li>%d</li>", i),
		"Datastar-Selector", "#list", "Datastar-Mode", "append")
}

// TestDatastarResumes: a page follows a topic with the official client
// while its stream is interrupted: cut by the hub's side, ended by a
// restart of the hub with its history kept (SaveHistory, NewFromHistory,
// as hubd does with history-file), or closed by the client itself while
// the tab is hidden. The client comes back by itself with the Last-Event-ID
// of the last item it got, and once items published while it was away and
// after it came back have arrived, the list is exactly 1..8, in order,
// each once. Each case runs over HTTP/1.1 and over HTTP/2.
func TestDatastarResumes(t *testing.T) {
	bundle := datastarBundle(t)
	cases := []struct {
		name string
		// interrupt ends the page's stream; f is the front of the hub h,
		// whose listener is conns.
		interrupt func(t *testing.T, ctx context.Context, f *front, h *hub.Hub, conns *connTracker)
	}{
		{"cut", func(t *testing.T, _ context.Context, _ *front, _ *hub.Hub, conns *connTracker) {
			conns.cutAll()
		}},
		{"restart", func(t *testing.T, _ context.Context, f *front, first *hub.Hub, _ *connTracker) {
			f.restart(t, first, web.Config{DatastarClient: bundle})
		}},
		{"hidden tab", func(t *testing.T, ctx context.Context, _ *front, _ *hub.Hub, _ *connTracker) {
			// What a tab switch does to the page: the client closes its
			// stream while hidden and opens it again when visible.
			// Headless Chromium keeps every tab visible, so the page is
			// told it is hidden, and then given its real state back
			// (visible): an override left in place would make the client
			// reconnect at every later change, such as the tab closing.
			eval[bool](t, ctx, `(() => {
				Object.defineProperty(document, "hidden", {value: true, configurable: true});
				document.dispatchEvent(new Event("visibilitychange"));
				delete document.hidden;
				if (document.hidden) throw new Error("the tab is hidden for real");
				document.dispatchEvent(new Event("visibilitychange"));
				return true; })()`)
		}},
	}
	// Over HTTP/1.1 a stream has a connection of its own (hijacked by the
	// hub) and a cut closes it; over HTTP/2 (TLS) streams share one, and
	// the hub resets the stream.
	browser := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		for _, c := range cases {
			t.Run(proto+"/"+c.name, func(t *testing.T) {
				resume(t, browser, proto, c.interrupt)
			})
		}
	}
}

// resume runs one case of TestDatastarResumes over proto.
func resume(t *testing.T, browser context.Context, proto string, interrupt func(*testing.T, context.Context, *front, *hub.Hub, *connTracker)) {
	const topic = "browser/resume"
	path := "/topics/" + topic
	f, h := newFront(t, web.Config{DatastarClient: datastarBundle(t)})
	f.pages = map[string]string{"/list": listPage(topic)}
	// The reconnection is held until the items the page is to
	// miss are published, so that only the replay can bring them.
	reconnected, release := holdReconnect(f, path)
	srv := httptest.NewUnstartedServer(f)
	conns := &connTracker{Listener: srv.Listener}
	srv.Listener = conns
	h2 := proto == "HTTP/2.0"
	if h2 {
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	serve(t, srv, h, h2)
	t.Cleanup(release) // before the server closes: it waits for handlers

	ctx := newTab(t, browser)
	problems := watchConsole(t, ctx)
	open(t, ctx, srv.URL+"/list")
	waitSubscribers(t, h, topic, 1)
	var ids []string
	pub := func(from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			ids = append(ids, appendItem(t, srv, topic, i))
		}
	}
	pub(1, 3)
	waitFor(t, ctx, 5*time.Second, "items().length >= 3")

	interrupt(t, ctx, f, h, conns)
	select {
	case <-reconnected: // the client waits a second before it tries again
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not reconnect within 10s")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	pub(4, 6)
	if got := eval[[]string](t, ctx, "items()"); len(got) != 3 {
		t.Fatalf("page lists %q while away, want 1 to 3", got)
	}
	release()
	waitFor(t, ctx, 5*time.Second, "items().length >= 6")
	pub(7, 8) // live again
	waitFor(t, ctx, 5*time.Second, "items().length >= 8")

	want := make([]string, 8)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	if got := eval[[]string](t, ctx, "items()"); !slices.Equal(got, want) {
		t.Errorf("page lists %q, want %q", got, want)
	}
	// The first request has no Last-Event-ID, the reconnection item
	// 3's. Chromium may send the reconnection twice: when it goes
	// out on a connection opened in advance and left idle, and its
	// answer is held (as here), Chromium now and then sends it again
	// on a new connection and reads only one of the two answers.
	// The page still gets each item once; the hub drops the other
	// stream at its next failed write.
	subs := f.subscribes()
	if len(subs) < 2 || len(subs) > 3 {
		t.Fatalf("%d subscribe requests, want 2 (or 3, a resent reconnection): %+v", len(subs), subs)
	}
	if subs[0].LastEventID != "" {
		t.Errorf("first subscribe with Last-Event-ID %q, want none", subs[0].LastEventID)
	}
	for _, s := range subs[1:] {
		if s.LastEventID != ids[2] {
			t.Errorf("reconnection with Last-Event-ID %q, want %q (item 3's)", s.LastEventID, ids[2])
		}
	}
	for _, s := range subs {
		if s.Proto != proto {
			t.Errorf("subscribe over %s, want %s", s.Proto, proto)
		}
	}
	// A cut stream leaves Chromium's report of the broken response
	// in the console; anything else is a problem.
	for _, p := range problems.get() {
		if !isNetworkError(p) {
			t.Errorf("console problem: %s", p)
		}
	}
}

// isNetworkError says whether a console problem is Chromium reporting a
// stream the hub cut, which the client answers by trying again: an
// HTTP/1.1 response without its last chunk, an HTTP/2 stream reset (the
// hub aborts it, which Go sends as RST_STREAM INTERNAL_ERROR) or an
// HTTP/2 connection closed.
func isNetworkError(p string) bool {
	if !strings.Contains(p, "/topics/") {
		return false
	}
	for _, e := range []string{"net::ERR_INCOMPLETE_CHUNKED_ENCODING", "net::ERR_HTTP2_PROTOCOL_ERROR", "net::ERR_CONNECTION_CLOSED"} {
		if strings.Contains(p, e) {
			return true
		}
	}
	return false
}
