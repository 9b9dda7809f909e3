package hub_test

import (
	"bytes"
	"encoding/gob"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
)

// TestRestartWithHistory saves a hub's history and starts another from
// it: a client that reconnects with an ID of the first run gets exactly
// what it missed, IDs go on where they stopped, and trimmed events are
// still reported as missed.
func TestRestartWithHistory(t *testing.T) {
	t.Parallel()
	cfg := hub.Config{HistorySize: 4}
	old := newHub(t, cfg)
	ids := publish(t, old, 3, "a")                // 1..3 on a
	ids = append(ids, publish(t, old, 2, "b")...) // 4..5 on b: 1 is trimmed
	priv, err := old.PublishPrivate([]string{"a"}, element(9))
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, priv.IDs...) // 6, private; 2 is trimmed
	var snap bytes.Buffer
	if err := old.SaveHistory(&snap); err != nil {
		t.Fatal(err)
	}

	h, err := hub.NewFromHistory(cfg, bytes.NewReader(snap.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Shutdown(t.Context()) })
	if h.Epoch() != old.Epoch() {
		t.Fatalf("epoch %s, want the first run's %s", h.Epoch(), old.Epoch())
	}
	next := publish(t, h, 1, "a")[0]
	if next != old.EventID(7) {
		t.Errorf("first ID after the restart %s, want %s", next, old.EventID(7))
	}

	// A client of a that saw event 3 missed 6 (private: only if granted) and 7.
	sub := subscribe(t, h, ids[2], "a")
	if got := replayIDs(sub.Replay); !slices.Equal(got, []string{next}) || sub.Missed {
		t.Errorf("public reconnect after 3: missed %v, replay %q, want %q", sub.Missed, got, []string{next})
	}
	s2, err := h.Subscribe([]string{"a"}, ids[2], hub.WithPrivate(func(string) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Close)
	if got := replayIDs(s2.Replay); !slices.Equal(got, []string{ids[5], next}) || s2.Missed {
		t.Errorf("granted reconnect after 3: missed %v, replay %q, want %q", s2.Missed, got, []string{ids[5], next})
	}
	// Event 2 of a was trimmed before the restart: a client that saw only 1 missed it.
	if s := subscribe(t, h, ids[0], "a"); !s.Missed {
		t.Errorf("reconnect after 1: not told that 2 was trimmed")
	}
}

// replayIDs lists the IDs of the events in replay frames, leaving out the
// cursor frame (an id line alone).
func replayIDs(replay [][]byte) []string {
	var out []string
	for _, f := range replay {
		if bytes.Contains(f, []byte("\nevent: ")) {
			out = append(out, idLine(f))
		}
	}
	return out
}

func TestNewFromHistoryRefusesGarbage(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{"empty": nil, "text": []byte("not a snapshot")} {
		_, err := hub.NewFromHistory(hub.Config{}, bytes.NewReader(data))
		if !errors.Is(err, hub.ErrSnapshot) {
			t.Errorf("%s: %v, want ErrSnapshot", name, err)
		}
	}
	h := newHub(t, hub.Config{})
	publish(t, h, 2, "a")
	var snap bytes.Buffer
	if err := h.SaveHistory(&snap); err != nil {
		t.Fatal(err)
	}
	cut := snap.Bytes()[:snap.Len()-5]
	if _, err := hub.NewFromHistory(hub.Config{}, bytes.NewReader(cut)); !errors.Is(err, hub.ErrSnapshot) || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("truncated snapshot: %v", err)
	}
}

// replayCase is one reconnect to compare between two hubs.
type replayCase struct {
	topics  []string
	last    uint64
	private bool
}

