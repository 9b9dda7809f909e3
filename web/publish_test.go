package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestPublishKinds checks that the Content-Type and the Datastar headers
// or query parameters become the right event on a subscriber's stream.
func TestPublishKinds(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	c := subscribe(t, srv, "/topics/kinds", "")
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, contentType, body string
		headers                       []string
		wantType, wantData            string
	}{
		{"html defaults", "/topics/kinds", "text/html", `<p id="a">x</p>`, nil,
			"datastar-patch-elements", `elements <p id="a">x</p>`},
		{"html headers", "/topics/kinds", "text/html; charset=utf-8", "<li>1</li>\n<li>2</li>",
			[]string{"Datastar-Selector", "#list", "Datastar-Mode", "append", "Datastar-Use-View-Transition", "true"},
			"datastar-patch-elements", "mode append\nselector #list\nuseViewTransition true\nelements <li>1</li>\nelements <li>2</li>"},
		{"html query", "/topics/kinds?mode=inner&selector=%23box&namespace=svg", "text/html", `<circle r="1"/>`, nil,
			"datastar-patch-elements", "mode inner\nselector #box\nnamespace svg\nelements <circle r=\"1\"/>"},
		{"remove needs no body", "/topics/kinds", "text/html", "", []string{"Datastar-Mode", "remove", "Datastar-Selector", "#gone"},
			"datastar-patch-elements", "mode remove\nselector #gone"},
		{"signals", "/topics/kinds", "application/json", `{"count": 1}`, []string{"Datastar-Only-If-Missing", "true"},
			"datastar-patch-signals", `onlyIfMissing true` + "\n" + `signals {"count": 1}`},
		{"script", "/topics/kinds", "text/javascript", `alert("hi")`, []string{"Datastar-Script-Attributes", `{"type":"module"}`},
			"datastar-patch-elements", "mode append\nselector body\n" + `elements <script data-effect="el.remove()" type="module">alert("hi")</script>`},
	}
	for _, tt := range tests { // in order: they share one stream
		t.Run(tt.name, func(t *testing.T) {
			status, res := post(t, srv, tt.path, tt.contentType, tt.body, tt.headers...)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, res.Error)
			}
			ev, err := c.nextEvent()
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != res.ID || ev.Type != tt.wantType || ev.Data != tt.wantData {
				t.Fatalf("got %+v\nwant id %s, type %s, data %q", ev, res.ID, tt.wantType, tt.wantData)
			}
		})
	}
}

