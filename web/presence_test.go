package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// presenceOf returns topic's count if ev is a presence signal for it.
func presenceOf(ev event, topic string) (int, bool) {
	if ev.Type != "datastar-patch-signals" || !strings.HasPrefix(ev.Data, "signals ") {
		return 0, false
	}
	var v map[string]map[string]int
	if json.Unmarshal([]byte(strings.TrimPrefix(ev.Data, "signals ")), &v) != nil {
		return 0, false
	}
	n, ok := v[hub.PresenceSignal][topic]
	return n, ok
}

// awaitPresence reads c until a presence signal of topic says want, and
// fails after a few seconds or on any other event. Every presence event
// must come without an id.
func awaitPresence(t *testing.T, c *sseClient, topic string, want int) {
	t.Helper()
	timer := time.AfterFunc(5*time.Second, c.Close)
	defer timer.Stop()
	var seen []int
	for {
		ev, err := c.nextEvent()
		if err != nil {
			t.Fatalf("waiting for %d on %q (saw %v): %v", want, topic, seen, err)
		}
		n, ok := presenceOf(ev, topic)
		if !ok {
			t.Fatalf("waiting for %d on %q: got %+v", want, topic, ev)
		}
		if ev.ID != "" {
			t.Fatalf("a presence event with id %q", ev.ID)
		}
		if n == want {
			return
		}
		seen = append(seen, n)
	}
}

// getPresence asks GET /topics/{topic}/presence (path as given).
func getPresence(t *testing.T, srv *httptest.Server, path string, header http.Header) (int, map[string]any) {
	t.Helper()
	a := request(t, srv, http.MethodGet, path, header, "")
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q: %s", path, ct, a.raw)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(a.raw), &v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, a.raw)
	}
	return a.status, v
}

func TestPresenceStream(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{})
	a := subscribe(t, srv, "/topics/demo/chat?presence=true", "")
	awaitPresence(t, a, "demo/chat", 1)
	cursor := a.lastID
	if cursor == "" {
		t.Fatal("no cursor before the presence signal")
	}

	// Every subscriber counts, presence or not, and leaving counts.
	b := subscribe(t, srv, "/subscribe?topic=demo/chat&topic=other", "")
	awaitPresence(t, a, "demo/chat", 2)
	b.Close()
	awaitPresence(t, a, "demo/chat", 1)
	if n := h.Presence("demo/chat"); n != 1 {
		t.Errorf("hub says %d subscribers, want 1", n)
	}

	// Presence is never history: the client's cursor did not move, and a
	// reconnect with it replays the event published since and no presence.
	if a.lastID != cursor {
		t.Errorf("the last event ID moved from %q to %q", cursor, a.lastID)
	}
	id := publishHTML(t, srv, "demo/chat", "<li id=m1>hi</li>")
	a.Close()
	re := subscribe(t, srv, "/topics/demo/chat", cursor)
	ev, err := re.nextEvent()
	if err != nil || ev.ID != id || ev.Type != "datastar-patch-elements" {
		t.Fatalf("replay starts with %+v (%v), want the event %s", ev, err, id)
	}
	next, err := re.next()
	if err != nil || next.Type != "" || next.ID != id {
		t.Fatalf("after the replay: %+v (%v), want the cursor %s and no presence", next, err, id)
	}
	// And with presence asked again, the signal follows the cursor.
	re2 := subscribe(t, srv, "/subscribe?topic=demo/chat&presence=1", id)
	awaitPresence(t, re2, "demo/chat", 2)
	if re2.lastID != id {
		t.Errorf("cursor %q, want %q", re2.lastID, id)
	}
}

func TestPresenceParam(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	for _, v := range []string{"maybe", "yes", "2"} {
		status, body := getPresence(t, srv, "/topics/room?presence="+v, nil)
		if status != http.StatusBadRequest || body["field"] != "presence" || !strings.Contains(fmt.Sprint(body["error"]), v) {
			t.Errorf("presence=%s: %d %v, want 400 naming the field and the value", v, status, body)
		}
	}
	// presence=false streams without the signal.
	c := subscribe(t, srv, "/topics/room?presence=false", "")
	publishHTML(t, srv, "room", "<p id=x>x</p>")
	ev, err := c.nextEvent()
	if err != nil || ev.Type != "datastar-patch-elements" {
		t.Fatalf("first event %+v (%v), want the published patch", ev, err)
	}
}

func TestPresenceJSON(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	status, body := getPresence(t, srv, "/topics/demo/chat/presence", nil)
	if status != http.StatusOK || body["topic"] != "demo/chat" || body["subscribers"] != 0.0 {
		t.Fatalf("with none: %d %v", status, body)
	}
	subscribe(t, srv, "/topics/demo/chat", "")
	subscribe(t, srv, "/subscribe?topic=demo/chat&topic=x", "")
	status, body = getPresence(t, srv, "/topics/demo/chat/presence", nil)
	if status != http.StatusOK || body["topic"] != "demo/chat" || body["subscribers"] != 2.0 {
		t.Fatalf("with two: %d %v", status, body)
	}
	// A topic named ".../presence" streams with its slash escaped.
	c := subscribe(t, srv, "/topics/x%2Fpresence", "")
	publishHTML(t, srv, "x/presence", "<p id=y>y</p>")
	if ev, err := c.nextEvent(); err != nil || ev.Type != "datastar-patch-elements" {
		t.Fatalf("stream of x/presence: %+v (%v)", ev, err)
	}
	if status, body = getPresence(t, srv, "/topics/bad%20topic/presence", nil); status != http.StatusBadRequest || body["field"] != "topic" {
		t.Errorf("bad topic: %d %v", status, body)
	}
}

func TestPresenceJSONAuthorized(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{}, "public/*")
	if status, body := getPresence(t, srv, "/topics/public/a/presence", nil); status != http.StatusOK || body["subscribers"] != 0.0 {
		t.Errorf("anonymous topic: %d %v", status, body)
	}
	if status, _ := getPresence(t, srv, "/topics/secret/presence", nil); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", status)
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	if status, _ := getPresence(t, srv, "/topics/secret/presence", bearer(token(t, nil, auth.Patterns{"other"}, time.Minute))); status != http.StatusForbidden {
		t.Errorf("with a token for another topic: %d, want 403", status)
	}
	if status, body := getPresence(t, srv, "/topics/secret/presence", bearer(token(t, nil, auth.Patterns{"secret"}, time.Minute))); status != http.StatusOK || body["topic"] != "secret" {
		t.Errorf("with a token for it: %d %v", status, body)
	}
}

func TestPresenceCluster(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	one, _ := clusterNode(t, nats.ClientURL(), hub.Config{NodeID: "one"})
	two, _ := clusterNode(t, nats.ClientURL(), hub.Config{NodeID: "two"})

	a := subscribe(t, one, "/topics/room?presence=true", "")
	awaitPresence(t, a, "room", 1)
	b := subscribe(t, two, "/topics/room?presence=true", "")
	c := subscribe(t, two, "/topics/room", "")
	awaitPresence(t, a, "room", 3)
	awaitPresence(t, b, "room", 3)
	for _, srv := range []*httptest.Server{one, two} {
		if status, body := getPresence(t, srv, "/topics/room/presence", nil); status != http.StatusOK || body["subscribers"] != 3.0 {
			t.Errorf("%s: %d %v, want 3 subscribers", srv.URL, status, body)
		}
	}
	c.Close()
	awaitPresence(t, a, "room", 2)
	awaitPresence(t, b, "room", 2)
}
