package web_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubd-dev/hubd/hub"
)

// startNATS starts a NATS server with JetStream storing in dir, on
// 127.0.0.1:port (a free port when 0). stop shuts it down, at the latest
// when the test ends.
func startNATS(t *testing.T, dir string, port int) (srv *server.Server, stop func()) {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	stop = func() { srv.Shutdown(); srv.WaitForShutdown() }
	t.Cleanup(stop)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return srv, stop
}

// clusterNode starts a hub on the event log at natsURL and serves it on
// loopback, as one node of a cluster. The hub shuts down, then the log
// closes, when the test ends.
func clusterNode(t *testing.T, natsURL string, hc hub.Config) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h, s := heldNode(t, natsURL, hc)
	srv := newTestServer(t, s, h)
	if err := h.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv, h
}

// readEvents reads n events (ID-only frames skipped) from c.
func readEvents(t *testing.T, c *sseClient, n int) []event {
	t.Helper()
	var out []event
	for range n {
		ev, err := c.nextEvent()
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, ev)
	}
	return out
}

func idsOf(evs []event) []string {
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}

// TestClusterThreeNodes checks that three nodes on one NATS behave as one
// hub: a publish on node 2 reaches subscribers of nodes 1 and 3 with the
// same IDs, bytes and order; a subscriber of node 1 that reconnects to
// node 3 with its Last-Event-ID gets exactly what it missed; node 1 says
// in /metrics that it is connected.
func TestClusterThreeNodes(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	n2, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	n3, _ := clusterNode(t, nats.ClientURL(), hub.Config{HistorySize: 2}) // replays older events from the log
	s1 := subscribe(t, n1, "/topics/news", "")
	s3 := subscribe(t, n3, "/topics/news", "")

	var published []string
	for i := range 5 {
		published = append(published, publishHTML(t, n2, "news", fmt.Sprintf("<p>%d</p>", i)))
	}
	got1, got3 := readEvents(t, s1, 5), readEvents(t, s3, 5)
	if !slices.Equal(idsOf(got1), published) || !slices.Equal(got1, got3) {
		t.Fatalf("node 1 got %v, node 3 %v; node 2 published %v", got1, got3, published)
	}
	for i, ev := range got1 {
		if want := fmt.Sprintf("elements <p>%d</p>", i); ev.Data != want {
			t.Errorf("event %d data %q, want %q", i, ev.Data, want)
		}
	}

	// The subscriber of node 1 goes away after event 2; more is published;
	// it comes back to node 3, which holds only the newest 2 in memory.
	last := got1[1].ID
	s1.Close()
	for i := 5; i < 8; i++ {
		published = append(published, publishHTML(t, n2, "news", fmt.Sprintf("<p>%d</p>", i)))
	}
	back := subscribe(t, n3, "/topics/news", last)
	var resumed []string
	for len(resumed) < len(published)-2 {
		ev, err := back.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != "datastar-patch-elements" {
			t.Fatalf("resumed stream: %+v before the events it missed", ev)
		}
		resumed = append(resumed, ev.ID)
	}
	if !slices.Equal(resumed, published[2:]) {
		t.Fatalf("resumed on node 3 with %s: got %v, want %v", last, resumed, published[2:])
	}
	if cur, err := back.next(); err != nil || cur.Type != "" || cur.ID != published[7] {
		t.Fatalf("after the replay: %+v (%v), want the cursor frame at %s", cur, err, published[7])
	}

	resp, err := n1.Client().Get(n1.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"hubd_cluster_connected 1", "hubd_cluster_lag_events 0"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics of node 1 lacks %q", want)
		}
	}
}

