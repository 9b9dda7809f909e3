package cluster_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
)

// TestRetainFlagsStored: the retain and clear flags survive the stream,
// and only messages that use them are stored in format version 2, so that
// a node of the previous release still reads every other event.
func TestRetainFlagsStored(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	l := open(t, testConfig(srv))
	plain := msg("a")
	retained := msg("a", "b")
	retained.Retain, retained.Private = true, true
	clear := cluster.Message{Topics: []string{"a"}, ClearRetained: true}
	for _, m := range []cluster.Message{plain, retained, clear} {
		if _, err := l.Append(t.Context(), m, ""); err != nil {
			t.Fatal(err)
		}
	}
	var got []cluster.Entry
	err := l.Read(t.Context(), nil, 0, 3, func(e cluster.Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("Read: %d entries, %v", len(got), err)
	}
	if got[0].Retain || got[0].ClearRetained || !got[1].Retain || !got[1].Private || got[1].ClearRetained || !got[2].ClearRetained || got[2].Retain {
		t.Fatalf("flags after the stream: %+v", got)
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(t.Context(), cluster.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range map[uint64]string{1: "1", 2: "2", 3: "2"} {
		m, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if v := m.Header.Get("Hubd-Format"); v != want {
			t.Errorf("message %d stored as format %q, want %q", seq, v, want)
		}
	}
}

// TestStoreRetainedKeepsTheLatest: the bucket keeps, per topic, the
// record of the node that applied the most of the log (a slower node's
// older state does not overwrite it), a record of another epoch always
// replaces it, a cleared state is kept as a record with no state, and
// another node opening the same stream loads them all.
func TestStoreRetainedKeepsTheLatest(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, t.TempDir(), 0)
	a, b := open(t, testConfig(srv)), open(t, testConfig(srv))
	stores := []hub.RetainedRecord{
		{Topic: "room", Epoch: "e1", Seq: 5, State: []byte(`{"new":1}`)},
		{Topic: "room", Epoch: "e1", Seq: 3, State: []byte(`{"old":1}`)},
		{Topic: "odd/topic:@~x", Epoch: "e1", Seq: 2, State: []byte(`{"x":1}`)},
		{Topic: "odd/topic:@~x", Epoch: "e2", Seq: 1, State: []byte(`{"y":1}`)},
		{Topic: "cleared", Epoch: "e1", Seq: 4, State: []byte(`{"z":1}`)},
		{Topic: "cleared", Epoch: "e1", Seq: 6},
	}
	for _, rec := range stores {
		if err := a.StoreRetained(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	err := b.LoadRetained(t.Context(), func(rec hub.RetainedRecord) error {
		got[rec.Topic] = fmt.Sprintf("%s %d %s", rec.Epoch, rec.Seq, rec.State)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"room": `e1 5 {"new":1}`, "odd/topic:@~x": `e2 1 {"y":1}`, "cleared": "e1 6 "}
	if !maps.Equal(got, want) {
		t.Fatalf("loaded %q, want %q", got, want)
	}
}

// BenchmarkLoadRetained measures how long a starting node takes to load
// the retained state of 10,000 topics from the bucket, over loopback TCP.
func BenchmarkLoadRetained(b *testing.B) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(waitFor) {
		b.Fatal("NATS not ready")
	}
	l, err := cluster.Open(b.Context(), testConfig(srv), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const topics = 10_000
	for i := range topics {
		rec := hub.RetainedRecord{Topic: fmt.Sprintf("rooms/%d", i), Epoch: "e", Seq: uint64(i + 1), State: []byte(`{"Public":"eyJuIjoxfQ=="}`)}
		if err := l.StoreRetained(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := l.LoadRetained(b.Context(), func(hub.RetainedRecord) error { n++; return nil }); err != nil || n != topics {
			b.Fatalf("loaded %d records, %v", n, err)
		}
	}
}
