package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// datastarPost posts signals as the Datastar client does and returns the
// status and the body of the answer.
func datastarPost(t *testing.T, srv *httptest.Server, path, signals string) (int, string) {
	t.Helper()
	a := request(t, srv, http.MethodPost, path, hdr("Content-Type", "application/json", "Datastar-Request", "true"), signals)
	return a.status, a.raw
}

// readAnswer reads a demo's whole SSE answer.
func readAnswer(t *testing.T, srv *httptest.Server, path, signals string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(signals))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Datastar-Request", "true")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s: %s %q", path, resp.Status, b.String())
	}
	return b.String()
}

func TestCounterDemo(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{Demos: true})
	tab := subscribe(t, srv, "/topics/demo/counter", "")
	for want := 1; want <= 2; want++ {
		if status, body := datastarPost(t, srv, "/demo/counter/add", `{"count":0}`); status != http.StatusNoContent {
			t.Fatalf("add: %d %s", status, body)
		}
		ev, err := tab.nextEvent()
		if err != nil || ev.Type != "datastar-patch-signals" || ev.Data != `signals {"count":`+string(rune('0'+want))+`}` {
			t.Fatalf("tab got %+v, %v; want count %d", ev, err, want)
		}
	}
	// The page carries no count of its own: a tab that opens now gets the
	// current count from the hub, as its stream starts.
	if code, page, _ := getBody(t, srv.URL+"/demo/counter"); code != 200 || !strings.Contains(page, `data-signals="{count: 0}"`) {
		t.Errorf("counter page (%d) does not start at 0", code)
	}
	late := subscribe(t, srv, "/topics/demo/counter", "")
	if ev, err := late.next(); err != nil || ev.Type != "datastar-patch-signals" || ev.Data != `signals {"count":2}` || ev.ID != "" {
		t.Fatalf("a late tab's first frame %+v, %v; want the retained count 2 without an id", ev, err)
	}
}

