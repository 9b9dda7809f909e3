package hub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// smallEvents returns n tiny signal patches, as a flooding publisher
// would send in one batch.
func smallEvents(n int) []sse.Eventer {
	evs := make([]sse.Eventer, n)
	for i := range evs {
		evs[i] = sse.PatchSignals{Signals: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	return evs
}

// TestFloodKeepsOtherTopics publishes one batch of 28,000 small events to
// one topic, with the default bounds: every other topic's events are still
// replayed, and no client of those topics is told it missed anything.
func TestFloodKeepsOtherTopics(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	live := subscribe(t, h, "", "news", "chat")
	publish(t, h, 40, "news")
	publish(t, h, 3, "chat", "news")
	publish(t, h, 7, "chat")
	frames, _ := receive(live)
	if len(frames) != 50 {
		t.Fatalf("live subscriber got %d frames, want 50", len(frames))
	}
	before := h.EventID(0)
	if _, err := h.Publish([]string{"junk"}, smallEvents(28_000)...); err != nil {
		t.Fatal(err)
	}
	newest := cursor(h, 28_050)

	tests := []struct {
		name   string
		topics []string
		want   []*broadcast.Frame
	}{
		{"news", []string{"news"}, frames[:43]},
		{"chat", []string{"chat"}, frames[40:]},
		{"both", []string{"news", "chat"}, frames},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := subscribe(t, h, before, tt.topics...)
			want := append(datas(tt.want), newest)
			if s.Missed || !equalFrames(s.Replay, want) {
				t.Errorf("Missed %v, Replay %s; want false, %s", s.Missed, describe(h, s.Replay), describe(h, want))
			}
		})
	}
	// The flood trimmed only itself, to its own bound.
	if got := history(h); got["junk"] != hub.DefaultHistoryPerTopic || got["news"] != 43 || got["chat"] != 10 {
		t.Errorf("events per topic %v, want junk %d, news 43, chat 10", got, hub.DefaultHistoryPerTopic)
	}
	if st := h.Stats(); st.HistoryLen != hub.DefaultHistoryPerTopic+50 {
		t.Errorf("HistoryLen %d, want %d", st.HistoryLen, hub.DefaultHistoryPerTopic+50)
	}
	s := subscribe(t, h, before, "junk")
	if !s.Missed || len(s.Replay) != hub.DefaultHistoryPerTopic+2 {
		t.Errorf("junk from the start: Missed %v, %d frames; want true, the signal, %d events and the cursor", s.Missed, len(s.Replay), hub.DefaultHistoryPerTopic)
	}
}

// history returns how many events each topic holds in history.
func history(h *hub.Hub) map[string]int {
	out := map[string]int{}
	for _, ti := range h.Topics(0) {
		if ti.History > 0 {
			out[ti.Name] = ti.History
		}
	}
	return out
}

// TestHistoryPerTopic checks that a topic over its own bound drops its own
// oldest events, and that its subscribers are told exactly when one they
// should have had is gone.
func TestHistoryPerTopic(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistoryPerTopic: 100, ClientBuffer: 300})
	live := subscribe(t, h, "", "junk")
	publish(t, h, 5, "quiet")                                                   // 1 to 5
	if _, err := h.Publish([]string{"junk"}, smallEvents(250)...); err != nil { // 6 to 255
		t.Fatal(err)
	}
	frames, _ := receive(live)
	evs := events(frames)
	if len(frames) != 1 || len(evs) != 250 {
		t.Fatalf("live subscriber got %d frames of %d events, want the batch's 250 in one", len(frames), len(evs))
	}
	kept := evs[150:] // 156 to 255
	newest := cursor(h, 255)
	tests := []struct {
		name       string
		topic      string
		last       uint64
		wantMissed bool
		want       [][]byte
	}{
		{"from the start", "junk", 0, true, kept},
		{"one dropped event unseen", "junk", 154, true, kept},
		{"every dropped event seen", "junk", 155, false, kept},
		{"inside what is kept", "junk", 205, false, evs[200:]},
		{"up to date", "junk", 255, false, nil},
		{"quiet topic untouched", "quiet", 0, false, nil}, // its five events: checked below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := subscribe(t, h, h.EventID(tt.last), tt.topic)
			want := append(slices.Clone(tt.want), newest)
			if tt.wantMissed {
				want = slices.Insert(want, 0, missedFrame)
			}
			if tt.topic == "quiet" {
				if s.Missed || len(s.Replay) != 6 {
					t.Errorf("quiet: Missed %v, Replay %s; want its 5 events", s.Missed, describe(h, s.Replay))
				}
				return
			}
			if s.Missed != tt.wantMissed || !equalFrames(s.Replay, want) {
				t.Errorf("Missed %v, Replay %s; want %v, %s", s.Missed, describe(h, s.Replay), tt.wantMissed, describe(h, want))
			}
		})
	}
	if got := history(h); got["junk"] != 100 || got["quiet"] != 5 {
		t.Errorf("events per topic %v, want junk 100, quiet 5", got)
	}
	var bytes int64
	for _, e := range kept {
		bytes += int64(len(e))
	}
	if st := h.Stats(); st.HistoryLen != 105 || st.HistoryBytes <= bytes {
		t.Errorf("HistoryLen %d, HistoryBytes %d; want 105 and more than junk's %d", st.HistoryLen, st.HistoryBytes, bytes)
	}
}