// TestBadPublishes checks that bad input is refused with the right status
// and a JSON error naming the field, and that nothing reaches a subscriber
// connected throughout.
func TestBadPublishes(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{MaxBodyBytes: 1024})
	c := subscribe(t, srv, "/topics/t", "")
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, contentType, body string
		headers                       []string
		status                        int
		field, msg                    string
	}{
		{"unknown mode", "/topics/t", "text/html", "<p>x</p>", []string{"Datastar-Mode", "sideways"}, 400, "mode", `"sideways"`},
		{"unknown mode in query", "/topics/t?mode=up", "text/html", "<p>x</p>", nil, 400, "mode", `"up"`},
		{"unknown namespace", "/topics/t", "text/html", "<p>x</p>", []string{"Datastar-Namespace", "xml"}, 400, "namespace", `"xml"`},
		{"bad view transition", "/topics/t", "text/html", "<p>x</p>", []string{"Datastar-Use-View-Transition", "maybe"}, 400, "useViewTransition", "maybe"},
		{"empty elements", "/topics/t", "text/html", "  ", nil, 400, "elements", "empty"},
		{"remove without selector", "/topics/t", "text/html", "", []string{"Datastar-Mode", "remove"}, 400, "selector", "remove"},
		{"selector with line break", "/topics/t?selector=%23a%0Aevent:x", "text/html", "<p>x</p>", nil, 400, "selector", `\n`},
		{"signals not JSON", "/topics/t", "application/json", `{"a":`, nil, 400, "signals", "JSON object"},
		{"signals an array", "/topics/t", "application/json", `[1,2]`, nil, 400, "signals", "JSON object"},
		{"signals a string", "/topics/t", "application/json", `"x"`, nil, 400, "signals", "JSON object"},
		{"invalid UTF-8", "/topics/t", "text/html", "<p>\xff</p>", nil, 400, "elements", "UTF-8"},
		{"NUL in body", "/topics/t", "text/html", "<p>\x00</p>", nil, 400, "body", "NUL"},
		{"bad script attributes", "/topics/t", "text/javascript", "go()", []string{"Datastar-Script-Attributes", "[1]"}, 400, "attributes", "object"},
		{"bad script attribute name", "/topics/t", "text/javascript", "go()", []string{"Datastar-Script-Attributes", `{"a b":"c"}`}, 400, "attributes", `"a b"`},
		{"no content type", "/topics/t", "", "<p>x</p>", nil, 415, "Content-Type", "missing"},
		{"wrong content type", "/topics/t", "text/plain", "x", nil, 415, "Content-Type", "text/plain"},
		{"wrong charset", "/topics/t", "text/html; charset=latin1", "x", nil, 415, "Content-Type", "latin1"},
		{"body too large", "/topics/t", "text/html", "<p>" + strings.Repeat("x", 2000) + "</p>", nil, 413, "body", "1024"},
		{"invalid topic", "/topics/a%20b", "text/html", "<p>x</p>", nil, 400, "topic", `" "`},
		{"dot-dot topic", "/topics/a/../t", "text/html", "<p>x</p>", nil, 400, "topic", `".."`},
		{"empty segment", "/topics/a//b", "text/html", "<p>x</p>", nil, 400, "topic", "empty segment"},
		{"reserved topic", "/topics/$hubd/stats", "text/html", "<p>x</p>", nil, 403, "topic", "reserved"},
		{"batch bad JSON", "/publish", "application/json", `{"topics":`, nil, 400, "body", "invalid JSON"},
		{"batch unknown field", "/publish", "application/json", `{"topics":["t"],"events":[],"extra":1}`, nil, 400, "body", "extra"},
		{"batch no topics", "/publish", "application/json", `{"topics":[],"events":[{"type":"patchSignals","signals":{}}]}`, nil, 400, "topics", "empty"},
		{"batch no events", "/publish", "application/json", `{"topics":["t"],"events":[]}`, nil, 400, "events", "empty"},
		{"batch bad topic", "/publish", "application/json", `{"topics":["t","x y"],"events":[{"type":"patchSignals","signals":{}}]}`, nil, 400, "topics[1]", "x y"},
		{"batch unknown type", "/publish", "application/json", `{"topics":["t"],"events":[{"type":"patchSignals","signals":{}},{"type":"merge"}]}`, nil, 400, "events[1].type", "merge"},
		{"batch bad mode", "/publish", "application/json", `{"topics":["t"],"events":[{"type":"patchElements","elements":"<p>x</p>","mode":"x"}]}`, nil, 400, "events[0].mode", `"x"`},
		{"batch wrong content type", "/publish", "text/plain", `{}`, nil, 415, "Content-Type", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, res := post(t, srv, tt.path, tt.contentType, tt.body, tt.headers...)
			if status != tt.status || res.Field != tt.field || !strings.Contains(res.Error, tt.msg) {
				t.Fatalf("got %d field %q error %q\nwant %d field %q error containing %q", status, res.Field, res.Error, tt.status, tt.field, tt.msg)
			}
		})
	}
	// Nothing was published: the next event is the marker.
	marker := publishHTML(t, srv, "t", `<p id="m">marker</p>`)
	if ev, err := c.nextEvent(); err != nil || ev.ID != marker {
		t.Fatalf("after the bad publishes the stream had %+v (%v), want only the marker %s", ev, err, marker)
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	t.Parallel()
	h, s := newAPI(t, hub.Config{}, web.Config{})
	srv := newTestServer(t, s, h)
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz %d before shutdown", code)
	}
	publishHTML(t, srv, "m", `<p id="m">1</p>`)
	code, body := get("/metrics")
	for _, want := range []string{"hubd_publishes_total 1", "hubd_events_total 1", "hubd_clients 0", "hubd_history_events 1", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics (%d) lack %q", code, want)
		}
	}
	s.SetReady(false)
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("readyz %d while shutting down, want 503", code)
	}
	if code, body := get("/openapi.yaml"); code != 200 || !strings.Contains(body, "openapi: 3.1.0") {
		t.Errorf("openapi.yaml: %d", code)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "@get('/topics/%24hubd/stats')") {
		t.Errorf("index page: %d", code)
	}
	if code, body := get("/nope"); code != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown path: %d %s", code, body)
	}
}

