package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// wantFrame reads the next frame of c and checks its type, data and id.
func wantFrame(t *testing.T, c *sseClient, typ, data, id string) {
	t.Helper()
	ev, err := c.next()
	if err != nil || ev.Type != typ || ev.Data != data || ev.ID != id {
		t.Fatalf("frame %+v (%v); want type %q, data %q, id %q", ev, err, typ, data, id)
	}
}

func deleteRetained(t *testing.T, srv *httptest.Server, topic string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, srv.URL+"/topics/"+topic+"/retained", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRetainedLateJoinerHTTP: retained publishes, by header, parameter
// and batch, reach a subscriber that comes later: first one signals event
// with the merged signals and the element patches in publish order, with
// no id of their own, then the cursor, then live events.
func TestRetainedLateJoinerHTTP(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	post(t, srv, "/topics/room", "application/json", `{"count":1,"who":{"ann":true,"bob":true}}`, "Hubd-Retain", "true")
	post(t, srv, "/topics/room?retain=true", "text/html", `<p id="status">open</p>`)
	post(t, srv, "/topics/room", "application/json", `{"notRetained":1}`)
	status, res := post(t, srv, "/publish", "application/json",
		`{"topics":["room"],"retain":true,"events":[{"type":"patchSignals","signals":{"count":2,"who":{"bob":null}}},{"type":"patchElements","selector":"#log","mode":"append","elements":"<li>hi</li>"}]}`)
	if status != http.StatusOK {
		t.Fatalf("batch: %d %s", status, res.Error)
	}

	c := subscribe(t, srv, "/topics/room", "")
	wantFrame(t, c, "datastar-patch-signals", `signals {"count":2,"who":{"ann":true}}`, "")
	wantFrame(t, c, "datastar-patch-elements", `elements <p id="status">open</p>`, "")
	wantFrame(t, c, "datastar-patch-elements", "mode append\nselector #log\nelements <li>hi</li>", "")
	wantFrame(t, c, "", "", res.ID) // the cursor
	live := publishHTML(t, srv, "room", `<p id="status">live</p>`)
	wantFrame(t, c, "datastar-patch-elements", `elements <p id="status">live</p>`, live)
}

// TestRetainedGapHTTP: a subscriber whose Last-Event-ID is past the
// history gets the retained state right after the missed signal.
func TestRetainedGapHTTP(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{HistoryPerTopic: 1}, web.Config{})
	_, first := post(t, srv, "/topics/g", "application/json", `{"a":1}`, "Hubd-Retain", "true")
	post(t, srv, "/topics/g", "application/json", `{"b":2}`, "Hubd-Retain", "true")
	_, last := post(t, srv, "/topics/g", "application/json", `{"c":3}`, "Hubd-Retain", "true")
	c := subscribe(t, srv, "/topics/g", first.ID)
	wantFrame(t, c, "datastar-patch-signals", `signals {"`+hub.MissedSignal+`":true}`, "")
	wantFrame(t, c, "datastar-patch-signals", `signals {"a":1,"b":2,"c":3}`, "")
	wantFrame(t, c, "datastar-patch-signals", `signals {"c":3}`, last.ID) // what history holds
}

// TestRetainedRefusedHTTP: a publish past a retained bound, or one that
// cannot be retained, is refused with its status and reason, and nothing
// reaches subscribers.
func TestRetainedRefusedHTTP(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{RetainedTopicBytes: 64, RetainedBytes: 100}, web.Config{})
	c := subscribe(t, srv, "/topics/a", "")
	if _, err := c.next(); err != nil { // the cursor
		t.Fatal(err)
	}
	_, onA := post(t, srv, "/topics/a", "application/json", `{"v":"`+strings.Repeat("x", 30)+`"}`, "Hubd-Retain", "true")
	post(t, srv, "/topics/b", "application/json", `{"v":"`+strings.Repeat("x", 30)+`"}`, "Hubd-Retain", "true")
	before := h.Stats().Events
	for _, tc := range []struct {
		name, path, ct, body string
		status               int
		msg                  string
	}{
		{"topic bound", "/topics/a?retain=true", "application/json", `{"w":"` + strings.Repeat("y", 40) + `"}`, http.StatusRequestEntityTooLarge, "retained-topic-bytes"},
		{"total bound", "/topics/c?retain=true", "application/json", `{"w":"` + strings.Repeat("y", 40) + `"}`, http.StatusInsufficientStorage, "retained-bytes"},
		{"total bound in a batch", "/publish", "application/json", `{"topics":["c","d"],"retain":true,"events":[{"type":"patchSignals","signals":{"w":"` + strings.Repeat("y", 25) + `"}}]}`, http.StatusInsufficientStorage, "retained-bytes"},
		{"script", "/topics/a?retain=true", "text/javascript", `alert(1)`, http.StatusBadRequest, "script cannot be retained"},
		{"no target", "/topics/a?retain=true", "text/html", `<p>no id</p>`, http.StatusBadRequest, "needs a selector"},
		{"bad flag", "/topics/a?retain=maybe", "application/json", `{}`, http.StatusBadRequest, "retain"},
		{"long flag", "/topics/a?retain=" + strings.Repeat("t", 5000), "application/json", `{}`, http.StatusBadRequest, "more than the limit of 4096 for an option"},
	} {
		status, res := post(t, srv, tc.path, tc.ct, tc.body)
		if status != tc.status || res.Field != "retain" || !strings.Contains(res.Error, tc.msg) {
			t.Errorf("%s: %d %+v; want %d, field retain, error naming %q", tc.name, status, res, tc.status, tc.msg)
		}
	}
	if after := h.Stats().Events; after != before {
		t.Fatalf("refused publishes published %d events", after-before)
	}
	// The live subscriber got the one accepted event on a, nothing else.
	live := publishHTML(t, srv, "a", `<p id="x">x</p>`)
	wantFrame(t, c, "datastar-patch-signals", `signals {"v":"`+strings.Repeat("x", 30)+`"}`, onA.ID)
	wantFrame(t, c, "datastar-patch-elements", `elements <p id="x">x</p>`, live)
}

