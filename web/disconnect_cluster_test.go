package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/hubd-dev/hubd/hub"
)

// TestClusterDisconnect checks that a disconnect sent to one node of a
// cluster ends the matching streams on every node, and that the answer
// counts them and the nodes that answered.
func TestClusterDisconnect(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, h1 := clusterNode(t, nats.ClientURL(), hub.Config{})
	n2, _ := clusterNode(t, nats.ClientURL(), hub.Config{})
	n3, h3 := clusterNode(t, nats.ClientURL(), hub.Config{})
	s1 := subscribe(t, n1, "/topics/news", "")
	s3 := subscribe(t, n3, "/topics/news", "")
	keep := subscribe(t, n3, "/topics/other", "")
	for _, c := range []*sseClient{s1, s3, keep} {
		if _, err := c.next(); err != nil {
			t.Fatal(err)
		}
	}

	a := request(t, n2, http.MethodPost, "/streams/disconnect", hdr("Content-Type", "application/json"), `{"topic": "news"}`)
	var out struct{ Disconnected, Nodes int }
	if err := json.Unmarshal([]byte(a.raw), &out); err != nil || a.status != http.StatusOK || out.Disconnected != 2 || out.Nodes != 3 {
		t.Fatalf("disconnect on node 2: %d %s (%v); want 2 streams on 3 nodes", a.status, a.raw, err)
	}
	for i, c := range []*sseClient{s1, s3} {
		for {
			if _, err := c.next(); err != nil {
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("stream %d ended with %v, want a cut", i, err)
				}
				break
			}
		}
	}
	waitFor(t, func() bool { return h1.Stats().Clients == 0 && h3.Stats().Clients == 1 })
}