// batchOf is a POST /publish body of n signal events to topic.
func batchOf(topic string, n int) string {
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf(`{"type":"patchSignals","signals":{"n":%d}}`, i)
	}
	return `{"topics":["` + topic + `"],"events":[` + strings.Join(events, ",") + `]}`
}

// TestBatchChargesEachEvent checks that a batch counts against the
// publish rate once per event, as many single publishes would, and that a
// batch larger than the burst is told it can never pass.
func TestBatchChargesEachEvent(t *testing.T) {
	t.Parallel()
	// A rate so slow that no token comes back during the test.
	srv, h := newServer(t, hub.Config{}, web.Config{PublishRate: 0.001, PublishBurst: 5})
	steps := []struct {
		name, path, contentType, body string
		status                        int
		field, msg                    string
		retryAfter                    bool
	}{
		{"batch larger than the burst", "/publish", "application/json", batchOf("r", 6), 429, "events",
			"events: a batch of 6 events is larger than the publish burst of 5 (publish-burst), so it can never pass", false},
		{"three of five", "/publish", "application/json", batchOf("r", 3), 200, "", "", false},
		{"three with two left", "/publish", "application/json", batchOf("r", 3), 429, "",
			"publish rate: more than 0.001 per second (burst 5)", true},
		{"one single publish", "/topics/r", "text/html", "<p>x</p>", 200, "", "", false},
		{"a batch of one", "/publish", "application/json", batchOf("r", 1), 200, "", "", false},
		{"a batch of one with none left", "/publish", "application/json", batchOf("r", 1), 429, "", "publish rate", true},
		{"a single publish with none left", "/topics/r", "text/html", "<p>x</p>", 429, "", "publish rate", true},
	}
	for _, st := range steps { // in order: they share one bucket
		t.Run(st.name, func(t *testing.T) {
			a := request(t, srv, http.MethodPost, st.path, hdr("Content-Type", st.contentType), st.body)
			if a.status != st.status || a.body.Field != st.field || !strings.Contains(a.body.Error, st.msg) {
				t.Fatalf("got %d field %q error %q\nwant %d field %q saying %q", a.status, a.body.Field, a.body.Error, st.status, st.field, st.msg)
			}
			if got := a.header.Get("Retry-After"); (got != "") != st.retryAfter {
				t.Errorf("Retry-After %q", got)
			}
		})
	}
	if n := h.Stats().Events; n != 5 {
		t.Errorf("%d events published, want the 5 the burst allows", n)
	}
}

