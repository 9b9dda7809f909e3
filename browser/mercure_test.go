package browser_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/web"
)

// mercurePage is a page written for a Mercure hub, unchanged: it follows
// a topic with EventSource on /.well-known/mercure and keeps every message
// (onmessage) and every "book" event, with the ID the browser keeps.
const mercurePage = `<!doctype html>
<meta charset="utf-8">
<title>Mercure page</title>
<script>
const url = new URL("/.well-known/mercure", location.href);
url.searchParams.append("topic", "https://example.com/books/{id}");
window.got = [];
const es = new EventSource(url);
es.onmessage = (e) => got.push("message " + e.data + " " + e.lastEventId);
es.addEventListener("book", (e) => got.push("book " + e.data + " " + e.lastEventId));
window.es = es;
</script>
<p>Mercure page</p>
`

// TestMercureEventSourcePage: a page written for Mercure, in Chromium,
// receives what an unchanged Mercure publisher posts as a form: plain
// messages and typed events, multi-line data joined back, each with the
// ID the publisher gave or the hub's urn:uuid.
func TestMercureEventSourcePage(t *testing.T) {
	f, h := newFront(t, web.Config{})
	f.pages = map[string]string{"/mercure-page": mercurePage}
	srv := httptest.NewUnstartedServer(f)
	serve(t, srv, h, false)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/mercure-page")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 5*time.Second, "es.readyState === EventSource.OPEN")

	post := func(form url.Values) string {
		resp, err := srv.Client().PostForm(srv.URL+"/.well-known/mercure", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("publish %v: %s %s", form, resp.Status, b)
		}
		return string(b)
	}
	post(url.Values{"topic": {"https://example.com/authors/1"}, "data": {"not followed"}})
	post(url.Values{"topic": {"https://example.com/books/1"}, "data": {"first\nsecond"}, "id": {"urn:book:1"}})
	gen := post(url.Values{"topic": {"https://example.com/books/2"}, "data": {"typed"}, "type": {"book"}})

	want := []string{"message first\nsecond urn:book:1", "book typed " + gen}
	waitFor(t, ctx, 5*time.Second, fmt.Sprintf("got.length >= %d", len(want)))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string]("got"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("the page got %q, want %q", got, want)
	}
}