// TestRetainedDeleteAndMetrics: DELETE clears a topic's retained state,
// with publish authorization, and /metrics counts retained topics and
// bytes.
func TestRetainedDeleteAndMetrics(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	post(t, srv, "/topics/news/today", "application/json", `{"headline":"x"}`, "Hubd-Retain", "true")
	post(t, srv, "/topics/other", "application/json", `{"y":1}`, "Hubd-Retain", "true")
	if m := metrics(t, srv); !strings.Contains(m, "hubd_retained_topics 2\n") || strings.Contains(m, "hubd_retained_bytes 0\n") {
		t.Fatalf("metrics before delete:\n%s", grepLines(m, "hubd_retained"))
	}
	if status, body := deleteRetained(t, srv, "news/today"); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	c := subscribe(t, srv, "/topics/news/today", "")
	if ev, err := c.next(); err != nil || ev.Type != "" {
		t.Fatalf("after DELETE: first frame %+v (%v), want the cursor only", ev, err)
	}
	if m := metrics(t, srv); !strings.Contains(m, "hubd_retained_topics 1\n") {
		t.Fatalf("metrics after delete:\n%s", grepLines(m, "hubd_retained"))
	}
	// Deleting again is fine; a reserved topic is not the caller's.
	if status, _ := deleteRetained(t, srv, "news/today"); status != http.StatusNoContent {
		t.Fatalf("second DELETE: %d", status)
	}
	if status, _ := deleteRetained(t, srv, "$hubd/stats"); status != http.StatusForbidden && status != http.StatusBadRequest {
		t.Fatalf("DELETE of a reserved topic: %d", status)
	}
}

// TestRetainedDeleteNeedsAuthorization: clearing takes the credential a
// publish to the topic takes.
func TestRetainedDeleteNeedsAuthorization(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{}, "news/**")
	news := "Bearer " + token(t, auth.Patterns{"news/**"}, auth.Patterns{"**"}, time.Hour)
	if status, _ := deleteRetained(t, srv, "news/a"); status != http.StatusUnauthorized {
		t.Fatalf("DELETE without a credential (though anyone may subscribe): %d, want 401", status)
	}
	if status, _ := deleteRetained(t, srv, "sports", "Authorization", news); status != http.StatusForbidden {
		t.Fatalf("DELETE of a topic the token does not grant: %d, want 403", status)
	}
	if status, body := deleteRetained(t, srv, "news/a", "Authorization", news); status != http.StatusNoContent {
		t.Fatalf("DELETE with the key: %d %s", status, body)
	}
}

func metrics(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestClusterRetained: two nodes on one NATS derive the same retained
// state from the stream, a clear on one clears it on both, and a
// subscriber of either gets it.
func TestClusterRetained(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, h1 := clusterNode(t, nats.ClientURL(), hub.Config{})
	n2, h2 := clusterNode(t, nats.ClientURL(), hub.Config{})
	post(t, n1, "/topics/room", "application/json", `{"a":1,"o":{"x":1}}`, "Hubd-Retain", "true")
	_, last := post(t, n2, "/topics/room", "application/json", `{"o":{"x":null,"y":2}}`, "Hubd-Retain", "true")
	waitFor(t, func() bool { return h1.Stats().LastID == last.ID && h2.Stats().LastID == last.ID })
	for i, n := range []*httptest.Server{n1, n2} {
		c := subscribe(t, n, "/topics/room", "")
		wantFrame(t, c, "datastar-patch-signals", `signals {"a":1,"o":{"y":2}}`, "")
		wantFrame(t, c, "", "", last.ID)
		c.Close()
		if n1, _ := []*hub.Hub{h1, h2}[i].RetainedStats(); n1 != 1 {
			t.Fatalf("node %d retains %d topics, want 1", i+1, n1)
		}
	}
	// Over a bound, refused before anything is stored.
	status, res := post(t, n1, "/topics/room?retain=true", "text/javascript", `alert(1)`)
	if status != http.StatusBadRequest || res.Field != "retain" {
		t.Fatalf("retained script on a cluster: %d %+v", status, res)
	}
	if status, body := deleteRetained(t, n2, "room"); status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	waitFor(t, func() bool {
		a, _ := h1.RetainedStats()
		b, _ := h2.RetainedStats()
		return a == 0 && b == 0
	})
	// The clearing is no event: a subscriber resuming from before it
	// gets only what was published after.
	after := publishHTML(t, n1, "room", `<p id="p">after</p>`)
	c := subscribe(t, n2, "/topics/room", last.ID)
	deadline := time.Now().Add(5 * time.Second)
	ev, err := c.next()
	for err == nil && ev.Type == "" && ev.ID != after && time.Now().Before(deadline) {
		ev, err = c.next()
	}
	if err != nil || ev.Type != "datastar-patch-elements" || ev.ID != after {
		t.Fatalf("resume after a clear: %+v (%v), want the event %s", ev, err, after)
	}
}