// TestHistoryTotals checks that the totals still bound the history, and
// that they take events from the topics holding the most: a topic holding
// fewer events than the others loses none.
func TestHistoryTotals(t *testing.T) {
	t.Parallel()
	t.Run("count, one flood", func(t *testing.T) {
		t.Parallel()
		h := newHub(t, hub.Config{HistorySize: 100, HistoryPerTopic: -1})
		publish(t, h, 30, "quiet")
		if _, err := h.Publish([]string{"junk"}, smallEvents(500)...); err != nil {
			t.Fatal(err)
		}
		if got := history(h); got["quiet"] != 30 || got["junk"] != 70 {
			t.Errorf("events per topic %v, want quiet 30, junk 70", got)
		}
		if st := h.Stats(); st.HistoryLen != 100 {
			t.Errorf("HistoryLen %d, want 100", st.HistoryLen)
		}
		if s := subscribe(t, h, h.EventID(0), "quiet"); s.Missed || len(s.Replay) != 31 {
			t.Errorf("quiet: Missed %v, %d frames; want false, 30 events and the cursor", s.Missed, len(s.Replay))
		}
		if s := subscribe(t, h, h.EventID(0), "junk"); !s.Missed || len(s.Replay) != 72 {
			t.Errorf("junk: Missed %v, %d frames; want true, the signal, 70 events and the cursor", s.Missed, len(s.Replay))
		}
	})
	t.Run("count, many flooding topics", func(t *testing.T) {
		t.Parallel()
		h := newHub(t, hub.Config{HistorySize: 100, HistoryPerTopic: -1})
		publish(t, h, 3, "quiet")
		for range 20 {
			for j := range 20 {
				publish(t, h, 1, fmt.Sprintf("junk/%d", j))
			}
		}
		got := history(h)
		if got["quiet"] != 3 {
			t.Errorf("quiet holds %d events, want 3", got["quiet"])
		}
		lo, hi, total := 1<<30, 0, 0
		for name, n := range got {
			total += n
			if name != "quiet" {
				lo, hi = min(lo, n), max(hi, n)
			}
		}
		if total != 100 || hi-lo > 1 {
			t.Errorf("events per topic %v: %d in all, junk topics from %d to %d; want 100, shared evenly", got, total, lo, hi)
		}
		if s := subscribe(t, h, h.EventID(0), "quiet"); s.Missed || len(s.Replay) != 4 {
			t.Errorf("quiet: Missed %v, %d frames; want false, 3 events and the cursor", s.Missed, len(s.Replay))
		}
	})
	t.Run("shares shift", func(t *testing.T) {
		t.Parallel()
		// a fills the history alone, then b, c and d take their shares
		// of it: a ends with its newest 25, in order.
		h := newHub(t, hub.Config{HistorySize: 100, HistoryPerTopic: -1})
		a := publish(t, h, 100, "a")
		for range 100 {
			for _, topic := range []string{"b", "c", "d"} {
				publish(t, h, 1, topic)
			}
		}
		if got := history(h); got["a"] != 25 || got["b"] != 25 || got["c"] != 25 || got["d"] != 25 {
			t.Errorf("events per topic %v, want 25 each", got)
		}
		s := subscribe(t, h, a[74], "a")
		if got := replayIDs(s.Replay); s.Missed || !slices.Equal(got, a[75:]) {
			t.Errorf("a after its 75th: Missed %v, replay %q; want false, %q", s.Missed, got, a[75:])
		}
		if s := subscribe(t, h, a[73], "a"); !s.Missed {
			t.Error("a after its 74th: not told that its 75th is gone")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		t.Parallel()
		const bound = 20_000
		h := newHub(t, hub.Config{HistoryBytes: bound, HistoryPerTopic: -1})
		big := sse.PatchElements{Elements: strings.Repeat("x", 1000)}
		for range 5 {
			if _, err := h.Publish([]string{"quiet"}, big); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.Publish([]string{"junk"}, smallEvents(2000)...); err != nil {
			t.Fatal(err)
		}
		st := h.Stats()
		if st.HistoryBytes > bound || st.HistoryBytes < bound-100 {
			t.Errorf("HistoryBytes %d, want at most %d and close to it", st.HistoryBytes, bound)
		}
		if s := subscribe(t, h, h.EventID(0), "quiet"); s.Missed || len(s.Replay) != 6 {
			t.Errorf("quiet: Missed %v, %d frames; want false, 5 events and the cursor", s.Missed, len(s.Replay))
		}
	})
}

// TestHistorySharedEvent checks an event published to two topics: when one
// topic's bound drops it, the other still holds and replays it, and it is
// gone only once both dropped it.
func TestHistorySharedEvent(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistoryPerTopic: 3})
	live := subscribe(t, h, "", "a", "b")
	publish(t, h, 1, "a", "b") // 1
	publish(t, h, 3, "a")      // 2 to 4: a drops 1, b keeps it
	frames, _ := receive(live)
	ev := func(seq int) []byte { return frames[seq-1].Data }
	newest := cursor(h, 4)

	tests := []struct {
		name       string
		topics     []string
		last       uint64
		wantMissed bool
		want       [][]byte
	}{
		{"b keeps it", []string{"b"}, 0, false, [][]byte{ev(1), newest}},
		{"a dropped it", []string{"a"}, 0, true, [][]byte{missedFrame, ev(2), ev(3), ev(4), newest}},
		{"a, 1 seen", []string{"a"}, 1, false, [][]byte{ev(2), ev(3), ev(4), newest}},
		// Told of a gap, conservatively: a dropped an event that b still
		// holds. Each event comes once, in order.
		{"both", []string{"a", "b"}, 0, true, [][]byte{missedFrame, ev(1), ev(2), ev(3), ev(4), newest}},
		{"both, 2 seen", []string{"b", "a"}, 2, false, [][]byte{ev(3), ev(4), newest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := subscribe(t, h, h.EventID(tt.last), tt.topics...)
			if s.Missed != tt.wantMissed || !equalFrames(s.Replay, tt.want) {
				t.Errorf("Missed %v, Replay %s; want %v, %s", s.Missed, describe(h, s.Replay), tt.wantMissed, describe(h, tt.want))
			}
		})
	}
	size := func(seqs ...int) (n int) {
		for _, seq := range seqs {
			n += len(ev(seq))
		}
		return n
	}
	if st := h.Stats(); st.HistoryLen != 4 || st.HistoryBytes != int64(size(1, 2, 3, 4)) {
		t.Errorf("HistoryLen %d, HistoryBytes %d; want 4, %d", st.HistoryLen, st.HistoryBytes, size(1, 2, 3, 4))
	}

	publish(t, h, 3, "b") // 5 to 7: b drops 1 too, which is then gone
	frames, _ = receive(live)
	ev = func(seq int) []byte { return frames[seq-5].Data }
	if st := h.Stats(); st.HistoryLen != 6 {
		t.Errorf("HistoryLen %d, want 6", st.HistoryLen)
	}
	if got := history(h); got["a"] != 3 || got["b"] != 3 {
		t.Errorf("events per topic %v, want a 3, b 3", got)
	}
	if s := subscribe(t, h, h.EventID(0), "b"); !s.Missed || !equalFrames(s.Replay, [][]byte{missedFrame, ev(5), ev(6), ev(7), cursor(h, 7)}) {
		t.Errorf("b from the start: Missed %v, Replay %s", s.Missed, describe(h, s.Replay))
	}
}

// datas returns the frames' bytes.
func datas(frames []*broadcast.Frame) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = f.Data
	}
	return out
}
