package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// limitedNode starts a cluster node, as clusterNode does, on a stream
// that keeps at most maxMsgs events, and returns its log too.
func limitedNode(t *testing.T, natsURL string, maxMsgs int64) (*httptest.Server, *cluster.Log) {
	t.Helper()
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: natsURL, MaxMsgs: maxMsgs, PublishTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the hub's shutdown, registered below
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	h, s := newAPI(t, hub.Config{Log: l}, web.Config{})
	srv := newTestServer(t, s, h)
	if err := h.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv, l
}

// TestClusterRetainedOutlivesStream: a node started after the stream's
// limit dropped every event that built a topic's retained state still
// gets that state, and a node started after another cleared a topic's
// state does not get it back.
func TestClusterRetainedOutlivesStream(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	const keep = 5
	n1, l := limitedNode(t, nats.ClientURL(), keep)

	mustPost := func(srv *httptest.Server, path, contentType, body string, headers ...string) string {
		t.Helper()
		status, res := post(t, srv, path, contentType, body, headers...)
		if status != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, status, res.Error)
		}
		return res.ID
	}
	mustPost(n1, "/topics/room?retain=true", "application/json", `{"count":1,"who":{"ann":true}}`)
	mustPost(n1, "/topics/room?retain=true", "text/html", `<p id="status">open</p>`)
	mustPost(n1, "/topics/room?retain=true", "application/json", `{"count":2}`)
	last := mustPost(n1, "/topics/gone?retain=true", "application/json", `{"stale":true}`)
	n2, _ := limitedNode(t, nats.ClientURL(), keep)
	if status, body := deleteRetained(t, n2, "gone"); status != http.StatusNoContent {
		t.Fatalf("clear on node 2: %d %s", status, body)
	}
	for i := range keep {
		mustPost(n1, "/topics/other", "text/html", fmt.Sprintf("<p>%d</p>", i))
	}
	st, err := l.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.First <= seqOf(t, last)+1 { // the clear came right after last
		t.Fatalf("the stream still holds from %d on; the test needs it to have dropped %s and the clear", st.First, last)
	}

	n3, _ := limitedNode(t, nats.ClientURL(), keep)
	c := subscribe(t, n3, "/subscribe?topic=room&topic=gone", "")
	wantFrame(t, c, "datastar-patch-signals", `signals {"count":2,"who":{"ann":true}}`, "")
	wantFrame(t, c, "datastar-patch-elements", `elements <p id="status">open</p>`, "")
	live := publishHTML(t, n1, "room", `<p id="status">live</p>`)
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Data != "" && ev.ID != live {
			t.Fatalf("after the state, %+v before the live event", ev)
		}
		if ev.ID == live {
			break
		}
	}
}

// TestClusterIdempotencyKeyAnswersFirst: a repeated Idempotency-Key on
// another node, to other topics, answers what the first publish did (its
// topics and IDs) and publishes nothing, as a single node does; for a
// single event and for a batch.
func TestClusterIdempotencyKeyAnswersFirst(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	n2, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	onB := subscribe(t, n2, "/topics/b", "")

	_, first := post(t, n1, "/topics/a", "text/html", "<p>to a</p>", "Idempotency-Key", "K")
	_, again := post(t, n2, "/topics/b", "text/html", "<p>to b</p>", "Idempotency-Key", "K")
	if again.ID != first.ID || !slices.Equal(again.Topics, []string{"a"}) {
		t.Errorf("K again, to b: id %q topics %v; want the first's %q [a]", again.ID, again.Topics, first.ID)
	}

	_, b1 := post(t, n1, "/publish", "application/json", batchOf("a", 2), "Idempotency-Key", "B")
	_, b2 := post(t, n2, "/publish", "application/json", batchOf("b", 3), "Idempotency-Key", "B")
	if len(b1.IDs) != 2 || !slices.Equal(b2.IDs, b1.IDs) || !slices.Equal(b2.Topics, []string{"a"}) {
		t.Errorf("batch B again, to b: ids %v topics %v; want the first's %v [a]", b2.IDs, b2.Topics, b1.IDs)
	}
	// One event under the batch's key, to its topic: the batch's answer.
	_, b3 := post(t, n2, "/topics/a", "text/html", "<p>one</p>", "Idempotency-Key", "B")
	if !slices.Equal(b3.IDs, b1.IDs) {
		t.Errorf("one event under the batch's key: ids %v, want the batch's %v", b3.IDs, b1.IDs)
	}

	// Nothing went to b: the first event its subscriber gets is this one.
	marker := publishHTML(t, n1, "b", "<p>marker</p>")
	if ev := readEvents(t, onB, 1)[0]; ev.ID != marker {
		t.Errorf("b's subscriber got %+v first, want the marker %s", ev, marker)
	}
}
