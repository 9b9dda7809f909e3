package browser_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

// TestEventSourceReceivesInOrder: a page's EventSource gets every event
// published from Go, in order, with exactly the data the Datastar client
// would parse, and the IDs the publishes answered.
func TestEventSourceReceivesInOrder(t *testing.T) {
	srv, _ := newServer(t, web.Config{})
	ctx := newBrowser(t)
	openPage(t, ctx, srv)
	listen(t, ctx, "feed", "/topics/browser/feed")

	type pub struct{ contentType, body, want string }
	pubs := []pub{
		{"text/html", `<li id="a">one</li>`, "datastar-patch-elements: elements <li id=\"a\">one</li>"},
		{"application/json", `{"count":2}`, "datastar-patch-signals: signals {\"count\":2}"},
		{"text/html", "<li>three,\nover two lines</li>", "datastar-patch-elements: elements <li>three,\nelements over two lines</li>"},
		{"text/html", `<li>four</li>`, "datastar-patch-elements: mode append\nselector #feed\nelements <li>four</li>"},
	}
	var want, wantIDs []string
	for i, p := range pubs {
		var headers []string
		if i == 3 {
			headers = []string{"Datastar-Selector", "#feed", "Datastar-Mode", "append"}
		}
		wantIDs = append(wantIDs, publish(t, srv, "browser/feed", p.contentType, p.body, headers...))
		want = append(want, p.want)
	}
	waitFor(t, ctx, 5*time.Second, fmt.Sprintf("streams.feed.events.length >= %d", len(want)))

	got := received(t, ctx, "feed")
	if !slices.Equal(got.Events, want) {
		t.Errorf("page received\n%q\nwant\n%q", got.Events, want)
	}
	if !slices.Equal(got.IDs, wantIDs) {
		t.Errorf("page saw event IDs %q, want %q (as the publishes answered)", got.IDs, wantIDs)
	}
	if got.Opens != 1 || got.Errors != 0 {
		t.Errorf("EventSource opened %d times with %d errors, want once and none", got.Opens, got.Errors)
	}
}

// TestCompressionNegotiatedByChromium: with one content coding configured,
// Chromium negotiates it itself (it offers "gzip, deflate, br, zstd", to
// http://127.0.0.1 too), decodes the stream as it comes, and hands each
// event to the page within 200 ms of its publish. A coding whose encoder
// kept data back until more came, or that Chromium could only decode at
// the end of the response, fails here.
func TestCompressionNegotiatedByChromium(t *testing.T) {
	const budget = 200 * time.Millisecond
	browser := newBrowser(t)
	for _, coding := range []sse.Encoding{sse.Gzip, sse.Brotli, sse.Zstd} {
		t.Run(string(coding), func(t *testing.T) {
			srv, f := newServer(t, web.Config{Compression: []sse.Encoding{coding}})
			ctx := newTab(t, browser)
			responses := recordResponses(t, ctx)
			openPage(t, ctx, srv)
			topic := "browser/compressed/" + string(coding)
			listen(t, ctx, "z", "/topics/"+topic)

			if ae := f.subscribes()[0].AcceptEncoding; !strings.Contains(ae, string(coding)) {
				t.Fatalf("Chromium offered Accept-Encoding %q, without %s", ae, coding)
			}
			resp := nextResponse(t, ctx, responses)
			if got := header(resp.Headers, "Content-Encoding"); got != string(coding) {
				t.Fatalf("stream answered with Content-Encoding %q, want %q (response headers %v)", got, coding, resp.Headers)
			}

			// Events large and repetitive enough to be compressed for real.
			var want []string
			var published []time.Time
			for i := 1; i <= 5; i++ {
				html := fmt.Sprintf(`<li id="e%d">%s</li>`, i, strings.Repeat(fmt.Sprintf("event %d, ", i), 30))
				want = append(want, "datastar-patch-elements: elements "+html)
				start := time.Now()
				publish(t, srv, topic, "text/html", html)
				published = append(published, start)
				left := budget - time.Since(start)
				if left < time.Millisecond {
					t.Fatalf("event %d: the publish alone took %v, over the %v budget", i, time.Since(start), budget)
				}
				if err := pollFor(ctx, left, fmt.Sprintf("streams.z.events.length >= %d", i)); err != nil {
					t.Fatalf("event %d not in the page within %v of its publish: %v", i, budget, err)
				}
				if took := time.Since(start); took > budget {
					t.Fatalf("event %d reached the page %v after its publish, over %v", i, took, budget)
				}
			}

			got := received(t, ctx, "z")
			if !slices.Equal(got.Events, want) {
				t.Fatalf("page received\n%q\nwant\n%q", got.Events, want)
			}
			// The page's own arrival times, on the same clock: the delay
			// without the DevTools round trips of the polling.
			lat := make([]string, len(got.At))
			for i, at := range got.At {
				lat[i] = fmt.Sprintf("%.1fms", at-float64(published[i].UnixNano())/1e6)
			}
			t.Logf("%s: publish-to-page latency %s", coding, strings.Join(lat, " "))
		})
	}
}