// TestClusterNATSRestart checks that while NATS is down publishes answer
// 503 with Retry-After, subscribers stay connected, and once NATS is back
// on the same store every subscriber of every node ends with every
// acknowledged event exactly once, in order.
func TestClusterNATSRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nats, stop := startNATS(t, dir, 0)
	port := nats.Addr().(*net.TCPAddr).Port
	n1, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	n2, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	subs := []*sseClient{subscribe(t, n1, "/topics/t", ""), subscribe(t, n2, "/topics/t", "")}

	var acked []string
	for i := range 3 {
		acked = append(acked, publishHTML(t, n1, "t", fmt.Sprintf("<p>before %d</p>", i)))
	}
	stop()
	for i, node := range []*httptest.Server{n1, n2} {
		req, _ := http.NewRequest(http.MethodPost, node.URL+"/topics/t", strings.NewReader("<p>lost?</p>"))
		req.Header.Set("Content-Type", "text/html")
		resp, err := node.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(body), "unavailable") {
			t.Fatalf("node %d publish with NATS down: %s, Retry-After %q, %s", i+1, resp.Status, resp.Header.Get("Retry-After"), body)
		}
	}

	startNATS(t, dir, port)
	// The nodes reconnect on their own; publish on each until one is
	// stored.
	for _, node := range []*httptest.Server{n2, n1} {
		waitFor(t, func() bool {
			status, res, err := tryPost(node, "/topics/t", "text/html", "<p>after</p>")
			if err == nil && status == http.StatusOK {
				acked = append(acked, res.ID)
			}
			return err == nil && status == http.StatusOK
		})
	}

	for i, c := range subs {
		var got []string
		for !slices.Contains(got, acked[len(acked)-1]) {
			ev, err := c.nextEvent()
			if err != nil {
				t.Fatalf("subscriber of node %d after %v: %v", i+1, got, err)
			}
			got = append(got, ev.ID)
		}
		if !slices.IsSortedFunc(got, func(a, b string) int { return int(seqOf(t, a)) - int(seqOf(t, b)) }) ||
			len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("subscriber of node %d: %v not in order once each", i+1, got)
		}
		for _, id := range acked {
			if !slices.Contains(got, id) {
				t.Errorf("subscriber of node %d lacks acknowledged %s: got %v", i+1, id, got)
			}
		}
	}
}

// TestClusterIdempotencyKey checks that the same publish twice with one
// Idempotency-Key is stored once and answers the same ID, over HTTP, for
// single and batch publishes; and that bad keys are refused by name.
func TestClusterIdempotencyKey(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, h := clusterNode(t, nats.ClientURL(), hub.Config{})
	n2, _ := clusterNode(t, nats.ClientURL(), hub.Config{})

	_, first := post(t, n1, "/topics/k", "text/html", "<p>once</p>", "Idempotency-Key", "order-17")
	_, again := post(t, n2, "/topics/k", "text/html", "<p>once</p>", "Idempotency-Key", "order-17")
	if first.ID == "" || again.ID != first.ID {
		t.Fatalf("retry answered %q, the first %q", again.ID, first.ID)
	}
	batch := batchOf("k", 2)
	_, b1 := post(t, n1, "/publish", "application/json", batch, "Idempotency-Key", "batch-1")
	_, b2 := post(t, n2, "/publish", "application/json", batch, "Idempotency-Key", "batch-1")
	if len(b1.IDs) != 2 || !slices.Equal(b1.IDs, b2.IDs) {
		t.Fatalf("batch retry answered %v, the first %v", b2.IDs, b1.IDs)
	}
	if n := h.Stats().HistoryLen; n != 3 {
		t.Errorf("node 1 holds %d events, want 3", n)
	}

	for name, key := range map[string]string{"long": strings.Repeat("k", 129), "control": "a\tb"} {
		status, res := post(t, n1, "/topics/k", "text/html", "<p>x</p>", "Idempotency-Key", key)
		if status != http.StatusBadRequest || res.Field != "Idempotency-Key" {
			t.Errorf("%s key: %d %+v, want 400 naming Idempotency-Key", name, status, res)
		}
	}
}

// TestClusterReadyWhenCaughtUp checks that /readyz answers 200 once a
// node applied what the log held when it started, and that a node is
// caught up at once on an empty log.
func TestClusterReadyWhenCaughtUp(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	for i := range 20 {
		publishHTML(t, n1, "r", fmt.Sprintf("<p>%d</p>", i))
	}
	n2, h2 := clusterNode(t, nats.ClientURL(), hub.Config{HistorySize: 10})
	if !h2.CaughtUp() {
		t.Fatal("WaitCaughtUp returned, CaughtUp is false")
	}
	for _, node := range []*httptest.Server{n1, n2} {
		resp, err := node.Client().Get(node.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/readyz: %s", resp.Status)
		}
	}
	if st := h2.Stats(); st.HistoryLen != 10 {
		t.Errorf("late node holds %d events, want its history size 10", st.HistoryLen)
	}
}