// replayOf subscribes to h as c says and returns what the client is told.
func replayOf(t *testing.T, h *hub.Hub, c replayCase) (missed bool, replay [][]byte) {
	t.Helper()
	var opts []hub.SubscribeOption
	if c.private {
		opts = append(opts, hub.WithPrivate(func(string) bool { return true }))
	}
	s, err := h.Subscribe(c.topics, h.EventID(c.last), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Missed, s.Replay
}

// TestSnapshotRoundTripPerTopic saves a history that the per-topic bound
// left with gaps (events that one topic dropped and another still holds)
// and restores it: every reconnect gets from the new hub what it got from
// the old one, and restoring under tighter bounds trims as publishing would
// have.
func TestSnapshotRoundTripPerTopic(t *testing.T) {
	t.Parallel()
	cfg := hub.Config{HistoryPerTopic: 3}
	old := newHub(t, cfg)
	publish(t, old, 1, "a", "b") // 1: a drops it below, b keeps it
	publish(t, old, 2, "a")      // 2, 3
	if _, err := old.PublishPrivate([]string{"a", "c"}, element(4)); err != nil {
		t.Fatal(err) // 4: private; a drops 1
	}
	publish(t, old, 5, "c") // 5 to 9: c drops 4
	publish(t, old, 1, "b") // 10
	var cases []replayCase
	for _, topics := range [][]string{{"a"}, {"b"}, {"c"}, {"a", "b"}, {"a", "c"}, {"a", "b", "c"}, {"new"}} {
		for last := range uint64(11) {
			for _, private := range []bool{false, true} {
				cases = append(cases, replayCase{topics, last, private})
			}
		}
	}
	var snap bytes.Buffer
	if err := old.SaveHistory(&snap); err != nil {
		t.Fatal(err)
	}

	restored, err := hub.NewFromHistory(cfg, bytes.NewReader(snap.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Shutdown(t.Context()) })
	if o, r := old.Stats(), restored.Stats(); o.HistoryLen != r.HistoryLen || o.HistoryBytes != r.HistoryBytes || o.LastID != r.LastID || o.HistoryLen != 8 {
		t.Errorf("restored history %d events, %d bytes, last %s; want %d, %d, %s (8 events)", r.HistoryLen, r.HistoryBytes, r.LastID, o.HistoryLen, o.HistoryBytes, o.LastID)
	}
	if o, r := old.Topics(0), restored.Topics(0); !slices.Equal(o, r) {
		t.Errorf("restored topics %+v, want %+v", r, o)
	}
	for _, c := range cases {
		om, or := replayOf(t, old, c)
		rm, rr := replayOf(t, restored, c)
		if om != rm || !equalFrames(or, rr) {
			t.Errorf("%+v: restored Missed %v, Replay %s; the old hub said %v, %s", c, rm, describe(restored, rr), om, describe(old, or))
		}
	}

	// Under a tighter bound each topic keeps only its newest event, and its
	// mark says exactly which ones it dropped.
	tight, err := hub.NewFromHistory(hub.Config{HistoryPerTopic: 1}, bytes.NewReader(snap.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tight.Shutdown(t.Context()) })
	if got := history(tight); got["a"] != 1 || got["b"] != 1 || got["c"] != 1 {
		t.Errorf("events per topic under a bound of 1: %v", got)
	}
	checkReplays(t, tight, "bound 1", []replayWant{
		{replayCase{[]string{"b"}, 1, false}, false, []uint64{10}},
		{replayCase{[]string{"b"}, 0, false}, true, []uint64{10}},
		{replayCase{[]string{"a"}, 2, true}, true, []uint64{4}},
		{replayCase{[]string{"a"}, 3, true}, false, []uint64{4}},
		{replayCase{[]string{"c"}, 8, false}, false, []uint64{9}},
	})
}

// replayWant is what a reconnect should be told: whether it missed events,
// and the sequences of the events replayed.
type replayWant struct {
	c          replayCase
	wantMissed bool
	want       []uint64
}

// checkReplays reconnects to h as each case says and checks what it is
// told; label names h in the errors.
func checkReplays(t *testing.T, h *hub.Hub, label string, tests []replayWant) {
	t.Helper()
	for _, tt := range tests {
		missed, replay := replayOf(t, h, tt.c)
		var want []string
		for _, id := range tt.want {
			want = append(want, h.EventID(id))
		}
		if got := replayIDs(replay); missed != tt.wantMissed || !slices.Equal(got, want) {
			t.Errorf("%s, %+v: Missed %v, replay %q; want %v, %q", label, tt.c, missed, got, tt.wantMissed, want)
		}
	}
}

// TestSnapshotVersion1 restores a history file that the previous format
// (version 1) wrote: a hub with HistorySize 4 after events 1 and 2 on a, 3
// on b, 4 private on a, 5 on a and b, 6 on b, so that 1 and 2 were trimmed.
func TestSnapshotVersion1(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "history-v1.gob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := hub.NewFromHistory(hub.Config{}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Shutdown(t.Context()) })
	if st := h.Stats(); st.HistoryLen != 4 || st.LastID != h.EventID(6) {
		t.Errorf("HistoryLen %d, LastID %s; want 4, %s", st.HistoryLen, st.LastID, h.EventID(6))
	}
	checkReplays(t, h, "version 1", []replayWant{
		{replayCase{[]string{"a"}, 0, false}, true, []uint64{5}},
		{replayCase{[]string{"a"}, 2, true}, false, []uint64{4, 5}},
		{replayCase{[]string{"b"}, 0, false}, false, []uint64{3, 5, 6}},
		{replayCase{[]string{"a", "b"}, 3, false}, false, []uint64{5, 6}},
	})
}

// TestNewFromHistoryRefusesBadSnapshots writes snapshots that SaveHistory
// never would: each is refused with an error that says what is wrong.
func TestNewFromHistoryRefusesBadSnapshots(t *testing.T) {
	t.Parallel()
	// The layout of a snapshot, as gob matches it: by field name.
	type event struct {
		ID     uint64
		Topics []string
		Data   []byte
	}
	type snapshot struct {
		Version int
		Epoch   string
		Seq     uint64
		First   uint64
		Events  []event
		Trimmed map[string]uint64
	}
	frame := func(id string) []byte {
		return []byte("id: e1-" + id + "\nevent: datastar-patch-signals\ndata: signals {}\n\n")
	}
	valid := snapshot{Version: 2, Epoch: "e1", Seq: 5, Events: []event{{ID: 3, Topics: []string{"a"}, Data: frame("3")}, {ID: 5, Topics: []string{"a", "b"}, Data: frame("5")}},
		Trimmed: map[string]uint64{"a": 2}}
	tests := []struct {
		name string
		mod  func(s *snapshot)
		want string
	}{
		{"valid", func(*snapshot) {}, ""},
		{"newer version", func(s *snapshot) { s.Version = 4 }, "format version 4; this hubd reads versions 1 to 3"},
		{"no version", func(s *snapshot) { s.Version = 0 }, "format version 0"},
		{"IDs out of order", func(s *snapshot) { s.Events[0].ID = 5; s.Events[0].Data = frame("5") }, "event 1 has ID 5, not between the previous one's 5"},
		{"ID past the newest", func(s *snapshot) { s.Seq = 4 }, "event 1 has ID 5, not between the previous one's 3 and the newest ID 4"},
		{"event under its topic's mark", func(s *snapshot) { s.Trimmed["a"] = 3 }, `event 0 (ID 3) of topic "a" is not above the topic's trimmed mark 3`},
		{"topic twice", func(s *snapshot) { s.Events[1].Topics = []string{"a", "a"} }, `event 1 names a topic twice`},
		{"no topic", func(s *snapshot) { s.Events[1].Topics = nil }, `event 1: hub: no topics`},
		{"frame of another ID", func(s *snapshot) { s.Events[1].Data = frame("4") }, `event 1 does not start with "id: e1-5\n"`},
		{"version 1 with a gap", func(s *snapshot) { s.Version, s.First = 1, 3 }, "2 events from ID 3 do not end at the newest ID 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := valid
			s.Events = slices.Clone(valid.Events)
			for i := range s.Events {
				s.Events[i].Topics = slices.Clone(s.Events[i].Topics)
			}
			s.Trimmed = map[string]uint64{"a": 2}
			tt.mod(&s)
			var b bytes.Buffer
			if err := gob.NewEncoder(&b).Encode(&s); err != nil {
				t.Fatal(err)
			}
			h, err := hub.NewFromHistory(hub.Config{}, &b)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				h.Shutdown(t.Context())
				return
			}
			if !errors.Is(err, hub.ErrSnapshot) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewFromHistory = %v, want ErrSnapshot saying %q", err, tt.want)
			}
		})
	}
}
