package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/cluster"
)

// remoteCounts records what SharePresence hands to remote.
type remoteCounts struct {
	mu   sync.Mutex
	last map[string]int
	c    chan struct{} // signalled on each call
}

func newRemoteCounts() *remoteCounts { return &remoteCounts{c: make(chan struct{}, 1)} }

func (r *remoteCounts) set(m map[string]int) {
	r.mu.Lock()
	r.last = m
	r.mu.Unlock()
	select {
	case r.c <- struct{}{}:
	default:
	}
}

// await waits until the latest sum is want, fails after d, and returns
// how long it waited.
func (r *remoteCounts) await(t *testing.T, want map[string]int, d time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	timeout := time.After(d)
	for {
		r.mu.Lock()
		got := maps.Clone(r.last)
		r.mu.Unlock()
		if maps.Equal(got, want) {
			return time.Since(began)
		}
		select {
		case <-r.c:
		case <-timeout:
			if len(want) > 10 {
				t.Fatalf("remote counts of %d topics after %v, want %d (equal: %v)", len(got), d, len(want), maps.Equal(got, want))
			}
			t.Fatalf("remote counts %v after %v, want %v", got, d, want)
		}
	}
}

// fixed returns counts as local for SharePresence.
func fixed(counts map[string]int) func() map[string]int {
	return func() map[string]int { return maps.Clone(counts) }
}

func TestSharePresenceSumsOthers(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	a, b, c := open(t, testConfig(srv)), open(t, testConfig(srv)), open(t, testConfig(srv))
	ra, rb := newRemoteCounts(), newRemoteCounts()
	stopA, err := a.SharePresence(fixed(map[string]int{"room": 1, "a/only": 2}), ra.set)
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	stopB, err := b.SharePresence(fixed(map[string]int{"room": 3}), rb.set)
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()
	stopC, err := c.SharePresence(fixed(map[string]int{"room": 5}), func(map[string]int) {})
	if err != nil {
		t.Fatal(err)
	}
	// Each node sums the others, never itself.
	ra.await(t, map[string]int{"room": 8}, waitFor)
	rb.await(t, map[string]int{"room": 6, "a/only": 2}, waitFor)

	// A node that stops says so: the others drop it at once, well before
	// the TTL.
	stopC()
	if d := ra.await(t, map[string]int{"room": 3}, waitFor); d >= cluster.PresenceTTL {
		t.Errorf("a node that stopped dropped out after %v, not at once", d)
	}
	stopC() // idempotent
}

func TestSharePresenceExpires(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	l := open(t, testConfig(srv))
	r := newRemoteCounts()
	stop, err := l.SharePresence(fixed(nil), r.set)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// A node that dies says nothing: here, one message and then silence.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	data, err := json.Marshal(map[string]any{"node": "ghost", "counts": map[string]int{"room": 4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(cluster.DefaultSubjectPrefix+"-presence", data); err != nil {
		t.Fatal(err)
	}
	r.await(t, map[string]int{"room": 4}, waitFor)
	if d := r.await(t, map[string]int{}, waitFor); d < cluster.PresenceTTL-cluster.PresenceEvery {
		t.Errorf("a silent node dropped out after %v, before its TTL of %v", d, cluster.PresenceTTL)
	}
}

// TestSharePresenceManyTopics: a node with subscribers on 100,000 topics
// (its counts far past NATS's 1 MiB max payload in one message) still
// gets every count to another node.
func TestSharePresenceManyTopics(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	a, b := open(t, testConfig(srv)), open(t, testConfig(srv))
	counts := make(map[string]int, 100_000)
	for i := range 100_000 {
		counts[fmt.Sprintf("rooms/%06d/presence", i)] = 1 + i%7
	}
	stopA, err := a.SharePresence(fixed(counts), func(map[string]int) {})
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	rb := newRemoteCounts()
	stopB, err := b.SharePresence(fixed(nil), rb.set)
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()
	rb.await(t, counts, waitFor)
}

// TestSharePresenceSendFailureLogged: a node that cannot send its counts
// says so above Debug, once, rather than going silent.
func TestSharePresenceSendFailureLogged(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	logs := &levelRecords{warn: make(chan string, 1)}
	l, err := cluster.Open(t.Context(), testConfig(srv), slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop, err := l.SharePresence(fixed(map[string]int{"room": 1}), func(map[string]int) {})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	srv.Shutdown() // the next sending fails: the connection is down
	select {
	case msg := <-logs.warn:
		if !strings.Contains(msg, "presence") {
			t.Fatalf("warning %q does not name presence", msg)
		}
	case <-time.After(waitFor):
		t.Fatal("no warning after the sending failed")
	}
}

// levelRecords hands the messages of Warn (and higher) records that
// name presence to warn.
type levelRecords struct{ warn chan string }

func (r *levelRecords) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecords) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *levelRecords) WithGroup(string) slog.Handler            { return r }
func (r *levelRecords) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn && strings.Contains(rec.Message, "presence") {
		select {
		case r.warn <- rec.Message:
		default:
		}
	}
	return nil
}
