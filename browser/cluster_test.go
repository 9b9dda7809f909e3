package browser_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestDashboardClusterView: on a node of a cluster (an embedded NATS
// server with JetStream on a temporary folder), the dashboard, with the
// official client, shows the node's ID and the event log's state: that
// the node is connected, the stream's last sequence, and that the node
// is not behind it.
func TestDashboardClusterView(t *testing.T) {
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: cluster.Embedded, DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the hub's shutdown, which serve registers below
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	srv, f, h := newHubServer(t, hub.Config{Log: l, NodeID: "node-b1"}, web.Config{}, nil)
	for range 3 {
		publish(t, srv, "news", "text/html", `<p id="n">news</p>`)
	}
	runStats(t, f, 100*time.Millisecond)

	ctx := newBrowser(t)
	problems := watchConsole(t, ctx)
	open(t, ctx, srv.URL+"/")
	waitSubscribers(t, h, hub.StatsTopic, 1)
	waitFor(t, ctx, 10*time.Second, `document.querySelector("#node code").textContent === "node-b1"`)
	waitFor(t, ctx, 10*time.Second, `getComputedStyle(document.querySelector("#cluster")).display !== "none"`)
	// The cluster line: connected, stream sequence 3, 0 events behind.
	waitFor(t, ctx, 10*time.Second, `(() => { const h = document.querySelector("#cluster h2");
		const b = [...h.querySelectorAll("b")].map((e) => e.textContent);
		return h.textContent.includes(" connected to the event log") && b[0] === "3" && b[1] === "0" })()`)
	// The table of nodes: this one, the only one.
	waitFor(t, ctx, 10*time.Second, `(() => { const rows = document.querySelectorAll("#hubd-nodes tr");
		return rows.length === 1 && rows[0].cells[0].textContent === "node-b1 this node" && rows[0].cells[4].textContent === "0" })()`)
	saveScreenshot(t, ctx, "dashboard-cluster.png")
	noProblems(t, ctx, problems)
}

// TestDashboardClusterNodes: the dashboard of one node of a two-node
// cluster lists both nodes, this one first, with their versions and
// clients, as the nodes tell each other.
func TestDashboardClusterNodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the embedded NATS server
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	first, err := cluster.Open(t.Context(), cluster.Config{URLs: cluster.Embedded, DataDir: t.TempDir(), EmbeddedListen: addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := cluster.Open(t.Context(), cluster.Config{URLs: "nats://" + addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the hubs' shutdown, registered below
		second.Close()
		first.Close()
	})
	other, err := hub.New(hub.Config{Log: second, NodeID: "node-b2", Version: "v2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Shutdown(context.Background()) })
	sub, err := other.Subscribe([]string{"news"}, "") // a client of the other node
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)

	srv, f, _ := newHubServer(t, hub.Config{Log: first, NodeID: "node-b1", Version: "v1.0.0"}, web.Config{}, nil)
	runStats(t, f, 100*time.Millisecond)

	ctx := newBrowser(t)
	problems := watchConsole(t, ctx)
	open(t, ctx, srv.URL+"/")
	waitFor(t, ctx, 10*time.Second, `(() => { const rows = [...document.querySelectorAll("#hubd-nodes tr")].map((r) =>
		[...r.cells].map((c, i) => i === 2 ? "" : c.textContent).join("|"));
		return rows.length === 2 && rows[0] === "node-b1 this node|v1.0.0||1|0" && rows[1] === "node-b2|v2.0.0||1|0" })()`)
	docScreenshot(t, ctx, "dashboard-cluster.png", 1200)
	noProblems(t, ctx, problems)
}
