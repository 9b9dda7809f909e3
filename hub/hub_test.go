package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/heartbeat"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// missedFrame is the frame that tells a page it missed events: a signals
// patch without an id line, so that it does not move the client's cursor.
var missedFrame = []byte("event: datastar-patch-signals\ndata: signals {\"" + hub.MissedSignal + "\":true}\n\n")

// newHub returns a hub that is shut down when the test ends. Its ticker is
// slow enough never to fire: tests call Beat themselves.
func newHub(t testing.TB, cfg hub.Config) *hub.Hub {
	t.Helper()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Hour
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

// subscribe subscribes and closes the subscription when the test ends
// (before the hub's shutdown, as cleanups run last first).
func subscribe(t testing.TB, h *hub.Hub, lastEventID string, topics ...string) *hub.Subscription {
	t.Helper()
	s, err := h.Subscribe(topics, lastEventID)
	if err != nil {
		t.Fatalf("Subscribe(%q, %q): %v", topics, lastEventID, err)
	}
	t.Cleanup(s.Close)
	return s
}

func element(i int) sse.PatchElements {
	return sse.PatchElements{Elements: fmt.Sprintf(`<p id="n">%d</p>`, i)}
}

// publish publishes n single-event publishes to topics and returns the IDs.
func publish(t testing.TB, h *hub.Hub, n int, topics ...string) []string {
	t.Helper()
	var ids []string
	for i := range n {
		res, err := h.Publish(topics, element(i))
		if err != nil {
			t.Fatalf("Publish(%q): %v", topics, err)
		}
		ids = append(ids, res.IDs...)
	}
	return ids
}

// receive returns every frame queued for s without blocking, and whether C
// was seen closed.
func receive(s *hub.Subscription) (frames []*broadcast.Frame, closed bool) {
	for {
		select {
		case f, ok := <-s.C():
			if !ok {
				return frames, true
			}
			frames = append(frames, f)
		default:
			return frames, false
		}
	}
}

func frameIDs(frames []*broadcast.Frame) []uint64 {
	ids := make([]uint64, len(frames))
	for i, f := range frames {
		ids[i] = f.ID
	}
	return ids
}

// idLine returns the ID of an encoded frame's leading id line, or "".
func idLine(frame []byte) string {
	line, _, _ := strings.Cut(string(frame), "\n")
	id, ok := strings.CutPrefix(line, "id: ")
	if !ok {
		return ""
	}
	return id
}

// events splits frames into the events they carry, each ending with its
// blank line: a batch's frame carries several.
func events(frames []*broadcast.Frame) [][]byte {
	var out [][]byte
	for _, f := range frames {
		for rest := f.Data; len(rest) > 0; {
			i := bytes.Index(rest, []byte("\n\n"))
			if i < 0 {
				out = append(out, rest) // not a whole event: the caller's check fails on it
				break
			}
			out = append(out, rest[:i+2])
			rest = rest[i+2:]
		}
	}
	return out
}

// eventIDs returns the IDs of the events frames carry, in order.
func eventIDs(frames []*broadcast.Frame) []string {
	var ids []string
	for _, e := range events(frames) {
		ids = append(ids, idLine(e))
	}
	return ids
}

func cursor(h *hub.Hub, seq uint64) []byte { return []byte("id: " + h.EventID(seq) + "\n\n") }

func equalFrames(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// describe renders replay frames readably for failure messages.
func describe(h *hub.Hub, frames [][]byte) string {
	var parts []string
	for _, f := range frames {
		switch id := idLine(f); {
		case bytes.Equal(f, missedFrame):
			parts = append(parts, "missed")
		case strings.HasSuffix(string(f), "\n\n") && string(f) == "id: "+id+"\n\n":
			parts = append(parts, "cursor "+strings.TrimPrefix(id, h.Epoch()+"-"))
		case id != "":
			parts = append(parts, "event "+strings.TrimPrefix(id, h.Epoch()+"-"))
		default:
			parts = append(parts, strconv.Quote(string(f)))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func TestValidateTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		topic    string
		wantErr  string // a part of the message; "" means valid
		reserved bool
	}{
		{"one letter", "a", "", false},
		{"segments", "a/b/c", "", false},
		{"colon", "news:eu", "", false},
		{"punctuation", "x-y_z.~@", "", false},
		{"dots inside a segment", "a/..b/c.", "", false},
		{"longest", strings.Repeat("a", hub.MaxTopicLength), "", false},
		{"reserved", "$hubd/stats", "", true},
		{"empty", "", "empty name", false},
		{"leading slash", "/a", "empty segment", false},
		{"trailing slash", "a/", "empty segment", false},
		{"double slash", "a//b", "empty segment", false},
		{"dot", ".", `"." segment`, false},
		{"dot-dot", "a/../b", `".." segment`, false},
		{"space", "a b", `contains " "`, false},
		{"star", "a*", `contains "*"`, false},
		{"non-ASCII names the whole character", "ü", `contains "ü"`, false},
		{"invalid UTF-8", "a\xff", `contains "\xff"`, false},
		{"too long", strings.Repeat("a", hub.MaxTopicLength+1), "257 bytes, longer than 256", false},
		{"dollar alone", "$", "empty segment", true},
		{"dollar inside", "a$b", `contains "$"`, false},
		{"two dollars", "$$a", `contains "$"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := hub.ValidateTopic(tt.topic)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidateTopic(%q) = %v, want nil", tt.topic, err)
			case tt.wantErr != "" && !errors.Is(err, hub.ErrInvalidTopic):
				t.Errorf("ValidateTopic(%q) = %v, want ErrInvalidTopic", tt.topic, err)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("ValidateTopic(%q) = %q, want it to say %q", tt.topic, err, tt.wantErr)
			}
			if got := hub.Reserved(tt.topic); got != tt.reserved {
				t.Errorf("Reserved(%q) = %v, want %v", tt.topic, got, tt.reserved)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	_, err := hub.New(hub.Config{ClientBuffer: -1, Heartbeat: -time.Second})
	if err == nil {
		t.Fatal("New accepted a negative ClientBuffer and Heartbeat")
	}
	for _, want := range []string{"client buffer -1", "heartbeat -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestValidateNodeID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		want string // "" for valid, else a part of the error
	}{
		{"uuid", "0196f2a4-7c1e-7b3a-9d2e-4f5a6b7c8d9e", ""},
		{"name", "hubd-eu.west_1", ""},
		{"one byte", "a", ""},
		{"longest", strings.Repeat("n", hub.MaxNodeIDLen), ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("n", hub.MaxNodeIDLen+1), "65 bytes, more than 64"},
		{"space", "node 1", `' ' at byte 4`},
		{"slash", "eu/1", `'/' at byte 2`},
		{"newline", "a\n", `'\n' at byte 1`},
		{"not ASCII", "nœud", "at byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := hub.ValidateNodeID(tt.id)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ValidateNodeID(%q) = %v, want nil", tt.id, err)
			case tt.want != "" && (!errors.Is(err, hub.ErrNodeID) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ValidateNodeID(%q) = %v, want hub.ErrNodeID naming %q", tt.id, err, tt.want)
			}
		})
	}
}

func TestNodeID(t *testing.T) {
	t.Parallel()
	if got := newHub(t, hub.Config{NodeID: "node-7"}).NodeID(); got != "node-7" {
		t.Errorf("NodeID() = %q, want node-7", got)
	}
	if got := newHub(t, hub.Config{}).NodeID(); got != "" {
		t.Errorf("NodeID() of an unnamed hub = %q, want empty", got)
	}
	_, err := hub.New(hub.Config{NodeID: "node 7"})
	if !errors.Is(err, hub.ErrNodeID) || !strings.Contains(err.Error(), `node ID: hub: invalid node ID: "node 7"`) {
		t.Errorf("New with node ID %q: %v, want an error naming it", "node 7", err)
	}
}

func TestPublishRejectsInvalidInput(t *testing.T) {
	t.Parallel()
	good := element(1)
	tests := []struct {
		name    string
		topics  []string
		events  []sse.Eventer
		wantErr error
		wantMsg string
	}{
		{"nil topics", nil, []sse.Eventer{good}, hub.ErrNoTopics, ""},
		{"empty topics", []string{}, []sse.Eventer{good}, hub.ErrNoTopics, ""},
		{"invalid topic", []string{"t", "a b"}, []sse.Eventer{good}, hub.ErrInvalidTopic, `"a b"`},
		{"no events", []string{"t"}, nil, hub.ErrNoEvents, ""},
		{"invalid event option", []string{"t"}, []sse.Eventer{good, sse.PatchElements{}}, sse.ErrInvalidOption, "event 1"},
		{"injected field", []string{"t"}, []sse.Eventer{good, good, sse.Event{Type: "x\ndata: y"}}, sse.ErrInvalidField, "event 2"},
		{"invalid UTF-8", []string{"t"}, []sse.Eventer{sse.Event{Fields: []sse.Field{{Key: "k", Value: "\xff"}}}}, sse.ErrInvalidUTF8, "event 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHub(t, hub.Config{})
			s := subscribe(t, h, "", "t")

			_, err := h.Publish(tt.topics, tt.events...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Publish = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name %q", err, tt.wantMsg)
			}
			if frames, _ := receive(s); len(frames) != 0 {
				t.Errorf("subscriber got %d frames from a failed publish", len(frames))
			}
			st := h.Stats()
			if st.LastID != h.EventID(0) || st.Events != 0 || st.Publishes != 0 || st.HistoryLen != 0 {
				t.Errorf("after a failed publish: LastID %s, Events %d, Publishes %d, HistoryLen %d; want nothing",
					st.LastID, st.Events, st.Publishes, st.HistoryLen)
			}
			// The failed publish used no ID.
			if ids := publish(t, h, 1, "t"); ids[0] != h.EventID(1) {
				t.Errorf("next ID = %s, want %s", ids[0], h.EventID(1))
			}
		})
	}
}

func TestPublishIDs(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	var ids []string
	for _, n := range []int{1, 3, 1} {
		events := make([]sse.Eventer, n)
		for i := range events {
			events[i] = element(i)
		}
		res, err := h.Publish([]string{"t"}, events...)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.IDs) != n {
			t.Fatalf("Publish of %d events returned %d IDs", n, len(res.IDs))
		}
		ids = append(ids, res.IDs...)
	}
	for i, id := range ids {
		epoch, seq, ok := strings.Cut(id, "-")
		if !ok || epoch != h.Epoch() || seq != strconv.Itoa(i+1) {
			t.Errorf("ID %d = %q, want %q", i, id, h.Epoch()+"-"+strconv.Itoa(i+1))
		}
		if id != h.EventID(uint64(i+1)) {
			t.Errorf("EventID(%d) = %q, Publish said %q", i+1, h.EventID(uint64(i+1)), id)
		}
	}
	st := h.Stats()
	if st.LastID != ids[len(ids)-1] || st.Events != 5 || st.Publishes != 3 {
		t.Errorf("Stats = LastID %s, Events %d, Publishes %d; want %s, 5, 3", st.LastID, st.Events, st.Publishes, ids[4])
	}
}

func TestPublishFrame(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	s := subscribe(t, h, "", "t")
	ev := sse.PatchElements{Elements: "<p id=a>1</p>\n<p id=b>2</p>", ID: "publisher-chosen"}

	res, err := h.Publish([]string{"t"}, ev)
	if err != nil {
		t.Fatal(err)
	}
	frames, _ := receive(s)
	if len(frames) != 1 {
		t.Fatalf("got %d frames, want 1", len(frames))
	}
	ev.ID = ""
	e, err := ev.Event()
	if err != nil {
		t.Fatal(err)
	}
	body, err := sse.AppendEvent(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	// The hub's ID replaces the publisher's, on the first line.
	want := append([]byte("id: "+res.IDs[0]+"\n"), body...)
	if !bytes.Equal(frames[0].Data, want) {
		t.Errorf("frame =\n%q\nwant\n%q", frames[0].Data, want)
	}
	if frames[0].ID != 1 {
		t.Errorf("frame ID = %d, want 1", frames[0].ID)
	}
}

func TestPublishBatchToSeveralTopics(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	subA := subscribe(t, h, "", "a")
	subB := subscribe(t, h, "", "b")
	subAB := subscribe(t, h, "", "a", "b")
	subC := subscribe(t, h, "", "c")

	res, err := h.Publish([]string{"a", "b", "a"}, element(1), element(2), element(3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Topics, []string{"a", "b"}) {
		t.Errorf("Topics = %q, want [a b] without the repeat", res.Topics)
	}
	if res.Subscribers != 3 {
		t.Errorf("Subscribers = %d, want 3 (each counted once)", res.Subscribers)
	}
	// Each subscriber gets the batch as one frame, whose ID is the last
	// event's, carrying the three events with their own IDs.
	batch := []string{h.EventID(1), h.EventID(2), h.EventID(3)}
	tests := []struct {
		name   string
		sub    *hub.Subscription
		frames []uint64
		events []string
	}{
		{"subscriber of a", subA, []uint64{3}, batch},
		{"subscriber of b", subB, []uint64{3}, batch},
		{"subscriber of both gets each once", subAB, []uint64{3}, batch},
		{"subscriber of another topic", subC, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, closed := receive(tt.sub)
			if got := frameIDs(frames); !slices.Equal(got, tt.frames) || closed {
				t.Errorf("frames %v (closed %v), want %v", got, closed, tt.frames)
			}
			if got := eventIDs(frames); !slices.Equal(got, tt.events) {
				t.Errorf("events %q, want %q", got, tt.events)
			}
		})
	}
	if st := h.Stats(); st.Deliveries != 3 || st.HistoryLen != 3 {
		t.Errorf("Deliveries %d, HistoryLen %d; want 3 frames, 3 events", st.Deliveries, st.HistoryLen)
	}
}

// TestBatchLargerThanTheBufferEvictsNoOne: a batch of more events than a
// subscriber's buffer holds reaches it as one frame, every event with its
// own ID, instead of evicting it; a subscriber too slow for the frames
// themselves is still evicted.
func TestBatchLargerThanTheBufferEvictsNoOne(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{ClientBuffer: 4})
	sub := subscribe(t, h, "", "t")
	res, err := h.Publish([]string{"t"}, smallEvents(10)...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Subscribers != 1 {
		t.Errorf("Subscribers = %d, want 1", res.Subscribers)
	}
	frames, closed := receive(sub)
	if closed || len(frames) != 1 {
		t.Fatalf("%d frames (closed %v), want the batch in one", len(frames), closed)
	}
	if got := eventIDs(frames); !slices.Equal(got, res.IDs) {
		t.Errorf("events %q, want %q", got, res.IDs)
	}
	if st := h.Stats(); st.Evictions != 0 || st.HistoryLen != 10 {
		t.Errorf("Evictions %d, HistoryLen %d; want 0, 10", st.Evictions, st.HistoryLen)
	}
	for range 5 { // nobody reads: the fifth frame finds the buffer full
		if _, err := h.Publish([]string{"t"}, smallEvents(2)...); err != nil {
			t.Fatal(err)
		}
	}
	if frames, closed := receive(sub); !closed || len(frames) != 4 || !errors.Is(sub.Err(), broadcast.ErrSlow) {
		t.Errorf("%d frames (closed %v, %v), want 4 and an eviction as too slow", len(frames), closed, sub.Err())
	}
}

func TestSubscribeRejectsInvalidTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		topics  []string
		wantErr error
	}{
		{"no topics", nil, hub.ErrNoTopics},
		{"invalid topic", []string{"a", "b/"}, hub.ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHub(t, hub.Config{})
			s, err := h.Subscribe(tt.topics, "")
			if !errors.Is(err, tt.wantErr) || s != nil {
				t.Errorf("Subscribe = %v, %v; want nil, %v", s, err, tt.wantErr)
			}
			if st := h.Stats(); st.Clients != 0 || st.Topics != 0 {
				t.Errorf("after a failed subscribe: %d clients, %d topics", st.Clients, st.Topics)
			}
		})
	}
}

func TestSubscribeDropsRepeatedTopics(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	s := subscribe(t, h, "", "a", "b", "a")
	if !slices.Equal(s.Topics, []string{"a", "b"}) {
		t.Errorf("Topics = %q, want [a b]", s.Topics)
	}
}

func TestSubscribeReplay(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	live := subscribe(t, h, "", "t", "u")
	for _, topic := range []string{"t", "u", "t", "t", "u"} { // IDs 1 to 5
		publish(t, h, 1, topic)
	}
	frames, _ := receive(live)
	if len(frames) != 5 {
		t.Fatalf("live subscriber got %d frames, want 5", len(frames))
	}
	ev := func(seq int) []byte { return frames[seq-1].Data }
	newest := cursor(h, 5)

	tests := []struct {
		name   string
		topics []string
		last   string
		want   [][]byte
	}{
		{"new client gets only the cursor", []string{"t"}, "", [][]byte{newest}},
		{"after 0", []string{"t"}, h.EventID(0), [][]byte{ev(1), ev(3), ev(4), newest}},
		{"after 1", []string{"t"}, h.EventID(1), [][]byte{ev(3), ev(4), newest}},
		{"after 3", []string{"t"}, h.EventID(3), [][]byte{ev(4), newest}},
		{"two topics after 2", []string{"t", "u"}, h.EventID(2), [][]byte{ev(3), ev(4), ev(5), newest}},
		{"up to date", []string{"t", "u"}, h.EventID(5), [][]byte{newest}},
		{"topic without events", []string{"v"}, h.EventID(1), [][]byte{newest}},
	}
	for _, tt := range tests { // sequential: the cases share the hub
		t.Run(tt.name, func(t *testing.T) {
			s := subscribe(t, h, tt.last, tt.topics...)
			if s.Missed {
				t.Error("Missed = true with the whole history available")
			}
			if !equalFrames(s.Replay, tt.want) {
				t.Errorf("Replay = %s, want %s", describe(h, s.Replay), describe(h, tt.want))
			}
			if frames, _ := receive(s); len(frames) != 0 {
				t.Errorf("replayed events also queued on C: %v", frameIDs(frames))
			}
		})
	}

	// What is published after Subscribe comes through C, once.
	s := subscribe(t, h, h.EventID(1), "t")
	publish(t, h, 1, "t")
	if frames, _ := receive(s); !slices.Equal(frameIDs(frames), []uint64{6}) {
		t.Errorf("after the replay C has %v, want [6]", frameIDs(frames))
	}
}

// keptLastThree reads the five events live received and checks that the
// history holds exactly the last three; it returns the frame of event seq.
func keptLastThree(t *testing.T, h *hub.Hub, live *hub.Subscription) func(seq int) []byte {
	t.Helper()
	frames, _ := receive(live)
	ev := func(seq int) []byte { return frames[seq-1].Data }
	st := h.Stats()
	if st.HistoryLen != 3 {
		t.Errorf("HistoryLen = %d, want 3", st.HistoryLen)
	}
	if want := int64(len(ev(3)) + len(ev(4)) + len(ev(5))); st.HistoryBytes != want {
		t.Errorf("HistoryBytes = %d, want %d", st.HistoryBytes, want)
	}
	return ev
}

func TestHistorySize(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistorySize: 3})
	live := subscribe(t, h, "", "t")
	publish(t, h, 5, "t")
	ev := keptLastThree(t, h, live)
	if got := h.Topics(0); len(got) != 1 || got[0].History != 3 {
		t.Errorf("Topics = %+v, want t with 3 events of history", got)
	}

	newest := cursor(h, 5)
	tests := []struct {
		name       string
		last       uint64
		wantMissed bool
		want       [][]byte
	}{
		{"before everything", 0, true, [][]byte{missedFrame, ev(3), ev(4), ev(5), newest}},
		{"one trimmed event unseen", 1, true, [][]byte{missedFrame, ev(3), ev(4), ev(5), newest}},
		{"every trimmed event seen", 2, false, [][]byte{ev(3), ev(4), ev(5), newest}},
		{"inside the history", 4, false, [][]byte{ev(5), newest}},
		{"up to date", 5, false, [][]byte{newest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := subscribe(t, h, h.EventID(tt.last), "t")
			if s.Missed != tt.wantMissed {
				t.Errorf("Missed = %v, want %v", s.Missed, tt.wantMissed)
			}
			if !equalFrames(s.Replay, tt.want) {
				t.Errorf("Replay = %s, want %s", describe(h, s.Replay), describe(h, tt.want))
			}
		})
	}
}

func TestHistoryBytes(t *testing.T) {
	t.Parallel()
	// Every frame is the 1,000-byte element plus about 50 bytes of framing,
	// so 3,500 bytes hold three frames and not four.
	h := newHub(t, hub.Config{HistoryBytes: 3500})
	live := subscribe(t, h, "", "t")
	elements := sse.PatchElements{Elements: strings.Repeat("x", 1000)}
	for range 5 {
		if _, err := h.Publish([]string{"t"}, elements); err != nil {
			t.Fatal(err)
		}
	}
	ev := keptLastThree(t, h, live)

	t.Run("trimmed range", func(t *testing.T) {
		s := subscribe(t, h, h.EventID(1), "t")
		want := [][]byte{missedFrame, ev(3), ev(4), ev(5), cursor(h, 5)}
		if !s.Missed || !equalFrames(s.Replay, want) {
			t.Errorf("Missed %v, Replay %s; want true, %s", s.Missed, describe(h, s.Replay), describe(h, want))
		}
	})
	t.Run("kept range", func(t *testing.T) {
		s := subscribe(t, h, h.EventID(2), "t")
		want := [][]byte{ev(3), ev(4), ev(5), cursor(h, 5)}
		if s.Missed || !equalFrames(s.Replay, want) {
			t.Errorf("Missed %v, Replay %s; want false, %s", s.Missed, describe(h, s.Replay), describe(h, want))
		}
	})
	t.Run("event larger than the bound", func(t *testing.T) {
		if _, err := h.Publish([]string{"t"}, sse.PatchElements{Elements: strings.Repeat("y", 4000)}); err != nil {
			t.Fatal(err)
		}
		if st := h.Stats(); st.HistoryLen != 0 || st.HistoryBytes != 0 {
			t.Errorf("HistoryLen %d, HistoryBytes %d; want an empty history", st.HistoryLen, st.HistoryBytes)
		}
		s := subscribe(t, h, h.EventID(5), "t")
		want := [][]byte{missedFrame, cursor(h, 6)}
		if !s.Missed || !equalFrames(s.Replay, want) {
			t.Errorf("Missed %v, Replay %s; want true, %s", s.Missed, describe(h, s.Replay), describe(h, want))
		}
	})
}

func TestGapPerTopic(t *testing.T) {
	t.Parallel()
	// With a history of 1, event 1 on the first topic and then ten events on
	// "busy" leave only event 11 in the history: busy's first event pushes
	// out event 1 (both topics hold one event, and the first topic came to
	// it first), and from then on busy, which holds the most, drops its own.
	tests := []struct {
		name       string
		keeper     string // a topic held open by another subscriber
		first      string // topic of event 1
		topic      string // topic subscribed to
		last       uint64
		wantMissed bool
	}{
		{"quiet topic with a subscriber, only other topics trimmed", "quiet", "busy", "quiet", 1, false},
		{"quiet topic never used, only other topics trimmed", "", "busy", "quiet", 1, false},
		{"trimmed topic itself", "", "busy", "busy", 1, true},
		{"own event trimmed, topic kept by a subscriber", "quiet", "quiet", "quiet", 0, true},
		{"own trimmed event already seen", "quiet", "quiet", "quiet", 1, false},
		{"forgotten topic", "", "gone", "gone", 0, true},
		{"forgotten topic, its last event seen", "", "gone", "gone", 1, false},
		{"unknown topic after a forgotten one: conservative", "", "gone", "fresh", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHub(t, hub.Config{HistorySize: 1})
			if tt.keeper != "" {
				subscribe(t, h, "", tt.keeper)
			}
			publish(t, h, 1, tt.first)
			publish(t, h, 10, "busy")
			if tt.first == "gone" && slices.ContainsFunc(h.Topics(0), func(i hub.TopicInfo) bool { return i.Name == "gone" }) {
				t.Fatal(`"gone" still listed with no subscriber and no history`)
			}

			s := subscribe(t, h, h.EventID(tt.last), tt.topic)
			if s.Missed != tt.wantMissed {
				t.Errorf("Missed = %v, want %v", s.Missed, tt.wantMissed)
			}
			if got := bytes.Equal(s.Replay[0], missedFrame); got != tt.wantMissed {
				t.Errorf("Replay = %s; starts with the missed signal: %v, want %v", describe(h, s.Replay), got, tt.wantMissed)
			}
			if !bytes.Equal(s.Replay[len(s.Replay)-1], cursor(h, 11)) {
				t.Errorf("Replay = %s, want it to end with cursor 11", describe(h, s.Replay))
			}
		})
	}
}

func TestHistoryNegativeKeepsNothing(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistorySize: -1})
	live := subscribe(t, h, "", "t")
	publish(t, h, 3, "t")
	if frames, _ := receive(live); !slices.Equal(frameIDs(frames), []uint64{1, 2, 3}) {
		t.Errorf("live subscriber got %v, want [1 2 3]", frameIDs(frames))
	}
	if st := h.Stats(); st.HistoryLen != 0 || st.HistoryBytes != 0 {
		t.Errorf("HistoryLen %d, HistoryBytes %d; want 0, 0", st.HistoryLen, st.HistoryBytes)
	}
	tests := []struct {
		name       string
		last       uint64
		wantMissed bool
	}{
		{"up to date", 3, false},
		{"one behind", 2, true},
		{"from the start", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := subscribe(t, h, h.EventID(tt.last), "t")
			want := [][]byte{cursor(h, 3)}
			if tt.wantMissed {
				want = slices.Insert(want, 0, missedFrame)
			}
			if s.Missed != tt.wantMissed || !equalFrames(s.Replay, want) {
				t.Errorf("Missed %v, Replay %s; want %v, %s", s.Missed, describe(h, s.Replay), tt.wantMissed, describe(h, want))
			}
		})
	}
}

// TestSubscribeUnusableLastEventID checks a Last-Event-ID the hub cannot
// place: one of another run (a restart after a crash), one past the newest
// event, or no event ID at all. The client cannot know what it missed, so it
// is told so and then gets the whole history of its topics, filtered for
// private events as any replay is, and after that every live event once.
func TestSubscribeUnusableLastEventID(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	granted := hub.WithPrivate(func(string) bool { return true })
	live, err := h.Subscribe([]string{"t", "u"}, "", granted)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(live.Close)
	// Events 1 to 4: public on t, public on u, private on t, public on t.
	publish(t, h, 1, "t")
	publish(t, h, 1, "u")
	if _, err := h.PublishPrivate([]string{"t"}, element(3)); err != nil {
		t.Fatal(err)
	}
	publish(t, h, 1, "t")
	frames, _ := receive(live)
	if len(frames) != 4 {
		t.Fatalf("live subscriber got %d frames, want 4", len(frames))
	}
	ev := func(seq int) []byte { return frames[seq-1].Data }

	ids := []struct {
		name string
		last string
	}{
		{"another epoch", "0" + h.Epoch() + "-1"},
		{"another epoch, same number", "zzzzzzzzzz-2"},
		{"garbage", "garbage"},
		{"no number", h.Epoch() + "-"},
		{"not a number", h.Epoch() + "-x1"},
		{"negative", h.Epoch() + "--1"},
		{"from the future", h.EventID(5)},
		{"far future", h.EventID(1 << 40)},
	}
	kinds := []struct {
		name string
		opts []hub.SubscribeOption
		want [][]byte
	}{
		{"public", nil, [][]byte{missedFrame, ev(1), ev(4), cursor(h, 4)}},
		{"private granted", []hub.SubscribeOption{granted}, [][]byte{missedFrame, ev(1), ev(3), ev(4), cursor(h, 4)}},
	}
	replayed := h.Stats().Replayed
	for _, id := range ids { // sequential: the cases share the hub
		for _, k := range kinds {
			t.Run(id.name+"/"+k.name, func(t *testing.T) {
				s, err := h.Subscribe([]string{"t"}, id.last, k.opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if !s.Missed || !equalFrames(s.Replay, k.want) {
					t.Errorf("Missed %v, Replay %s; want true, %s", s.Missed, describe(h, s.Replay), describe(h, k.want))
				}
				if frames, _ := receive(s); len(frames) != 0 {
					t.Errorf("replayed events also queued on C: %v", frameIDs(frames))
				}
				replayed += uint64(len(k.want) - 2) // less the signal and the cursor
			})
		}
	}
	if st := h.Stats(); st.Replayed != replayed {
		t.Errorf("Replayed = %d, want %d", st.Replayed, replayed)
	}

	// After the replay the subscription is live: the next event comes
	// through C, once.
	s := subscribe(t, h, "zzzzzzzzzz-9", "t")
	publish(t, h, 1, "t")
	if frames, _ := receive(s); !slices.Equal(frameIDs(frames), []uint64{5}) {
		t.Errorf("after the replay C has %v, want [5]", frameIDs(frames))
	}
}

// TestSubscribeUnusableLastEventIDTrimmed checks that an unusable ID gets
// what the history still holds when older events were pushed out.
func TestSubscribeUnusableLastEventIDTrimmed(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistorySize: 2})
	live := subscribe(t, h, "", "t")
	publish(t, h, 3, "t")
	frames, _ := receive(live)
	s := subscribe(t, h, "garbage", "t")
	want := [][]byte{missedFrame, frames[1].Data, frames[2].Data, cursor(h, 3)}
	if !s.Missed || !equalFrames(s.Replay, want) {
		t.Errorf("Missed %v, Replay %s; want true, %s", s.Missed, describe(h, s.Replay), describe(h, want))
	}
}

func TestEvictSlowSubscriber(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{ClientBuffer: 2})
	slow := subscribe(t, h, "", "t")
	other := subscribe(t, h, "", "u")

	ids := publish(t, h, 2, "t")
	res, err := h.Publish([]string{"t"}, element(3))
	if err != nil {
		t.Fatal(err)
	}
	if res.Subscribers != 1 {
		t.Errorf("Subscribers of the evicting publish = %d, want 1", res.Subscribers)
	}

	frames, closed := receive(slow)
	if !slices.Equal(frameIDs(frames), []uint64{1, 2}) || !closed {
		t.Fatalf("slow subscriber read %v (closed %v), want [1 2] then closed", frameIDs(frames), closed)
	}
	if !errors.Is(slow.Err(), broadcast.ErrSlow) {
		t.Errorf("Err() = %v, want ErrSlow", slow.Err())
	}
	st := h.Stats()
	if st.Evictions != 1 || st.Clients != 1 {
		t.Errorf("Evictions %d, Clients %d; want 1, 1", st.Evictions, st.Clients)
	}
	for _, info := range h.Topics(0) {
		if info.Name == "t" && info.Subscribers != 0 {
			t.Errorf("topic t still lists %d subscribers", info.Subscribers)
		}
	}
	if res := publish(t, h, 1, "t"); len(res) != 1 {
		t.Fatal("publish after eviction failed")
	}
	if frames, _ := receive(other); len(frames) != 0 {
		t.Errorf("subscriber of another topic got %v", frameIDs(frames))
	}

	// The evicted client reconnects with its last ID and catches up.
	back := subscribe(t, h, ids[1], "t")
	if back.Missed || len(back.Replay) != 3 {
		t.Errorf("reconnect: Missed %v, Replay %s; want events 3, 4 and the cursor", back.Missed, describe(h, back.Replay))
	}

	slow.Close()
	if !errors.Is(slow.Err(), broadcast.ErrSlow) {
		t.Errorf("Err() after Close = %v, want ErrSlow still", slow.Err())
	}
}

func TestBeat(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{ClientBuffer: 2})
	full := subscribe(t, h, "", "a")
	roomy := subscribe(t, h, "", "b")
	publish(t, h, 2, "a") // fills full's buffer

	steps := []struct {
		name          string
		wantEvictions uint64
		wantClients   int
	}{
		{"evicts the full client", 1, 1},
		{"fills the other", 1, 1},
		{"evicts the other", 2, 0},
	}
	for _, st := range steps { // sequential: each beat builds on the last
		t.Run(st.name, func(t *testing.T) {
			h.Beat()
			got := h.Stats()
			if got.Evictions != st.wantEvictions || got.Clients != st.wantClients {
				t.Errorf("Evictions %d, Clients %d; want %d, %d", got.Evictions, got.Clients, st.wantEvictions, st.wantClients)
			}
		})
	}

	frames, closed := receive(full)
	if !slices.Equal(frameIDs(frames), []uint64{1, 2}) || !closed || !errors.Is(full.Err(), broadcast.ErrSlow) {
		t.Errorf("full client read %v, closed %v, Err %v; want [1 2], true, ErrSlow", frameIDs(frames), closed, full.Err())
	}
	frames, closed = receive(roomy)
	if len(frames) != 2 || !closed || !errors.Is(roomy.Err(), broadcast.ErrSlow) {
		t.Fatalf("other client read %d frames, closed %v, Err %v; want 2, true, ErrSlow", len(frames), closed, roomy.Err())
	}
	for _, f := range frames {
		if f.ID != 0 || !bytes.Equal(f.Data, heartbeat.Frame) {
			t.Errorf("heartbeat frame = ID %d, %q; want 0, %q", f.ID, f.Data, heartbeat.Frame)
		}
	}
}

// TestSubscriptionBeat checks that a subscription's own Beat offers the
// heartbeat to it alone, evicts it when its buffer is full, as the hub's
// Beat does, and does nothing once it is closed.
func TestSubscriptionBeat(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{ClientBuffer: 2})
	probed := subscribe(t, h, "", "a")
	other := subscribe(t, h, "", "a")
	probed.Beat()
	select {
	case f := <-probed.C():
		if f.ID != 0 || !bytes.Equal(f.Data, heartbeat.Frame) {
			t.Errorf("frame = ID %d, %q; want the heartbeat %q", f.ID, f.Data, heartbeat.Frame)
		}
	default:
		t.Fatal("no heartbeat queued for the subscription")
	}
	if n := len(other.C()); n != 0 {
		t.Errorf("the other subscription got %d frames, want none", n)
	}
	probed.Beat()
	probed.Beat()
	probed.Beat() // the third finds the buffer of two full
	if got := h.Stats(); got.Evictions != 1 || got.Clients != 1 {
		t.Errorf("Evictions %d, Clients %d; want 1, 1", got.Evictions, got.Clients)
	}
	if _, closed := receive(probed); !closed || !errors.Is(probed.Err(), broadcast.ErrSlow) {
		t.Errorf("closed %v, Err %v; want an eviction", closed, probed.Err())
	}
	other.Close()
	other.Beat() // closed: nothing to offer, nothing to evict
	if got := h.Stats(); got.Evictions != 1 || got.Clients != 0 {
		t.Errorf("after Close: Evictions %d, Clients %d; want 1, 0", got.Evictions, got.Clients)
	}
}

func TestHeartbeatTicker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{Heartbeat: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.Subscribe([]string{"t"}, "")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Second + time.Second/2)
		synctest.Wait()
		frames, _ := receive(s)
		if len(frames) != 3 {
			t.Errorf("%d heartbeats after 3.5 s at 1 s, want 3", len(frames))
		}
		s.Close()
		if err := h.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The bubble ends only if Shutdown stopped the ticker's goroutine.
	})
}

// TestHeartbeatSkipsBusyStreams checks, on a fake clock, which streams
// the ticker gives a heartbeat: an idle one every interval, one that got
// an event only once it has been quiet for an interval since, and one
// that events keep busy never; and that no stream goes longer than the
// interval without a frame.
func TestHeartbeatSkipsBusyStreams(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		h, err := hub.New(hub.Config{Heartbeat: interval, ClientBuffer: 256})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		type arrival struct {
			at   time.Duration
			beat bool
		}
		var mu sync.Mutex
		got := map[string][]arrival{}
		var wg sync.WaitGroup
		subs := map[string]*hub.Subscription{}
		for _, name := range []string{"busy", "idle", "once"} {
			s, err := h.Subscribe([]string{name}, "")
			if err != nil {
				t.Fatal(err)
			}
			subs[name] = s
			wg.Go(func() {
				for f := range s.C() {
					mu.Lock()
					got[name] = append(got[name], arrival{time.Since(start), f.ID == 0})
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Second)
		publish(t, h, 1, "once")
		for range 20 { // busy: an event every 2 s, from 1 s to 39 s
			publish(t, h, 1, "busy")
			time.Sleep(2 * time.Second)
		}
		time.Sleep(time.Second) // to 41 s
		synctest.Wait()
		for _, s := range subs {
			s.Close()
		}
		wg.Wait()

		beats := func(name string) (at []time.Duration) {
			for _, a := range got[name] {
				if a.beat {
					at = append(at, a.at)
				}
			}
			return at
		}
		s := func(n ...int) (d []time.Duration) {
			for _, x := range n {
				d = append(d, time.Duration(x)*time.Second)
			}
			return d
		}
		if b := beats("busy"); len(b) != 0 {
			t.Errorf("the busy stream got heartbeats at %v, want none", b)
		}
		if b := beats("idle"); !slices.Equal(b, s(10, 20, 30, 40)) {
			t.Errorf("the idle stream got heartbeats at %v, want every %v", b, interval)
		}
		// Its event at 1 s: the ticks at 5 s and 10 s find it quiet once,
		// and then twice.
		if b := beats("once"); !slices.Equal(b, s(10, 20, 30, 40)) {
			t.Errorf("the stream with one event got heartbeats at %v, want 10s, 20s, 30s, 40s", b)
		}
		for name, as := range got {
			last := time.Duration(0)
			for _, a := range append(as, arrival{at: 41 * time.Second}) {
				if a.at-last > interval {
					t.Errorf("%s: nothing written from %v to %v, longer than the interval", name, last, a.at)
				}
				last = a.at
			}
		}
		if err := h.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s1, err := h.Subscribe([]string{"a"}, "")
		if err != nil {
			t.Fatal(err)
		}
		s2, err := h.Subscribe([]string{"b"}, "")
		if err != nil {
			t.Fatal(err)
		}
		publish(t, h, 1, "a")

		returned := make(chan error, 1)
		go func() { returned <- h.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-returned:
			t.Fatalf("Shutdown returned %v with subscriptions open", err)
		default:
		}

		for name, s := range map[string]*hub.Subscription{"s1": s1, "s2": s2} {
			if _, closed := receive(s); !closed || !errors.Is(s.Err(), hub.ErrShutdown) {
				t.Errorf("%s: closed %v, Err %v; want closed with ErrShutdown", name, closed, s.Err())
			}
		}
		if _, err := h.Subscribe([]string{"a"}, ""); !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Subscribe during shutdown = %v, want ErrClosed", err)
		}
		if res, err := h.Publish([]string{"a"}, element(2)); err != nil || res.IDs[0] != h.EventID(2) || res.Subscribers != 0 {
			t.Errorf("Publish during shutdown = %+v, %v; want ID 2 offered to nobody", res, err)
		}

		s1.Close()
		synctest.Wait()
		select {
		case err := <-returned:
			t.Fatalf("Shutdown returned %v with a subscription open", err)
		default:
		}
		s2.Close()
		s2.Close()
		synctest.Wait()
		select {
		case err := <-returned:
			if err != nil {
				t.Errorf("Shutdown = %v, want nil", err)
			}
		default:
			t.Fatal("Shutdown did not return once every subscription closed")
		}

		if !errors.Is(s1.Err(), hub.ErrShutdown) {
			t.Errorf("Err() after Close = %v, want ErrShutdown still", s1.Err())
		}
		if st := h.Stats(); st.Clients != 0 {
			t.Errorf("Clients = %d after every Close", st.Clients)
		}
		if _, err := h.Publish([]string{"a"}, element(3)); err != nil {
			t.Errorf("Publish after shutdown = %v", err)
		}
		if _, err := h.Subscribe([]string{"a"}, ""); !errors.Is(err, hub.ErrClosed) {
			t.Errorf("Subscribe after shutdown = %v, want ErrClosed", err)
		}
		if err := h.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown = %v, want nil", err)
		}
	})
}

func TestShutdownQueuedFramesStayReadable(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	s, err := h.Subscribe([]string{"t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	publish(t, h, 2, "t")
	done := make(chan error, 1)
	go func() { done <- h.Shutdown(context.Background()) }()
	// The handler drains what was queued, then sees the close.
	var ids []uint64
	for f := range s.C() {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []uint64{1, 2}) || !errors.Is(s.Err(), hub.ErrShutdown) {
		t.Errorf("read %v, Err %v; want [1 2], ErrShutdown", ids, s.Err())
	}
	s.Close()
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

func TestShutdownContextEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
		wait    time.Duration
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 5*time.Second)
		}, context.DeadlineExceeded, 5 * time.Second},
		{"already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h, err := hub.New(hub.Config{})
				if err != nil {
					t.Fatal(err)
				}
				s, err := h.Subscribe([]string{"t"}, "")
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := tt.ctx()
				defer cancel()
				start := time.Now()
				err = h.Shutdown(ctx)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Shutdown = %v, want %v", err, tt.wantErr)
				}
				if waited := time.Since(start); waited != tt.wait {
					t.Errorf("Shutdown waited %v, want %v", waited, tt.wait)
				}
				// Closing the straggler lets the hub's waiter end; the bubble
				// would report it blocked otherwise.
				s.Close()
			})
		})
	}
}

func TestSubscriptionCloseIdempotent(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	keep := subscribe(t, h, "", "keep")
	s, err := h.Subscribe([]string{"t", "keep"}, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()

	if _, closed := receive(s); !closed || !errors.Is(s.Err(), broadcast.ErrClosed) {
		t.Errorf("closed %v, Err %v; want closed with broadcast.ErrClosed", closed, s.Err())
	}
	want := []hub.TopicInfo{{Name: "keep", Subscribers: 1}}
	if got := h.Topics(0); !slices.Equal(got, want) {
		t.Errorf("Topics = %+v, want %+v (t forgotten, s gone from keep)", got, want)
	}
	if st := h.Stats(); st.Clients != 1 {
		t.Errorf("Clients = %d, want 1", st.Clients)
	}
	publish(t, h, 1, "keep")
	if frames, _ := receive(keep); len(frames) != 1 {
		t.Errorf("remaining subscriber got %d frames, want 1", len(frames))
	}
	// The hub's cleanup Shutdown would panic or hang if Close counted twice.
}

func TestTopics(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	for range 3 {
		subscribe(t, h, "", "b")
	}
	subscribe(t, h, "", "c")
	subscribe(t, h, "", "a")
	publish(t, h, 2, "a")
	publish(t, h, 1, "d")

	all := []hub.TopicInfo{
		{Name: "b", Subscribers: 3},
		{Name: "a", Subscribers: 1, History: 2},
		{Name: "c", Subscribers: 1},
		{Name: "d", History: 1},
	}
	tests := []struct {
		name  string
		limit int
		want  []hub.TopicInfo
	}{
		{"no limit", 0, all},
		{"negative limit", -1, all},
		{"limit", 2, all[:2]},
		{"limit above count", 10, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := h.Topics(tt.limit); !slices.Equal(got, tt.want) {
				t.Errorf("Topics(%d) = %+v, want %+v", tt.limit, got, tt.want)
			}
		})
	}
	if st := h.Stats(); st.Topics != 4 {
		t.Errorf("Stats().Topics = %d, want 4", st.Topics)
	}
}

// TestConcurrentPublishSubscribe checks, under -race, that Subscribe's
// replay and its live channel join up exactly while publishes run.
func TestConcurrentPublishSubscribe(t *testing.T) {
	t.Parallel()
	const publishers, perPublisher, subscribers = 8, 500, 8
	const total = publishers * perPublisher
	h := newHub(t, hub.Config{ClientBuffer: total, HistoryPerTopic: total}) // replay never misses

	done := make(chan struct{})
	var pubs sync.WaitGroup
	published := make([][]string, publishers)
	for p := range publishers {
		pubs.Go(func() {
			for i := range perPublisher {
				res, err := h.Publish([]string{"t"}, element(i))
				if err != nil {
					t.Error(err)
					return
				}
				published[p] = append(published[p], res.IDs[0])
			}
		})
	}
	go func() { pubs.Wait(); close(done) }()

	var subs sync.WaitGroup
	for n := range subscribers {
		subs.Go(func() {
			var last uint64 // highest ID seen
			lastID := ""    // "" until the first subscription
			for round := 0; ; round++ {
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				s, err := h.Subscribe([]string{"t"}, lastID)
				if err != nil {
					t.Error(err)
					return
				}
				if s.Missed {
					t.Errorf("subscriber %d round %d: Missed", n, round)
				}
				for i, f := range s.Replay {
					id := idLine(f)
					if i == len(s.Replay)-1 { // the cursor
						if lastID != "" && id != h.EventID(last) {
							t.Errorf("subscriber %d round %d: cursor %s after event %d", n, round, id, last)
						}
						if lastID == "" {
							seq, _ := strings.CutPrefix(id, h.Epoch()+"-")
							last, _ = strconv.ParseUint(seq, 10, 64)
						}
						break
					}
					if id != h.EventID(last+1) {
						t.Errorf("subscriber %d round %d: replay has %s after event %d", n, round, id, last)
						s.Close()
						return
					}
					last++
				}
				// Read live frames: a few per round, then all that are queued
				// once publishing is over.
			read:
				for i := 0; i < 50*(n+1); i++ {
					select {
					case f, ok := <-s.C():
						if !ok {
							t.Errorf("subscriber %d: C closed: %v", n, s.Err())
							return
						}
						if f.ID != last+1 || idLine(f.Data) != h.EventID(f.ID) {
							t.Errorf("subscriber %d round %d: got %d (%s) after %d", n, round, f.ID, idLine(f.Data), last)
							s.Close()
							return
						}
						last = f.ID
					case <-done:
						break read
					}
				}
				for f := range drainNow(s) {
					if f.ID != last+1 {
						t.Errorf("subscriber %d round %d: got %d after %d", n, round, f.ID, last)
						break
					}
					last = f.ID
				}
				s.Close()
				lastID = h.EventID(last)
				if finished {
					if last != total {
						t.Errorf("subscriber %d ended at event %d, want %d", n, last, total)
					}
					return
				}
			}
		})
	}
	subs.Wait()

	// Every ID was issued once, and each publisher's IDs increase.
	var all []uint64
	for p, ids := range published {
		var prev uint64
		for _, id := range ids {
			seq, err := strconv.ParseUint(strings.TrimPrefix(id, h.Epoch()+"-"), 10, 64)
			if err != nil || seq <= prev {
				t.Errorf("publisher %d: ID %s after %d", p, id, prev)
			}
			prev = seq
			all = append(all, seq)
		}
	}
	slices.Sort(all)
	if len(all) != total || all[0] != 1 || all[len(all)-1] != total || len(slices.Compact(all)) != total {
		t.Errorf("published IDs are not exactly 1 to %d", total)
	}
	if st := h.Stats(); st.LastID != h.EventID(total) || st.Evictions != 0 {
		t.Errorf("LastID %s, Evictions %d; want %s, 0", st.LastID, st.Evictions, h.EventID(total))
	}
}

// drainNow yields the frames queued for s without blocking.
func drainNow(s *hub.Subscription) func(yield func(*broadcast.Frame) bool) {
	return func(yield func(*broadcast.Frame) bool) {
		for {
			select {
			case f, ok := <-s.C():
				if !ok || !yield(f) {
					return
				}
			default:
				return
			}
		}
	}
}
