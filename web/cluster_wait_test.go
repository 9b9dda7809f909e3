package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// heldNATS starts a NATS server with JetStream and two users: "full" may
// do anything; "held" may do anything but create a consumer, which a
// node needs to follow the stream, so that a node connected as held
// cannot apply a single event, however long a test looks. grant lifts
// that (a configuration reload of the live server): the node's follower,
// which keeps retrying, then gets going.
func heldNATS(t *testing.T) (fullURL, heldURL string, grant func()) {
	t.Helper()
	dir := t.TempDir()
	opts := func(port int, held *server.Permissions) *server.Options {
		return &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
			Users: []*server.User{{Username: "full", Password: "pw"}, {Username: "held", Password: "pw", Permissions: held}}}
	}
	noConsumers := &server.Permissions{Publish: &server.SubjectPermission{
		Deny: []string{"$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>"}}}
	srv, err := server.NewServer(opts(server.RANDOM_PORT, noConsumers))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	port := srv.Addr().(*net.TCPAddr).Port
	grant = func() {
		if err := srv.ReloadOptions(opts(port, nil)); err != nil {
			t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return "nats://full:pw@" + addr, "nats://held:pw@" + addr, grant
}

// heldNode starts a hub on the event log at natsURL and its HTTP surface,
// without waiting for it to catch up; the hub shuts down, then the log
// closes, when the test ends.
func heldNode(t *testing.T, natsURL string, hc hub.Config) (*hub.Hub, *web.Server) {
	t.Helper()
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: natsURL, PublishTimeout: time.Second,
		ReconnectWait: 20 * time.Millisecond, ReconnectMaxWait: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the hub's shutdown, registered below
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	hc.Log = l
	return newAPI(t, hc, web.Config{})
}

func getStatus(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestClusterNotReadyWhileCatchingUp checks that /readyz answers 503 while
// a node has not applied what the stream held when it started (here its
// follower is held back by NATS permissions, so the answer cannot race
// the catch-up), and 200 once it has.
func TestClusterNotReadyWhileCatchingUp(t *testing.T) {
	t.Parallel()
	fullURL, heldURL, grant := heldNATS(t)
	n1, _ := clusterNode(t, fullURL, hub.Config{})
	for i := range 5 {
		publishHTML(t, n1, "r", fmt.Sprintf("<p>%d</p>", i))
	}
	h2, api2 := heldNode(t, heldURL, hub.Config{})
	n2 := newTestServer(t, api2, h2)

	status, body := getStatus(t, n2, "/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "catching up") {
		t.Fatalf("/readyz of a node that applied nothing of 5 events: %d %s, want 503 catching up", status, body)
	}
	if h2.CaughtUp() || h2.Stats().HistoryLen != 0 {
		t.Fatalf("caught up %v with %d events before it could follow", h2.CaughtUp(), h2.Stats().HistoryLen)
	}

	grant()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := h2.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("once it may follow: %v", err)
	}
	if status, body := getStatus(t, n2, "/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz once caught up: %d %s", status, body)
	}
	if n := h2.Stats().HistoryLen; n != 5 {
		t.Errorf("caught up with %d events, want 5", n)
	}
}

// TestClusterSubscribeWaitEndsWithClient checks that a subscriber whose
// Last-Event-ID this node has not applied yet (another node stored it)
// stops the node's wait by going away: its handler returns at once
// instead of after the hub's own bound of several seconds.
func TestClusterSubscribeWaitEndsWithClient(t *testing.T) {
	t.Parallel()
	fullURL, heldURL, _ := heldNATS(t)
	n1, _ := clusterNode(t, fullURL, hub.Config{})
	h2, api2 := heldNode(t, heldURL, hub.Config{}) // on an empty stream: caught up at once
	entered, returned := make(chan struct{}, 1), make(chan struct{}, 1)
	n2 := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/topics/") {
			entered <- struct{}{}
			defer func() { returned <- struct{}{} }()
		}
		api2.ServeHTTP(w, r)
	}), h2)
	id := publishHTML(t, n1, "t", "<p>stored, not applied on node 2</p>")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	failed := make(chan error, 1)
	go func() { // ends when the request is cancelled below
		_, err := trySubscribeCtx(ctx, n2, "/topics/t", id)
		failed <- err
	}()
	<-entered
	cancel()
	start := time.Now()
	select {
	case <-returned:
		t.Logf("handler returned %v after the client went", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still waits on the log 5s after its client went")
	}
	if err := <-failed; err == nil {
		t.Error("the subscribe succeeded, though node 2 cannot have applied the event")
	}
	if n := h2.Stats().Clients; n != 0 {
		t.Errorf("%d clients registered after the client went", n)
	}
}

// statsUntil reads the stats stream c until a datastar-patch-signals
// event holds every piece of want, and returns it; it fails after 30s.
func statsUntil(t *testing.T, c *sseClient, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("stats stream: %v (last signals %s)", err, last)
		}
		if ev.Type != "datastar-patch-signals" {
			continue
		}
		last = ev.Data
		found := true
		for _, w := range want {
			found = found && strings.Contains(ev.Data, w)
		}
		if found {
			return ev.Data
		}
	}
	t.Fatalf("no stats signals with %q in 30s; last: %s", want, last)
	return ""
}

// TestDashboardClusterState checks, over the real stats stream of a
// cluster node, that the dashboard's signals carry the node ID and the
// cluster's state: connected, the stream's last sequence and how far
// this node lags behind it, while it is held back and once it follows.
func TestDashboardClusterState(t *testing.T) {
	t.Parallel()
	fullURL, heldURL, grant := heldNATS(t)
	n1, _ := clusterNode(t, fullURL, hub.Config{NodeID: "node-1"})
	for i := range 3 {
		publishHTML(t, n1, "news", fmt.Sprintf("<p>%d</p>", i))
	}
	h2, api2 := heldNode(t, heldURL, hub.Config{NodeID: "node-2"})
	n2 := newTestServer(t, api2, h2)
	ctx, cancel := context.WithCancel(context.Background())
	stats := make(chan struct{})
	go func() { // ends with cancel, at the end of the test
		defer close(stats)
		api2.RunStats(ctx, 20*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-stats })

	c := subscribe(t, n2, "/topics/%24hubd/stats", "")
	statsUntil(t, c, `"nodeId":"node-2"`, `"clustered":true`, `"connected":true`, `"streamSeq":3`, `"lag":3`)
	grant()
	statsUntil(t, c, `"nodeId":"node-2"`, `"connected":true`, `"streamSeq":3`, `"lag":0`, `"history":3`)
}
