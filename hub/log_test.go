package hub_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/internal/natstest"
	"github.com/hubd-dev/hubd/sse"
)

// startNATS starts a NATS server with JetStream on a temporary folder, on
// a loopback port, for the test.
func startNATS(t testing.TB) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return srv
}

// logHub starts a hub on its own connection to srv's stream.
func logHub(t *testing.T, srv *server.Server, cfg hub.Config) *hub.Hub {
	t.Helper()
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: srv.ClientURL(), ReconnectWait: 20 * time.Millisecond,
		ReconnectMaxWait: 200 * time.Millisecond, PublishTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log = l
	h, err := hub.New(cfg)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("log close: %v", err)
		}
	})
	if err := h.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	return h
}

func elements(s string) sse.Eventer { return sse.PatchElements{Elements: "<p>" + s + "</p>"} }

// next returns the next live frame of sub, failing after a while.
func next(t *testing.T, sub *hub.Subscription) string {
	t.Helper()
	select {
	case f, ok := <-sub.C():
		if !ok {
			t.Fatalf("channel closed: %v", sub.Err())
		}
		return string(f.Data)
	case <-time.After(10 * time.Second):
		t.Fatal("no frame")
	}
	return ""
}

// TestLogNodesShareEvents checks that a publish on one hub reaches the
// subscribers of another through the log, with the same ID and the very
// bytes a single hub would send, and that the publisher's answer counts
// its own node's subscribers once the event is applied there.
func TestLogNodesShareEvents(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	a, b := logHub(t, srv, hub.Config{}), logHub(t, srv, hub.Config{})
	if a.Epoch() != b.Epoch() {
		t.Fatalf("epochs %q and %q", a.Epoch(), b.Epoch())
	}
	subA, err := a.Subscribe([]string{"news"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()
	subB, err := b.Subscribe([]string{"news"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()

	var ids []string
	for i := range 3 {
		res, err := b.Publish([]string{"news"}, elements(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Subscribers != 1 {
			t.Errorf("publish %d offered to %d subscribers of its node, want 1", i, res.Subscribers)
		}
		ids = append(ids, res.IDs[0])
	}
	for i, id := range ids {
		want := "id: " + id + "\nevent: datastar-patch-elements\ndata: elements <p>" + fmt.Sprint(i) + "</p>\n\n"
		if got := next(t, subA); got != want {
			t.Errorf("node A frame %d = %q, want %q", i, got, want)
		}
		if got := next(t, subB); got != want {
			t.Errorf("node B frame %d = %q, want %q", i, got, want)
		}
	}
	if got, want := a.Stats().LastID, ids[2]; got != want {
		t.Errorf("node A last ID %s, want %s", got, want)
	}
}

// TestLogReplayOlderThanMemory checks that a client whose Last-Event-ID is
// older than a node's history in memory gets exactly the events after it,
// the older ones read from the log, without the missed signal, with
// private events filtered as in memory; and that a node started later
// catches up with the newest events.
func TestLogReplayOlderThanMemory(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	a := logHub(t, srv, hub.Config{HistorySize: 2})
	var ids []string
	for i := range 6 {
		publish := a.Publish
		if i == 2 {
			publish = a.PublishPrivate
		}
		res, err := publish([]string{"t", "u"}, elements(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.IDs[0])
	}
	late := logHub(t, srv, hub.Config{HistorySize: 3})
	if st := late.Stats(); st.HistoryLen != 3 || st.LastID != ids[5] {
		t.Fatalf("late node holds %d events up to %s, want 3 up to %s", st.HistoryLen, st.LastID, ids[5])
	}
	for name, h := range map[string]*hub.Hub{"first": a, "late": late} {
		for _, private := range []bool{false, true} {
			var opts []hub.SubscribeOption
			if private {
				opts = append(opts, hub.WithPrivate(func(string) bool { return true }))
			}
			sub, err := h.Subscribe([]string{"t"}, ids[0], opts...)
			if err != nil {
				t.Fatal(err)
			}
			sub.Close()
			if sub.Missed {
				t.Errorf("%s private=%v: missed", name, private)
			}
			var got []string
			for _, f := range sub.Replay {
				got = append(got, strings.SplitN(string(f), "\n", 2)[0])
			}
			want := []string{"id: " + ids[1]}
			if private {
				want = append(want, "id: "+ids[2])
			}
			for _, id := range ids[3:] {
				want = append(want, "id: "+id)
			}
			want = append(want, "id: "+ids[5])
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s private=%v: replay\n%q\nwant\n%q", name, private, got, want)
			}
		}
	}
}

// TestLogIdempotencyKey checks that the same publish twice with one key is
// stored once and answers the same IDs, and that another key is another
// publish.
func TestLogIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	h := logHub(t, srv, hub.Config{})
	pub := func(key string) []string {
		res, err := h.PublishContext(t.Context(), []string{"t"}, hub.PublishOptions{IdempotencyKey: key}, elements("a"), elements("b"))
		if err != nil {
			t.Fatal(err)
		}
		return res.IDs
	}
	first, again, other := pub("k1"), pub("k1"), pub("k2")
	if strings.Join(first, ",") != strings.Join(again, ",") {
		t.Errorf("retry answered %v, first %v", again, first)
	}
	if first[1] == other[1] {
		t.Errorf("another key answered the same IDs %v", other)
	}
	if n := h.Stats().HistoryLen; n != 4 {
		t.Errorf("history holds %d events, want 4", n)
	}
}

// BenchmarkPublishLog measures a publish through the event log on an
// embedded JetStream (file storage, fsync as JetStream does by default):
// encode, append and ack, then this node's follower applying it, with one
// subscriber drained alongside. ns/op is the publish latency, one at a
// time; p50 and p99 are reported too. "embedded" reaches its server in
// process; "tcp" a NATS server over loopback TCP, as a cluster node does.
func BenchmarkPublishLog(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		benchmarkPublishLog(b, cluster.Config{URLs: cluster.Embedded, DataDir: b.TempDir()})
	})
	b.Run("tcp", func(b *testing.B) {
		benchmarkPublishLog(b, cluster.Config{URLs: startNATS(b).ClientURL()})
	})
}

func benchmarkPublishLog(b *testing.B, cfg cluster.Config) {
	l, err := cluster.Open(b.Context(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// The subscriber only counts, and its reader competes for the two
	// processors with the log's server: with the default buffer it fell
	// 64 frames behind within a second and was evicted, which made the
	// publishes after it answer 0 subscribers.
	h, err := hub.New(hub.Config{Log: l, ClientBuffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	sub, err := h.Subscribe([]string{"t"}, "")
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { // ends when Shutdown closes the subscription's channel
		defer close(drained)
		for range sub.C() {
		}
		sub.Close()
	}()
	ev := sse.PatchElements{Elements: `<p id="n">` + strings.Repeat("x", 256-len(`<p id="n"></p>`)) + `</p>`}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res, err := h.Publish([]string{"t"}, ev)
		lat = append(lat, time.Since(start))
		if err != nil || res.Subscribers != 1 {
			b.Fatalf("Publish = %+v, %v (subscribers evicted: %d)", res, err, h.Stats().Evictions)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	h.Shutdown(context.Background())
	<-drained
}

// TestLogFollowerStops checks that Shutdown stops the hub's follower: the
// log's Follow call has returned when Shutdown does, before the log is
// closed.
func TestLogFollowerStops(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: srv.ClientURL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl := &countingLog{Log: l}
	h, err := hub.New(hub.Config{Log: cl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish([]string{"t"}, elements("x")); err != nil {
		t.Fatal(err)
	}
	if n := cl.following.Load(); n != 1 {
		t.Fatalf("%d Follow calls running, want 1", n)
	}
	if err := h.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := cl.following.Load(); n != 0 {
		t.Fatalf("%d Follow calls still running after Shutdown", n)
	}
}

// countingLog is a real cluster.Log that counts its running Follow calls.
type countingLog struct {
	*cluster.Log
	following atomic.Int32
}

func (c *countingLog) Follow(ctx context.Context, after uint64, fn func(hub.LogEntry) error) error {
	c.following.Add(1)
	defer c.following.Add(-1)
	return c.Log.Follow(ctx, after, fn)
}

// TestLogMissedBeyondRetention checks that a client whose Last-Event-ID is
// older than the log still holds (its limits removed the events after it)
// gets the missed signal, then every event the log and memory hold.
func TestLogMissedBeyondRetention(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: srv.ClientURL(), MaxMsgs: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h, err := hub.New(hub.Config{Log: l, HistorySize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	var ids []string
	for i := range 6 {
		res, err := h.Publish([]string{"t"}, elements(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.IDs[0])
	}
	sub, err := h.Subscribe([]string{"t"}, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !sub.Missed || len(sub.Replay) == 0 || !strings.Contains(string(sub.Replay[0]), hub.MissedSignal) {
		t.Fatalf("missed %v, replay %q: want the missed signal first", sub.Missed, sub.Replay)
	}
	var got []string
	for _, f := range sub.Replay[1 : len(sub.Replay)-1] {
		got = append(got, strings.TrimPrefix(strings.SplitN(string(f), "\n", 2)[0], "id: "))
	}
	if !slices.Equal(got, ids[3:]) {
		t.Fatalf("replay %v, want what the log holds: %v", got, ids[3:])
	}
}

// TestLogUnreadableEntryStopsReadiness checks that a node whose follower
// meets an entry it cannot read (written by a newer hubd, say) stops
// counting as caught up, so that /readyz takes it out of service, and
// that its publishes still answer instead of waiting.
func TestLogUnreadableEntryStopsReadiness(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	h := logHub(t, srv, hub.Config{})
	if !h.CaughtUp() {
		t.Fatal("not caught up on an empty log")
	}
	js := natstest.JetStream(t, srv.ClientURL())
	m := &nats.Msg{Subject: cluster.DefaultSubjectPrefix + ".x", Header: nats.Header{"Hubd-Format": {"99"}}, Data: []byte("?")}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.CaughtUp() {
		if time.Now().After(deadline) {
			t.Fatal("still caught up after an unreadable entry")
		}
		runtime.Gosched()
	}
	start := time.Now()
	if _, err := h.Publish([]string{"t"}, elements("after")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publish took %v with the follower stopped", d)
	}
}

// replayShape returns the event IDs of a replay's frames, with "missed"
// for the missed signal and "cursor" for the closing ID-only frame.
func replayShape(replay [][]byte) []string {
	var out []string
	for _, f := range replay {
		s := string(f)
		switch {
		case strings.Contains(s, hub.MissedSignal):
			out = append(out, "missed")
		case !strings.Contains(s, "event:"):
			out = append(out, "cursor")
		default:
			out = append(out, strings.TrimPrefix(strings.SplitN(s, "\n", 2)[0], "id: "))
		}
	}
	return out
}

// TestLogReplayBounded checks that a client too far behind for one
// subscribe to read from the log (Config.MaxLogReplay) is told it missed
// events and gets the newest ones, the log's and then memory's, while one
// within the bound gets all it missed without the signal.
func TestLogReplayBounded(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	h := logHub(t, srv, hub.Config{HistorySize: 2, MaxLogReplay: 3})
	var ids []string
	for i := range 10 {
		res, err := h.Publish([]string{"t"}, elements(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.IDs[0])
	}
	for _, tc := range []struct {
		name, last string
		want       []string
	}{
		// 7 events between ids[0] and memory's ids[8]: the oldest 4 go.
		{"too far behind", ids[0], append(append([]string{"missed"}, ids[5:]...), "cursor")},
		// 3 events between ids[4] and memory: all of them come.
		{"within the bound", ids[4], append(slices.Clone(ids[5:]), "cursor")},
	} {
		sub, err := h.SubscribeContext(t.Context(), []string{"t"}, tc.last)
		if err != nil {
			t.Fatal(err)
		}
		sub.Close()
		if got := replayShape(sub.Replay); !slices.Equal(got, tc.want) {
			t.Errorf("%s: replay %v, want %v", tc.name, got, tc.want)
		}
		if sub.Missed != (tc.want[0] == "missed") {
			t.Errorf("%s: Missed %v", tc.name, sub.Missed)
		}
	}
}

// TestLogLostStopsFollowing deletes the stream under a hub that follows
// it: WaitCaughtUp and FollowErr say why following stopped (an error
// wrapping ErrLogDamaged), and a publish is refused with it instead of
// being stored where this node no longer follows.
func TestLogLostStopsFollowing(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	h := logHub(t, srv, hub.Config{})
	if _, err := h.Publish([]string{"t"}, elements("before")); err != nil {
		t.Fatal(err)
	}
	js := natstest.JetStream(t, srv.ClientURL())
	if err := js.DeleteStream(t.Context(), cluster.DefaultStream); err != nil {
		t.Fatal(err)
	}
	// Caught up already: WaitCaughtUp answers at once; FollowErr turns
	// to the cause once the follower meets the loss.
	deadline := time.Now().Add(10 * time.Second)
	for h.FollowErr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("still following a deleted stream")
		}
		runtime.Gosched()
	}
	if err := h.FollowErr(); !errors.Is(err, hub.ErrLogDamaged) {
		t.Fatalf("FollowErr %v, want ErrLogDamaged", err)
	}
	if err := h.WaitCaughtUp(t.Context()); !errors.Is(err, hub.ErrLogDamaged) {
		t.Fatalf("WaitCaughtUp %v, want ErrLogDamaged", err)
	}
	if h.CaughtUp() {
		t.Fatal("CaughtUp with following stopped")
	}
	if _, err := h.Publish([]string{"t"}, elements("after")); !errors.Is(err, hub.ErrLogDamaged) {
		t.Fatalf("publish after the loss: %v, want ErrLogDamaged", err)
	}
}