// TestEventSourceReconnectsWithLastEventID: when the hub's end of a stream
// is cut, EventSource reconnects by itself with Last-Event-ID, and the
// replay gives it exactly the events published while it was away: no
// repeat, no gap.
func TestEventSourceReconnectsWithLastEventID(t *testing.T) {
	const topic = "browser/resume"
	f, h := newFront(t, web.Config{})
	// The reconnection is held until the test has published the events
	// the browser is to miss, so that only the replay can bring them.
	reconnected, releaseOnce := holdReconnect(f, "/topics/"+topic)
	srv := httptest.NewUnstartedServer(f)
	conns := &connTracker{Listener: srv.Listener}
	srv.Listener = conns
	serve(t, srv, h, false)
	t.Cleanup(releaseOnce) // before the server closes: it waits for handlers

	ctx := newBrowser(t)
	openPage(t, ctx, srv)
	listen(t, ctx, "r", "/topics/"+topic)

	var want, wantIDs []string
	pub := func(i int) {
		t.Helper()
		ev, id := publishNumbered(t, srv, topic, i)
		want, wantIDs = append(want, ev), append(wantIDs, id)
	}
	pub(1)
	pub(2)
	waitFor(t, ctx, 5*time.Second, "streams.r.events.length >= 2")

	conns.cutAll()
	select {
	case <-reconnected: // EventSource waits about 3 s before it tries again
	case <-time.After(10 * time.Second):
		t.Fatal("EventSource did not reconnect within 10s of the cut")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	pub(3)
	pub(4)
	pub(5)
	if n := len(received(t, ctx, "r").Events); n != 2 {
		t.Fatalf("page has %d events while disconnected, want 2", n)
	}
	releaseOnce()
	waitFor(t, ctx, 5*time.Second, "streams.r.events.length >= 5")
	pub(6) // live again
	waitFor(t, ctx, 5*time.Second, "streams.r.events.length >= 6")

	got := received(t, ctx, "r")
	if !slices.Equal(got.Events, want) {
		t.Errorf("page received\n%q\nwant\n%q", got.Events, want)
	}
	if !slices.Equal(got.IDs, wantIDs) {
		t.Errorf("page saw event IDs %q, want %q", got.IDs, wantIDs)
	}
	if got.Opens != 2 {
		t.Errorf("EventSource opened %d times, want 2 (first and reconnection)", got.Opens)
	}
	subs := f.subscribes()
	if len(subs) != 2 {
		t.Fatalf("%d subscribe requests, want 2: %+v", len(subs), subs)
	}
	if subs[0].LastEventID != "" || subs[1].LastEventID != wantIDs[1] {
		t.Errorf("Last-Event-ID %q then %q, want none then %q (the last event before the cut)",
			subs[0].LastEventID, subs[1].LastEventID, wantIDs[1])
	}
}

// TestTwentyStreamsOverHTTP2: one page holds twenty EventSource streams to
// hubd at once, all on one HTTP/2 connection, and each receives its
// events. Over HTTP/1.1 a browser opens at most six connections per host,
// and each stream keeps its connection for as long as it lasts: streams 7
// to 20 would stay in CONNECTING (and anything else the page asked of the
// host would wait too). HTTP/2 multiplexes them on one connection, which
// is why hubd serves HTTP/2 with TLS (tls-cert, tls-key).
func TestTwentyStreamsOverHTTP2(t *testing.T) {
	const streams = 20
	srv, f := newTLSServer(t, web.Config{})
	ctx := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	openPage(t, ctx, srv)

	for i := range streams {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`listen("s%d", "/topics/browser/many/%d")`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	const allOpen = `Object.values(sources).filter((es) => es.readyState === EventSource.OPEN).length`
	if err := pollFor(ctx, 10*time.Second, fmt.Sprintf("%s === %d", allOpen, streams)); err != nil {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](allOpen))
		t.Fatalf("%d of %d streams open after 10s: %v", n, streams, err)
	}

	subs := f.subscribes()
	if len(subs) != streams {
		t.Fatalf("%d subscribe requests, want %d", len(subs), streams)
	}
	for _, s := range subs {
		if s.Proto != "HTTP/2.0" || s.RemoteAddr != subs[0].RemoteAddr {
			t.Fatalf("subscribe %s over %s from %s, want HTTP/2.0 on one connection (from %s)", s.Path, s.Proto, s.RemoteAddr, subs[0].RemoteAddr)
		}
	}

	want := make([]string, streams)
	for i := range streams {
		html := fmt.Sprintf(`<li id="m%d">stream %d</li>`, i, i)
		publish(t, srv, fmt.Sprintf("browser/many/%d", i), "text/html", html)
		want[i] = "datastar-patch-elements: elements " + html
	}
	waitFor(t, ctx, 5*time.Second, `Object.values(streams).every((s) => s.events.length >= 1)`)
	for i := range streams {
		got := received(t, ctx, fmt.Sprintf("s%d", i))
		if !slices.Equal(got.Events, want[i:i+1]) {
			t.Errorf("stream %d received %q, want %q", i, got.Events, want[i])
		}
	}
}