// TestBatchLimitsAtTheEdge checks that a batch exactly at max-batch-events
// and an event retry of exactly MaxRetryDuration are published as sent.
func TestBatchLimitsAtTheEdge(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{MaxBatchEvents: 3})
	c := subscribe(t, srv, "/topics/edge", "")
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	if status, res := post(t, srv, "/publish", "application/json", batchOf("edge", 3)); status != 200 || len(res.IDs) != 3 {
		t.Fatalf("batch of max-batch-events: %d %+v", status, res)
	}
	for range 3 {
		if _, err := c.nextEvent(); err != nil {
			t.Fatal(err)
		}
	}
	if status, res := post(t, srv, "/publish", "application/json", batchOf("edge", 4)); status != 413 || res.Field != "events" || !strings.Contains(res.Error, "4 events, more than the limit of 3 (max-batch-events)") {
		t.Fatalf("batch over max-batch-events: %d %+v", status, res)
	}
	hour := web.MaxRetryDuration.Milliseconds()
	body := fmt.Sprintf(`{"topics":["edge"],"events":[{"type":"patchSignals","signals":{"a":1},"retryDuration":%d}]}`, hour)
	status, res := post(t, srv, "/publish", "application/json", body)
	if status != 200 {
		t.Fatalf("retry of an hour: %d %+v", status, res)
	}
	// The retry field is not part of the parsed event; read the raw frame.
	line, err := c.r.ReadString('\n')
	for err == nil && !strings.HasPrefix(line, "retry:") && !strings.HasPrefix(line, "data:") {
		line, err = c.r.ReadString('\n')
	}
	if err != nil || line != fmt.Sprintf("retry: %d\n", hour) {
		t.Fatalf("frame line %q (%v), want retry: %d", line, err, hour)
	}
}

// TestBatchLargerThanTheClientBuffer checks that a batch of more events
// than client-buffer reaches a live subscriber whole, each event with the
// ID the answer gave, over a stream that stays open: the batch takes one
// place in the subscriber's buffer.
func TestBatchLargerThanTheClientBuffer(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{ClientBuffer: 8}, web.Config{})
	c := subscribe(t, srv, "/topics/big", "")
	status, res := post(t, srv, "/publish", "application/json", batchOf("big", 100))
	if status != http.StatusOK || res.Subscribers != 1 || len(res.IDs) != 100 {
		t.Fatalf("publish: %d, %d subscribers, %d IDs (%s); want 200, 1, 100", status, res.Subscribers, len(res.IDs), res.Error)
	}
	for i, id := range res.IDs {
		ev, err := c.nextEvent()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf(`signals {"n":%d}`, i); ev.ID != id || ev.Data != want {
			t.Fatalf("event %d: id %q data %q, want %q %q", i, ev.ID, ev.Data, id, want)
		}
	}
	after := publishHTML(t, srv, "big", `<p id="after">after</p>`)
	if ev, err := c.nextEvent(); err != nil || ev.ID != after {
		t.Fatalf("after the batch: %+v, %v; want the next event on the same stream", ev, err)
	}
	if st := h.Stats(); st.Evictions != 0 {
		t.Errorf("%d evictions, want 0", st.Evictions)
	}
}

