package web_test

import (
	"slices"
	"testing"

	"github.com/hubd-dev/hubd/hub"
)

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

	// Nothing went to b: the first event its subscriber gets is this one.
	marker := publishHTML(t, n1, "b", "<p>marker</p>")
	if ev := readEvents(t, onB, 1)[0]; ev.ID != marker {
		t.Errorf("b's subscriber got %+v first, want the marker %s", ev, marker)
	}
}
