package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/cluster"
)

// waitFor bounds every wait in these tests.
const waitFor = 15 * time.Second

// startNATS starts a real NATS server with JetStream storing in dir, on
// 127.0.0.1:port (a random port when port is 0), and stops it when the
// test ends.
func startNATS(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	return runNATS(t, &server.Options{StoreDir: dir, Port: port})
}

// runNATS starts a NATS server with opts, with JetStream, on 127.0.0.1,
// without logs or signal handlers; a zero Port takes a random one, an
// empty StoreDir a temporary one. It stops when the test ends.
func runNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.JetStream, opts.NoLog, opts.NoSigs = "127.0.0.1", true, true, true
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(waitFor) {
		t.Fatal("NATS not ready")
	}
	return srv
}

func port(srv *server.Server) int { return srv.Addr().(*net.TCPAddr).Port }

// testConfig is a config for srv with short timeouts, so that the tests
// that break the connection stay short.
func testConfig(srv *server.Server) cluster.Config {
	return cluster.Config{
		URLs:             srv.ClientURL(),
		PublishTimeout:   time.Second,
		ConnectTimeout:   5 * time.Second,
		ReconnectWait:    20 * time.Millisecond,
		ReconnectMaxWait: 200 * time.Millisecond,
	}
}

func open(t *testing.T, cfg cluster.Config) *cluster.Log {
	t.Helper()
	l, err := cluster.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func msg(topics ...string) cluster.Message {
	return cluster.Message{Topics: topics, Data: fmt.Appendf(nil, "event: datastar-patch-elements\ndata: elements <p>%s %d</p>\n\n", strings.Join(topics, ","), time.Now().UnixNano())}
}

// follower runs Follow in a goroutine that the test owns: stop ends it
// and returns Follow's error.
type follower struct {
	mu      sync.Mutex
	entries []cluster.Entry
	changed chan struct{} // gets a token after each entry
	cancel  context.CancelFunc
	done    chan error
}

func follow(t *testing.T, l *cluster.Log, after uint64) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{changed: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1)}
	go func() {
		f.done <- l.Follow(ctx, after, func(e cluster.Entry) error {
			f.mu.Lock()
			f.entries = append(f.entries, e)
			f.mu.Unlock()
			select {
			case f.changed <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// stop ends the follower and returns Follow's error; idempotent.
func (f *follower) stop(t *testing.T) error {
	t.Helper()
	f.cancel()
	select {
	case err := <-f.done:
		f.done <- err
		return err
	case <-time.After(waitFor):
		t.Fatal("Follow did not return")
		return nil
	}
}

func (f *follower) snapshot() []cluster.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

// await waits until the follower has delivered up to seq.
func (f *follower) await(t *testing.T, seq uint64) []cluster.Entry {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		got := f.snapshot()
		if len(got) > 0 && got[len(got)-1].Seq >= seq {
			return got
		}
		select {
		case <-f.changed:
		case <-deadline:
			t.Fatalf("follower stuck at %d entries, want up to seq %d", len(got), seq)
		}
	}
}

func seqs(es []cluster.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// TestThreeNodesOneOrder is three nodes on one NATS: each appends at the
// same time, and every node's follower sees every event once, in the
// same order, the very bytes appended.
func TestThreeNodesOneOrder(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	cfg := testConfig(srv)
	nodes := []*cluster.Log{open(t, cfg), open(t, cfg), open(t, cfg)}
	if e := nodes[0].Epoch(); e == "" || e != nodes[1].Epoch() || e != nodes[2].Epoch() || strings.Contains(e, "-") {
		t.Fatalf("epochs %q %q %q: want one, without '-'", e, nodes[1].Epoch(), nodes[2].Epoch())
	}
	var followers []*follower
	for _, n := range nodes {
		followers = append(followers, follow(t, n, 0))
	}

	const perNode = 20
	var mu sync.Mutex
	sent := map[uint64]cluster.Message{}
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for j := range perNode {
				m := msg(fmt.Sprintf("node%d", i), "all")
				m.Private = j%2 == 0
				seq, err := n.Append(t.Context(), m, "")
				if err != nil {
					t.Errorf("node %d append %d: %v", i, j, err)
					return
				}
				mu.Lock()
				if _, dup := sent[seq]; dup {
					t.Errorf("seq %d given twice", seq)
				}
				sent[seq] = m
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = 3 * perNode
	var first []uint64
	for i, f := range followers {
		got := f.await(t, total)
		if len(got) != total {
			t.Fatalf("node %d followed %d entries, want %d: %v", i, len(got), total, seqs(got))
		}
		for k, e := range got {
			if e.Seq != uint64(k+1) {
				t.Fatalf("node %d: entry %d has seq %d", i, k, e.Seq)
			}
			m := sent[e.Seq]
			if string(e.Data) != string(m.Data) || !slices.Equal(e.Topics, m.Topics) || e.Private != m.Private {
				t.Fatalf("node %d seq %d: got %+v, appended %+v", i, e.Seq, e.LogMessage, m)
			}
			if e.Time.IsZero() {
				t.Fatalf("node %d seq %d has no time", i, e.Seq)
			}
		}
		if i == 0 {
			first = seqs(got)
		} else if !slices.Equal(first, seqs(got)) {
			t.Fatalf("node %d order differs", i)
		}
	}
	st := nodes[1].Stats()
	if !st.Connected || st.Followed != total || st.Pending != 0 || st.Appends != perNode || st.LastSeq != total {
		t.Fatalf("node 1 stats %+v", st)
	}
}

// TestMultiTopicIsOneSequence appends to three topics at once: one
// sequence number, one entry naming all three.
func TestMultiTopicIsOneSequence(t *testing.T) {
	t.Parallel()
	l := open(t, testConfig(startNATS(t, t.TempDir(), 0)))
	a, err := l.Append(t.Context(), msg("a"), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Append(t.Context(), msg("x.y", "b/c", "*"), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Append(t.Context(), msg("a"), "")
	if err != nil {
		t.Fatal(err)
	}
	if b != a+1 || c != b+1 {
		t.Fatalf("sequences %d %d %d: a multi-topic event must take exactly one", a, b, c)
	}
	got := follow(t, l, a).await(t, c)
	if len(got) != 2 || got[0].Seq != b || !slices.Equal(got[0].Topics, []string{"x.y", "b/c", "*"}) {
		t.Fatalf("followed %+v", got)
	}
	st, err := l.State(t.Context())
	if err != nil || st.Msgs != 3 || st.First != 1 || st.Last != 3 {
		t.Fatalf("State = %+v, %v", st, err)
	}
}

// TestIdempotencyKey retries an append with the same key: stored once,
// the same sequence back.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	l1, l2 := open(t, testConfig(srv)), open(t, testConfig(srv))
	m := msg("news")
	first, err := l1.Append(t.Context(), m, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	// The retry may come through another node.
	again, err := l2.Append(t.Context(), m, "req-1")
	if err != nil || again != first {
		t.Fatalf("retry = %d, %v; want %d", again, err, first)
	}
	other, err := l1.Append(t.Context(), m, "req-2")
	if err != nil || other != first+1 {
		t.Fatalf("another key = %d, %v; want %d", other, err, first+1)
	}
	st, err := l1.State(t.Context())
	if err != nil || st.Msgs != 2 {
		t.Fatalf("State = %+v, %v; want 2 messages", st, err)
	}
	if d := l2.Stats().Duplicates; d != 1 {
		t.Fatalf("duplicates = %d", d)
	}
	if _, err := l1.Append(t.Context(), m, "bad\nkey"); !errors.Is(err, cluster.ErrBadKey) {
		t.Fatalf("key with a newline: %v", err)
	}
	if _, err := l1.Append(t.Context(), cluster.Message{}, ""); !errors.Is(err, cluster.ErrNoTopics) {
		t.Fatalf("no topics: %v", err)
	}
}

// TestRead reads ranges back, filtered by topic.
func TestRead(t *testing.T) {
	t.Parallel()
	l := open(t, testConfig(startNATS(t, t.TempDir(), 0)))
	topics := [][]string{{"a"}, {"b"}, {"a", "b"}, {"c"}, {"a.x"}, {"a"}, {"b", "c"}}
	for _, ts := range topics {
		if _, err := l.Append(t.Context(), msg(ts...), ""); err != nil {
			t.Fatal(err)
		}
	}
	read := func(want []string, after, upto uint64) []uint64 {
		t.Helper()
		var got []uint64
		err := l.Read(t.Context(), want, after, upto, func(e cluster.Entry) error {
			if !slices.Equal(e.Topics, topics[e.Seq-1]) {
				t.Errorf("seq %d topics %v, appended %v", e.Seq, e.Topics, topics[e.Seq-1])
			}
			got = append(got, e.Seq)
			return nil
		})
		if err != nil {
			t.Fatalf("Read(%v, %d, %d): %v", want, after, upto, err)
		}
		return got
	}
	for _, c := range []struct {
		topics      []string
		after, upto uint64
		want        []uint64
	}{
		{nil, 0, 7, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{nil, 0, 100, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{[]string{"a"}, 0, 7, []uint64{1, 3, 6}},
		{[]string{"a", "a"}, 1, 5, []uint64{3}},
		{[]string{"a.x"}, 0, 7, []uint64{5}},
		{[]string{"c", "b"}, 2, 7, []uint64{3, 4, 7}},
		{[]string{"nothing"}, 0, 7, nil},
		{nil, 7, 100, nil},
		{nil, 3, 3, nil},
	} {
		if got := read(c.topics, c.after, c.upto); !slices.Equal(got, c.want) {
			t.Errorf("Read(%v, %d, %d) = %v, want %v", c.topics, c.after, c.upto, got, c.want)
		}
	}
	if st := l.Stats(); st.Reads == 0 || st.ReadEntries == 0 {
		t.Fatalf("stats %+v", st)
	}
	stop := errors.New("stop")
	if err := l.Read(t.Context(), nil, 0, 7, func(cluster.Entry) error { return stop }); err != stop {
		t.Fatalf("Read returned %v, want fn's error", err)
	}
}

// TestUnavailableAndResume stops NATS under two nodes: appends fail fast
// with ErrUnavailable; NATS comes back on the same store and port,
// appends work again, and each follower ends with every acknowledged
// event exactly once, in order.
func TestUnavailableAndResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startNATS(t, dir, 0)
	cfg := testConfig(srv)
	a, b := open(t, cfg), open(t, cfg)
	fa, fb := follow(t, a, 0), follow(t, b, 0)

	var acked []uint64
	appendOK := func(l *cluster.Log, key string) {
		t.Helper()
		seq, err := l.Append(t.Context(), msg("news"), key)
		if err != nil {
			t.Fatalf("append %s: %v", key, err)
		}
		acked = append(acked, seq)
	}
	for i := range 5 {
		appendOK(a, fmt.Sprint("before-", i))
	}
	fb.await(t, acked[len(acked)-1])

	natsPort := port(srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	start := time.Now()
	_, err := a.Append(t.Context(), msg("news"), "")
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("append with NATS down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > cfg.PublishTimeout+time.Second {
		t.Fatalf("append took %v to fail, timeout is %v", d, cfg.PublishTimeout)
	}
	if a.Stats().Unavailable == 0 {
		t.Fatalf("stats %+v", a.Stats())
	}
	// The client notices the broken connection on its own; poll, bounded.
	for deadline := time.Now().Add(waitFor); a.Stats().Connected; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Stats.Connected still true with NATS down")
		}
	}
	if _, err := b.State(t.Context()); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("State with NATS down: %v", err)
	}

	startNATS(t, dir, natsPort)
	// After the restart each node appends as soon as it has reconnected,
	// retrying one key until it is stored: an attempt that timed out but
	// was stored is then not stored twice. Polling, because nothing
	// signals that a node reconnected; bounded by waitFor.
	appendRetry := func(l *cluster.Log, key string) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for {
			seq, err := l.Append(t.Context(), msg("news"), key)
			if err == nil {
				acked = append(acked, seq)
				return
			}
			if !errors.Is(err, cluster.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("append %s after restart: %v", key, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range 5 {
		appendRetry(a, fmt.Sprint("after-a-", i))
		appendRetry(b, fmt.Sprint("after-b-", i))
	}
	slices.Sort(acked)
	for _, f := range []*follower{fa, fb} {
		got := seqs(f.await(t, acked[len(acked)-1]))
		if !slices.Equal(got, acked) {
			t.Fatalf("followed %v, acknowledged %v", got, acked)
		}
	}
	if !a.Stats().Connected || a.Stats().Reconnects == 0 {
		t.Fatalf("stats %+v", a.Stats())
	}
}

// TestEmbeddedPersists closes an embedded log and opens it again on the
// same directory: the events, their sequences and the epoch are kept.
func TestEmbeddedPersists(t *testing.T) {
	t.Parallel()
	cfg := cluster.Config{URLs: cluster.Embedded, DataDir: t.TempDir()}
	l, err := cluster.Open(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sent []cluster.Message
	for i := range 5 {
		m := msg("t", fmt.Sprint(i))
		if _, err := l.Append(t.Context(), m, ""); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	epoch := l.Epoch()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), msg("t"), ""); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}

	l = open(t, cfg)
	if l.Epoch() != epoch {
		t.Fatalf("epoch %q after reopening, was %q", l.Epoch(), epoch)
	}
	var got []cluster.Message
	if err := l.Read(t.Context(), nil, 0, 5, func(e cluster.Entry) error {
		got = append(got, e.LogMessage)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sent) {
		t.Fatalf("read %d events after reopening, appended %d", len(got), len(sent))
	}
	for i := range got {
		if string(got[i].Data) != string(sent[i].Data) {
			t.Fatalf("event %d: %q, appended %q", i+1, got[i].Data, sent[i].Data)
		}
	}
	if seq, err := l.Append(t.Context(), msg("t"), ""); err != nil || seq != 6 {
		t.Fatalf("append after reopening = %d, %v; want 6", seq, err)
	}
}

// TestStreamMismatch opens on streams that do not fit: each difference
// is named.
func TestStreamMismatch(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	cfg := testConfig(srv)
	cfg.MaxAge, cfg.MaxMsgs = time.Hour, 100
	open(t, cfg)

	other := testConfig(srv)
	other.MaxAge, other.MaxMsgs, other.SubjectPrefix = 2*time.Hour, -1, "other"
	_, err := cluster.Open(t.Context(), other, nil)
	if !errors.Is(err, cluster.ErrStreamMismatch) {
		t.Fatalf("Open = %v, want ErrStreamMismatch", err)
	}
	for _, w := range []string{`"HUBD"`, "max age is 1h0m0s, the settings want 2h0m0s", "max msgs is 100, the settings want none", "subjects is [hubd.events.>], the settings want [other.>]"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}

	// A stream made by hand, as an operator might.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "HAND", Subjects: []string{"hand.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	hand := testConfig(srv)
	hand.Stream, hand.SubjectPrefix = "HAND", "hand"
	_, err = cluster.Open(t.Context(), hand, nil)
	if !errors.Is(err, cluster.ErrStreamMismatch) || !strings.Contains(err.Error(), "storage is Memory, the settings want File") {
		t.Fatalf("Open on a memory stream = %v", err)
	}
}

// TestFollowRefusesUnknownFormat has a message of a later format in the
// stream: Follow stops there with ErrFormat after delivering what came
// before.
func TestFollowRefusesUnknownFormat(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	l := open(t, testConfig(srv))
	if _, err := l.Append(t.Context(), msg("a"), ""); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	m := &nats.Msg{Subject: "hubd.events.m", Header: nats.Header{"Hubd-Format": {"3"}}, Data: []byte("?")}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	err = l.Follow(t.Context(), 0, func(e cluster.Entry) error {
		got = append(got, e.Seq)
		return nil
	})
	if !errors.Is(err, cluster.ErrFormat) || !strings.Contains(err.Error(), "message 2") || !strings.Contains(err.Error(), `"3"`) {
		t.Fatalf("Follow = %v, want ErrFormat naming message 2 and version \"3\"", err)
	}
	if !slices.Equal(got, []uint64{1}) {
		t.Fatalf("delivered %v before the unreadable message", got)
	}
}

// TestFollowStops checks that Follow returns when its context ends and
// when the Log is closed (with ErrClosed), and that a closed Log refuses
// Follow and Read. That Close waits for a running Follow is not checked
// here: Follow's return reaches the test through a goroutine that may
// still be running when Close returns, so requiring it at once failed
// now and then.
func TestFollowStops(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	l := open(t, testConfig(srv))
	f := follow(t, l, 0)
	if err := f.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after cancel = %v", err)
	}

	l2, err := cluster.Open(t.Context(), testConfig(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	f2 := follow(t, l2, 0)
	if _, err := l2.Append(t.Context(), msg("a"), ""); err != nil {
		t.Fatal(err)
	}
	f2.await(t, 1) // Follow is surely running
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returned, so Follow has too; the goroutine that hands its
	// error over may still be on its way, so wait for it rather than
	// require it at once.
	select {
	case err := <-f2.done:
		if !errors.Is(err, cluster.ErrClosed) {
			t.Fatalf("Follow after Close = %v", err)
		}
		f2.done <- err
	case <-time.After(waitFor):
		t.Fatal("Follow did not return after Close")
	}
	if err := l2.Follow(t.Context(), 0, func(cluster.Entry) error { return nil }); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Follow on a closed log = %v", err)
	}
	if err := l2.Read(t.Context(), nil, 0, 1, func(cluster.Entry) error { return nil }); !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Read on a closed log = %v", err)
	}
}

// TestOpenUnavailable opens on a port where nothing listens.
func TestOpenUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = cluster.Open(t.Context(), cluster.Config{URLs: "nats://" + addr, ConnectTimeout: time.Second}, nil)
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("Open = %v, want ErrUnavailable", err)
	}
}

// TestLimitsMakeGaps bounds the stream to three events and appends five:
// State's First tells a node that events before it are gone, and Follow
// and Read deliver what is left.
func TestLimitsMakeGaps(t *testing.T) {
	t.Parallel()
	cfg := testConfig(startNATS(t, t.TempDir(), 0))
	cfg.MaxMsgs = 3
	l := open(t, cfg)
	st, err := l.State(t.Context())
	if err != nil || st.First != 1 || st.Last != 0 || st.Msgs != 0 {
		t.Fatalf("empty stream State = %+v, %v; want First 1, Last 0", st, err)
	}
	for range 5 {
		if _, err := l.Append(t.Context(), msg("a"), ""); err != nil {
			t.Fatal(err)
		}
	}
	st, err = l.State(t.Context())
	if err != nil || st.First != 3 || st.Last != 5 || st.Msgs != 3 {
		t.Fatalf("State = %+v, %v; want First 3, Last 5", st, err)
	}
	if got := seqs(follow(t, l, 0).await(t, 5)); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("followed %v", got)
	}
	var got []uint64
	if err := l.Read(t.Context(), []string{"a"}, 1, 5, func(e cluster.Entry) error {
		got = append(got, e.Seq)
		return nil
	}); err != nil || !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("Read = %v, %v", got, err)
	}
}

// eventLog is the interface the hub is to declare for its event log, in
// the hub's own types (see the package doc). The JetStream Log must keep
// fitting it.
type eventLog interface {
	Epoch() string
	Append(ctx context.Context, m cluster.Message, idempotencyKey string) (seq uint64, err error)
	Follow(ctx context.Context, after uint64, fn func(cluster.Entry) error) error
	Read(ctx context.Context, topics []string, after, upto uint64, fn func(cluster.Entry) error) error
	State(ctx context.Context) (cluster.State, error)
	Shutdown(ctx context.Context) error
}

var _ eventLog = (*cluster.Log)(nil)

// TestCredentials opens on a server that wants a user and password.
func TestCredentials(t *testing.T) {
	t.Parallel()
	srv := runNATS(t, &server.Options{Username: "hubd", Password: "s3cret"})
	cfg := testConfig(srv)
	cfg.User, cfg.Password = "hubd", "wrong"
	_, err := cluster.Open(t.Context(), cfg, nil)
	if !errors.Is(err, nats.ErrAuthorization) || errors.Is(err, cluster.ErrUnavailable) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("Open with a wrong password = %v; want an authorization error that does not show the password", err)
	}
	cfg.Password = "s3cret"
	l := open(t, cfg)
	if _, err := l.Append(t.Context(), msg("a"), ""); err != nil {
		t.Fatal(err)
	}
}

// TestCloseStopsGoroutines checks that Close leaves nothing running: the
// follower, the client's and the embedded server's goroutines. Not
// parallel, so that other tests' goroutines do not count.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: cluster.Embedded, DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	followed := make(chan error, 1)
	entries := make(chan cluster.Entry, 1)
	go func() {
		followed <- l.Follow(context.Background(), 0, func(e cluster.Entry) error {
			entries <- e
			return nil
		})
	}()
	if _, err := l.Append(t.Context(), msg("a"), ""); err != nil {
		t.Fatal(err)
	}
	<-entries
	if err := l.Read(t.Context(), nil, 0, 1, func(cluster.Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-followed; !errors.Is(err, cluster.ErrClosed) {
		t.Fatalf("Follow = %v", err)
	}
	// Some goroutines end just after Close returns (timers fired by the
	// shutdown); poll, bounded.
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEmbeddedListen runs the embedded server with a loopback port, which
// the Log then connects through.
func TestEmbeddedListen(t *testing.T) {
	t.Parallel()
	l := open(t, cluster.Config{URLs: cluster.Embedded, DataDir: t.TempDir(), EmbeddedListen: "127.0.0.1:0"})
	if seq, err := l.Append(t.Context(), msg("a"), ""); err != nil || seq != 1 {
		t.Fatalf("Append = %d, %v", seq, err)
	}
}