// TestRetryDurationInEveryForm checks that the reconnection delay a
// publish sets reaches its subscribers as the events' retry field in every
// form a publish can give it: the Datastar-Retry-Duration header or the
// retryDuration parameter of a single publish (each kind of event), a
// batch's own retryDuration (for the events that set none) and an event's
// within a batch; that every form refuses more than an hour, or what is
// not a whole number of milliseconds, by name; and that the short names
// Datastar-Retry and retry are refused rather than ignored.
func TestRetryDurationInEveryForm(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{})
	sub := subscribe(t, srv, "/topics/retry", "")
	accepted := []struct {
		name, path, contentType, body string
		header                        []string
		want                          []string // each event's retry field, in order
	}{
		{"header, elements", "/topics/retry", "text/html", `<p id="r">1</p>`, []string{"Datastar-Retry-Duration", "5000"}, []string{"5000"}},
		{"parameter, signals", "/topics/retry?retryDuration=2500", "application/json", `{"r":1}`, nil, []string{"2500"}},
		{"header, script", "/topics/retry", "text/javascript", `x()`, []string{"Datastar-Retry-Duration", "3600000"}, []string{"3600000"}},
		{"the default writes none", "/topics/retry", "text/html", `<p id="r">2</p>`, []string{"Datastar-Retry-Duration", "1000"}, []string{""}},
		{"batch", "/publish", "application/json", `{"topics":["retry"],"retryDuration":7000,"events":[{"type":"patchSignals","signals":{"r":2}},{"type":"patchSignals","signals":{"r":3},"retryDuration":300}]}`, nil, []string{"7000", "300"}},
		{"header on a batch", "/publish", "application/json", `{"topics":["retry"],"events":[{"type":"patchSignals","signals":{"r":4}}]}`, []string{"Datastar-Retry-Duration", "9000"}, []string{"9000"}},
	}
	for _, c := range accepted {
		if status, res := post(t, srv, c.path, c.contentType, c.body, c.header...); status != http.StatusOK {
			t.Fatalf("%s: %d %s", c.name, status, res.Error)
		}
		for _, want := range c.want {
			ev, err := sub.nextEvent()
			if err != nil || ev.Retry != want {
				t.Errorf("%s: subscriber got retry %q (%v), want %q", c.name, ev.Retry, err, want)
			}
		}
	}
	published := h.Stats().Events

	refused := []struct {
		name, path, contentType, body string
		header                        []string
		field, msg                    string
	}{
		{"header over an hour", "/topics/retry", "text/html", `<p>x</p>`, []string{"Datastar-Retry-Duration", "3600001"}, "retryDuration", "3600001 milliseconds, more than the limit of 3600000 (one hour)"},
		{"parameter over an hour", "/topics/retry?retryDuration=86400000", "application/json", `{"r":1}`, nil, "retryDuration", "more than the limit of 3600000"},
		{"batch over an hour", "/publish", "application/json", `{"topics":["retry"],"retryDuration":3600001,"events":[{"type":"patchSignals","signals":{"r":1}}]}`, nil, "retryDuration", "more than the limit of 3600000"},
		{"header on a batch over an hour", "/publish", "application/json", `{"topics":["retry"],"events":[{"type":"patchSignals","signals":{"r":1}}]}`, []string{"Datastar-Retry-Duration", "3600001"}, "retryDuration", "more than the limit of 3600000"},
		{"negative header", "/topics/retry", "text/html", `<p>x</p>`, []string{"Datastar-Retry-Duration", "-5"}, "retryDuration", "-5 is negative"},
		{"negative batch", "/publish", "application/json", `{"topics":["retry"],"retryDuration":-5,"events":[{"type":"patchSignals","signals":{"r":1}}]}`, nil, "retryDuration", "-5 is negative"},
		{"not a number", "/topics/retry", "text/html", `<p>x</p>`, []string{"Datastar-Retry-Duration", "5s"}, "retryDuration", `"5s" is not a whole number of milliseconds`},
		{"short header name", "/topics/retry", "text/html", `<p>x</p>`, []string{"Datastar-Retry", "5000"}, "Datastar-Retry", "is Datastar-Retry-Duration"},
		{"short parameter name", "/topics/retry?retry=5000", "text/html", `<p>x</p>`, nil, "retry", "is the retryDuration parameter"},
		{"short header name on a batch", "/publish", "application/json", `{"topics":["retry"],"events":[{"type":"patchSignals","signals":{"r":1}}]}`, []string{"Datastar-Retry", "5000"}, "Datastar-Retry", "Datastar-Retry-Duration"},
	}
	for _, c := range refused {
		status, res := post(t, srv, c.path, c.contentType, c.body, c.header...)
		if status != http.StatusBadRequest || res.Field != c.field || !strings.Contains(res.Error, c.msg) {
			t.Errorf("%s: %d field %q %q, want 400 naming %s saying %q", c.name, status, res.Field, res.Error, c.field, c.msg)
		}
	}
	if n := h.Stats().Events; n != published {
		t.Errorf("%d events published by refused publishes", n-published)
	}
}
