package cluster_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/cluster"
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