// TestCounterDemoAfterRestart: the count is the hub's retained state, so
// a hub restarted from its history file goes on counting from it rather
// than from zero, as the demo handler's own memory would.
func TestCounterDemoAfterRestart(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{Demos: true})
	for range 3 {
		if status, body := datastarPost(t, srv, "/demo/counter/add", `{"count":0}`); status != http.StatusNoContent {
			t.Fatalf("add: %d %s", status, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := h.SaveHistory(&saved); err != nil {
		t.Fatal(err)
	}
	h2, err := hub.NewFromHistory(hub.Config{}, &saved)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := web.New(h2, web.Config{Demos: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	srv2 := newTestServer(t, s2, h2)
	tab := subscribe(t, srv2, "/topics/demo/counter", "")
	if ev, err := tab.next(); err != nil || ev.Data != `signals {"count":3}` {
		t.Fatalf("after the restart a tab starts with %+v, %v; want the retained count 3", ev, err)
	}
	if status, body := datastarPost(t, srv2, "/demo/counter/add", `{"count":0}`); status != http.StatusNoContent {
		t.Fatalf("add: %d %s", status, body)
	}
	if ev, err := tab.nextEvent(); err != nil || ev.Data != `signals {"count":4}` {
		t.Fatalf("the first add after the restart published %+v, %v; want count 4", ev, err)
	}
}

func TestChatDemo(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{Demos: true})
	tab := subscribe(t, srv, "/topics/demo/chat", "")
	answer := readAnswer(t, srv, "/demo/chat/send", `{"name":"<b>eve</b>","message":"hi <script>alert(1)</script>"}`)
	if !strings.Contains(answer, `"message":""`) {
		t.Errorf("answer %q does not clear the input", answer)
	}
	ev, err := tab.nextEvent()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"selector #messages", "mode append", "useViewTransition true",
		"elements <li><b>&lt;b&gt;eve&lt;/b&gt;</b> hi &lt;script&gt;alert(1)&lt;/script&gt;</li>"} {
		if !strings.Contains(ev.Data, want) {
			t.Errorf("message event lacks %q:\n%s", want, ev.Data)
		}
	}
	before := h.Stats().Events
	for signals, want := range map[string]string{
		`{"message":"   "}`: "write a message first",
		`{"message":"` + strings.Repeat("é", 501) + `"}`:           "at most 500 characters",
		`{"name":"` + strings.Repeat("n", 41) + `","message":"x"}`: "at most 40 characters",
	} {
		if answer := readAnswer(t, srv, "/demo/chat/send", signals); !strings.Contains(answer, want) {
			t.Errorf("%.40s...: answer %q, want %q", signals, answer, want)
		}
	}
	if after := h.Stats().Events; after != before {
		t.Errorf("refused messages published %d events", after-before)
	}
}

func TestTryIt(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{Demos: true})
	tab := subscribe(t, srv, "/topics/demo", "")
	if answer := readAnswer(t, srv, "/try", `{"tryKind":"html","tryBody":"<li>hello</li>","hubd":{"clients":1}}`); !strings.Contains(answer, `"tryError":""`) {
		t.Errorf("answer %q", answer)
	}
	if ev, err := tab.nextEvent(); err != nil || ev.Data != "mode append\nselector #arrivals\nelements <li>hello</li>" {
		t.Errorf("html: %+v %v", ev, err)
	}
	readAnswer(t, srv, "/try", `{"tryKind":"signals","tryBody":"{\"greeting\":\"hi\"}"}`)
	if ev, err := tab.nextEvent(); err != nil || ev.Data != `signals {"greeting":"hi"}` {
		t.Errorf("signals: %+v %v", ev, err)
	}
	for signals, want := range map[string]string{
		`{"tryKind":"signals","tryBody":"[1]"}`: "not a JSON object",
		`{"tryKind":"xml","tryBody":"x"}`:       `kind \"xml\": want html or signals`,
	} {
		if answer := readAnswer(t, srv, "/try", signals); !strings.Contains(answer, want) {
			t.Errorf("%s: answer %q, want %q", signals, answer, want)
		}
	}
	if status, body := datastarPost(t, srv, "/try", `{`); status != 400 || !strings.Contains(body, `"field":"signals"`) {
		t.Errorf("bad JSON: %d %s", status, body)
	}
}

func TestDemosOff(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	for _, path := range []string{"/demo/counter", "/demo/chat"} {
		if code, _, _ := getBody(t, srv.URL+path); code != 404 {
			t.Errorf("%s: %d with demos off, want 404", path, code)
		}
	}
	if status, _ := datastarPost(t, srv, "/try", `{}`); status != 404 {
		t.Errorf("/try: %d with demos off, want 404", status)
	}
	if code, page, _ := getBody(t, srv.URL+"/"); code != 200 || strings.Contains(page, "Try it") {
		t.Errorf("dashboard (%d) offers the try-it form with demos off", code)
	}
}

// TestEscapedTopicPath checks that a percent-encoded topic in the path
// names the decoded topic: the dashboard follows /topics/%24hubd/stats.
func TestEscapedTopicPath(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{})
	subscribe(t, srv, "/topics/%24hubd/stats", "")
	if n := h.Subscribers(hub.StatsTopic); n != 1 {
		t.Errorf("%d subscribers of %s", n, hub.StatsTopic)
	}
	if status, res := post(t, srv, "/topics/%24hubd/stats", "text/html", "<p>x</p>"); status != 403 || !strings.Contains(res.Error, "reserved") {
		t.Errorf("publish to the stats topic: %d %+v", status, res)
	}
	if status, res := post(t, srv, "/topics/a%2Fb", "text/html", "<p>x</p>"); status != 200 || res.Topics[0] != "a/b" {
		t.Errorf("publish to a%%2Fb: %d %+v", status, res)
	}
}
