package cluster

import (
	"fmt"
	"maps"
	"testing"
	"time"
)

// TestPeerTakesWholeRounds: a peer's counts change only when every part
// of a round arrived; a round missing a part leaves the previous complete
// one standing, and a message without parts is a whole round.
func TestPeerTakesWholeRounds(t *testing.T) {
	t.Parallel()
	counts := make(map[string]int)
	for i := range 5000 {
		counts[fmt.Sprintf("t/%d", i)] = i
	}
	parts := presenceParts(counts, 4096)
	if len(parts) < 3 {
		t.Fatalf("%d parts, want several", len(parts))
	}
	merged := make(map[string]int)
	for _, p := range parts {
		maps.Copy(merged, p)
	}
	if !maps.Equal(merged, counts) {
		t.Fatal("the parts do not add up to the counts")
	}
	now := time.Now()
	msg := func(round uint64, i int) presenceMsg {
		return presenceMsg{Round: round, Part: i, Parts: len(parts), Counts: parts[i]}
	}

	var p peer
	if !p.take(presenceMsg{Counts: map[string]int{"old": 1}}, now) || p.counts["old"] != 1 {
		t.Fatalf("a message without parts: counts %v", p.counts)
	}
	later := now.Add(time.Second)
	for i := range parts { // round 1 loses its last part
		if i < len(parts)-1 && p.take(msg(1, i), later) {
			t.Fatalf("round 1 taken after part %d of %d", i, len(parts))
		}
	}
	if !p.seen.Equal(now) {
		t.Fatal("parts of an incomplete round count as hearing from the peer")
	}
	for i := range parts { // round 2 arrives whole, part 0 twice
		done := p.take(msg(2, i), now)
		if i == 0 && p.take(msg(2, 0), now) {
			t.Fatal("a repeated part completed the round")
		}
		if done != (i == len(parts)-1) {
			t.Fatalf("round 2: part %d taken %v", i, done)
		}
		if !done && p.counts["old"] != 1 {
			t.Fatalf("while round 2 is incomplete, counts %d topics, want the previous round", len(p.counts))
		}
	}
	if !maps.Equal(p.counts, counts) || !p.seen.Equal(now) {
		t.Fatalf("after round 2: %d topics, want %d", len(p.counts), len(counts))
	}
}
