package cluster_test

import (
	"sync"
	"testing"

	"github.com/hubd-dev/hubd/hub"
)

// TestShareDisconnects checks that a disconnect sent by one node reaches
// every other node, never the sender's own apply, and that the sender
// adds up what the others answered; after stop, a node no longer answers.
func TestShareDisconnects(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	a, b, c := open(t, testConfig(srv)), open(t, testConfig(srv)), open(t, testConfig(srv))
	var mu sync.Mutex
	got := map[string][]hub.Disconnect{}
	applier := func(name string, n int) func(hub.Disconnect) int {
		return func(d hub.Disconnect) int {
			mu.Lock()
			defer mu.Unlock()
			got[name] = append(got[name], d)
			return n
		}
	}
	sendA, stopA, err := a.ShareDisconnects(applier("a", 100))
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	_, stopB, err := b.ShareDisconnects(applier("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()
	_, stopC, err := c.ShareDisconnects(applier("c", 3))
	if err != nil {
		t.Fatal(err)
	}

	d := hub.Disconnect{User: "alice"}
	ended, nodes, err := sendA(t.Context(), d)
	if err != nil || ended != 5 || nodes != 2 {
		t.Fatalf("send: %d ended on %d nodes (%v), want 5 on 2", ended, nodes, err)
	}
	mu.Lock()
	if len(got["a"]) != 0 || len(got["b"]) != 1 || got["b"][0] != d || len(got["c"]) != 1 {
		t.Fatalf("applied: %v; want b and c once each, never a", got)
	}
	mu.Unlock()

	stopC()
	stopC() // idempotent
	ended, nodes, err = sendA(t.Context(), hub.Disconnect{Topic: "news"})
	if err != nil || ended != 2 || nodes != 1 {
		t.Fatalf("after c stopped: %d ended on %d nodes (%v), want 2 on 1", ended, nodes, err)
	}
}
