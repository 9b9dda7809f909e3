package cluster_test

import (
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
)

// TestShareNodes: two nodes on one NATS server hear what the other says
// about itself, as it changes, and a node that stops drops out of the
// other's list.
func TestShareNodes(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	a, b := open(t, testConfig(srv)), open(t, testConfig(srv))
	started := time.Now().Truncate(time.Second)
	lists := make(chan []hub.NodeInfo, 64)
	stopA, err := a.ShareNodes(func() hub.NodeInfo { return hub.NodeInfo{ID: "a", Version: "v1", Started: started} },
		func(others []hub.NodeInfo) { lists <- others })
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	clients := make(chan int, 1)
	clients <- 1
	stopB, err := b.ShareNodes(func() hub.NodeInfo {
		n := <-clients
		clients <- n + 1 // each time b tells, it has one more client
		return hub.NodeInfo{ID: "b", Version: "v2", Started: started, Clients: n, Lag: 7}
	}, func([]hub.NodeInfo) {})
	if err != nil {
		t.Fatal(err)
	}

	// awaitList waits until a's latest list satisfies ok.
	awaitList := func(what string, ok func([]hub.NodeInfo) bool) {
		t.Helper()
		timeout := time.After(waitFor)
		for {
			select {
			case l := <-lists:
				if ok(l) {
					return
				}
			case <-timeout:
				t.Fatalf("a never heard %s", what)
			}
		}
	}
	awaitList("b at 2 clients", func(l []hub.NodeInfo) bool {
		return len(l) == 1 && l[0].ID == "b" && l[0].Version == "v2" && l[0].Started.Equal(started) && l[0].Lag == 7 && l[0].Clients >= 2
	})
	stopB()
	awaitList("b gone", func(l []hub.NodeInfo) bool { return len(l) == 0 })
}
