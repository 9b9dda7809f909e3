package hub_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// retain publishes events retained, failing the test on an error.
func retain(t testing.TB, h *hub.Hub, private bool, topics []string, events ...sse.Eventer) hub.Published {
	t.Helper()
	res, err := h.PublishContext(context.Background(), topics, hub.PublishOptions{Retain: true, Private: private}, events...)
	if err != nil {
		t.Fatalf("retained publish to %q: %v", topics, err)
	}
	return res
}

func signals(js string) sse.PatchSignals { return sse.PatchSignals{Signals: []byte(js)} }

// encoded returns ev as a frame without an id line, as retained state is
// sent.
func encoded(t testing.TB, ev sse.Eventer) string {
	t.Helper()
	e, err := ev.Event()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sse.AppendEvent(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

func wantReplay(t *testing.T, got [][]byte, want ...string) {
	t.Helper()
	if g := strs(got); strings.Join(g, "|") != strings.Join(want, "|") {
		t.Fatalf("replay:\n got %q\nwant %q", g, want)
	}
}

func TestRetainedLateJoiner(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	retain(t, h, false, []string{"a"}, signals(`{"count":1,"user":{"name":"ann","age":3}}`))
	retain(t, h, false, []string{"a"}, sse.PatchElements{Elements: `<p id="c">one</p>`})
	retain(t, h, false, []string{"a"}, sse.PatchElements{Selector: "#list", Mode: sse.ModeAppend, Elements: `<li>x</li>`})
	// Not retained: not in the state.
	if _, err := h.Publish([]string{"a"}, signals(`{"other":1}`)); err != nil {
		t.Fatal(err)
	}
	retain(t, h, false, []string{"a"}, signals(`{"count":2,"user":{"age":null,"mood":"ok"}}`))
	retain(t, h, false, []string{"a"}, sse.PatchElements{Elements: `<p id="c">two</p>`})
	last := retain(t, h, false, []string{"a"}, signals(`{"gone":1}`), signals(`{"gone":null}`))

	s := subscribe(t, h, "", "a")
	wantReplay(t, s.Replay,
		encoded(t, signals(`{"count":2,"user":{"mood":"ok","name":"ann"}}`)),
		encoded(t, sse.PatchElements{Selector: "#list", Mode: sse.ModeAppend, Elements: `<li>x</li>`}),
		encoded(t, sse.PatchElements{Elements: `<p id="c">two</p>`}),
		"id: "+last.IDs[1]+"\n\n",
	)
	// Live events follow, not in the state.
	res := retain(t, h, false, []string{"a"}, signals(`{"count":3}`))
	frames, _ := receive(s)
	if len(frames) != 1 || frames[0].ID == 0 || idLine(frames[0].Data) != res.IDs[0] {
		t.Fatalf("live frames %v, want the one event %s", frameIDs(frames), res.IDs[0])
	}
	// A subscriber that resumes without a gap gets no state.
	r := subscribe(t, h, res.IDs[0], "a")
	wantReplay(t, r.Replay, "id: "+res.IDs[0]+"\n\n")
}

func TestRetainedMerge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		patches []string
		missing bool // the last patch has onlyIfMissing
		want    string
	}{
		{"null removes", []string{`{"a":1,"b":2}`, `{"a":null}`}, false, `{"b":2}`},
		{"nested merge", []string{`{"o":{"x":1,"y":{"z":1}}}`, `{"o":{"y":{"w":2}}}`}, false, `{"o":{"x":1,"y":{"w":2,"z":1}}}`},
		{"nested null", []string{`{"o":{"x":1,"y":2}}`, `{"o":{"x":null}}`}, false, `{"o":{"y":2}}`},
		{"object replaces scalar", []string{`{"o":1}`, `{"o":{"x":1,"n":null}}`}, false, `{"o":{"x":1}}`},
		{"array replaces", []string{`{"l":[1,2]}`, `{"l":[3]}`}, false, `{"l":[3]}`},
		{"numbers kept", []string{`{"n":12345678901234567890}`}, false, `{"n":12345678901234567890}`},
		{"only if missing", []string{`{"a":1,"o":{"x":1}}`, `{"a":2,"b":2,"o":{"x":2,"y":2}}`}, true, `{"a":1,"b":2,"o":{"x":1,"y":2}}`},
		{"all removed", []string{`{"a":1}`, `{"a":null}`}, false, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHub(t, hub.Config{})
			for i, p := range tc.patches {
				retain(t, h, false, []string{"m"}, sse.PatchSignals{Signals: []byte(p), OnlyIfMissing: tc.missing && i == len(tc.patches)-1})
			}
			s := subscribe(t, h, "", "m")
			want := []string{}
			if tc.want != "" {
				want = append(want, encoded(t, signals(tc.want)))
			}
			want = append(want, string(s.Replay[len(s.Replay)-1]))
			wantReplay(t, s.Replay, want...)
		})
	}
}

func TestRetainedElements(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	x1 := sse.PatchElements{Selector: "#x", Elements: `<p id="x">1</p>`}
	x2 := sse.PatchElements{Selector: "#x", Mode: sse.ModeInner, Elements: `2`}
	y := sse.PatchElements{Elements: `<p id="y">y</p><p id="z">z</p>`}
	retain(t, h, false, []string{"e"}, x1, x2, y)
	retain(t, h, false, []string{"e"}, sse.PatchElements{Elements: `<p id="x">3</p>`}) // target "#x" by id, mode outer: replaces x1
	retain(t, h, false, []string{"e"}, sse.RemoveElements("#y #z"))                    // not the same target as y's ("#y #z" by ids)
	retain(t, h, false, []string{"e"}, sse.RemoveElements("#x"))
	res := retain(t, h, false, []string{"e"}, sse.PatchElements{Elements: `<div id="w"><p id="inner">n</p></div>`})
	s := subscribe(t, h, "", "e")
	wantReplay(t, s.Replay,
		encoded(t, sse.PatchElements{Elements: `<div id="w"><p id="inner">n</p></div>`}),
		"id: "+res.IDs[0]+"\n\n",
	)
	if y.Selector != "" {
		t.Fatal("unreachable")
	}

	// Elements kept by ids, removed by the same ids.
	retain(t, h, false, []string{"f"}, y)
	retain(t, h, false, []string{"f"}, sse.PatchElements{Selector: "#y #z", Mode: sse.ModeRemove})
	f := subscribe(t, h, "", "f")
	if len(f.Replay) != 1 {
		t.Fatalf("after remove: %q, want only the cursor", strs(f.Replay))
	}
}

func TestRetainRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	live := subscribe(t, h, "", "r")
	for _, tc := range []struct {
		name string
		ev   sse.Eventer
		want error
	}{
		{"script", sse.ExecuteScript{Script: "alert(1)"}, hub.ErrRetainScript},
		{"no target", sse.PatchElements{Elements: `<p>no id</p>`}, hub.ErrRetainTarget},
	} {
		_, err := h.PublishContext(context.Background(), []string{"r"}, hub.PublishOptions{Retain: true}, signals(`{"ok":1}`), tc.ev)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "event 1") {
			t.Errorf("%s: err %v, want %v naming event 1", tc.name, err, tc.want)
		}
	}
	if frames, _ := receive(live); len(frames) != 0 {
		t.Fatalf("refused publishes delivered %d frames", len(frames))
	}
	if n, _ := h.RetainedStats(); n != 0 {
		t.Fatalf("refused publishes retained state in %d topics", n)
	}
}

func TestRetainedBounds(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{RetainedTopicBytes: 100, RetainedBytes: 150})
	live := subscribe(t, h, "", "a", "b")
	retain(t, h, false, []string{"a"}, signals(`{"v":"`+strings.Repeat("x", 40)+`"}`))
	before, size := h.RetainedStats()
	if before != 1 || size < 40 {
		t.Fatalf("RetainedStats = %d topics, %d bytes", before, size)
	}
	// One topic past its bound, in the second event of a batch.
	_, err := h.PublishContext(context.Background(), []string{"a"}, hub.PublishOptions{Retain: true},
		signals(`{"w":1}`), signals(`{"big":"`+strings.Repeat("y", 80)+`"}`))
	if !errors.Is(err, hub.ErrRetainedTopicFull) || !strings.Contains(err.Error(), "retained-topic-bytes") {
		t.Fatalf("err %v, want ErrRetainedTopicFull", err)
	}
	// The total past its bound.
	retain(t, h, false, []string{"b"}, signals(`{"v":"`+strings.Repeat("x", 40)+`"}`))
	_, err = h.PublishContext(context.Background(), []string{"c"}, hub.PublishOptions{Retain: true}, signals(`{"v":"`+strings.Repeat("z", 60)+`"}`))
	if !errors.Is(err, hub.ErrRetainedFull) || !strings.Contains(err.Error(), "retained-bytes") {
		t.Fatalf("err %v, want ErrRetainedFull", err)
	}
	frames, _ := receive(live)
	if len(frames) != 2 {
		t.Fatalf("live got %d frames, want only the 2 accepted publishes", len(frames))
	}
	if n, _ := h.RetainedStats(); n != 2 {
		t.Fatalf("%d topics retained, want 2", n)
	}
	// A publish that shrinks a topic is accepted while the total is over.
	retain(t, h, false, []string{"a"}, signals(`{"v":null}`))
	// Clearing frees room.
	if ok, err := h.ClearRetained(context.Background(), "b"); !ok || err != nil {
		t.Fatalf("ClearRetained = %v, %v", ok, err)
	}
	retain(t, h, false, []string{"c"}, signals(`{"v":"`+strings.Repeat("z", 60)+`"}`))
	if n, _ := h.RetainedStats(); n != 1 {
		t.Fatalf("%d topics retained, want only c", n)
	}
}

func TestRetainedAfterGap(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistoryPerTopic: 2})
	first := retain(t, h, false, []string{"g"}, signals(`{"n":1}`))
	retain(t, h, false, []string{"g"}, signals(`{"n":2}`))
	retain(t, h, false, []string{"g"}, sse.PatchElements{Elements: `<p id="p">3</p>`})
	last := retain(t, h, false, []string{"g"}, signals(`{"n":4}`))
	s := subscribe(t, h, first.IDs[0], "g")
	if !s.Missed || len(s.Replay) < 3 || !bytes.Equal(s.Replay[0], missedFrame) {
		t.Fatalf("replay %s, want the missed signal first", describe(h, s.Replay))
	}
	wantReplay(t, s.Replay[1:3], encoded(t, signals(`{"n":4}`)), encoded(t, sse.PatchElements{Elements: `<p id="p">3</p>`}))
	if got := string(s.Replay[len(s.Replay)-1]); got != "id: "+last.IDs[0]+"\n\n" {
		t.Fatalf("cursor %q", got)
	}
	// A gap in a topic without retained state: no state frames.
	h.Publish([]string{"q"}, signals(`{"a":1}`))
	q := subscribe(t, h, "nonsense", "q")
	if !q.Missed || bytes.Contains(bytes.Join(q.Replay[1:], nil), []byte(`"n"`)) {
		t.Fatalf("replay of q %q", strs(q.Replay))
	}
}

func TestRetainedPrivate(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	retain(t, h, false, []string{"p"}, signals(`{"pub":1,"shared":"public"}`))
	retain(t, h, true, []string{"p"}, signals(`{"secret":1,"shared":"private"}`), sse.PatchElements{Elements: `<p id="s">secret</p>`})
	res := retain(t, h, false, []string{"p"}, signals(`{"pub":2}`))
	plain := subscribe(t, h, "", "p")
	wantReplay(t, plain.Replay, encoded(t, signals(`{"pub":2,"shared":"public"}`)), "id: "+res.IDs[0]+"\n\n")
	priv, err := h.Subscribe([]string{"p"}, "", hub.WithPrivate(func(string) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	defer priv.Close()
	wantReplay(t, priv.Replay, encoded(t, signals(`{"pub":2,"secret":1,"shared":"private"}`)),
		encoded(t, sse.PatchElements{Elements: `<p id="s">secret</p>`}), "id: "+res.IDs[0]+"\n\n")
}

func TestRetainedSeveralTopics(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	retain(t, h, false, []string{"a"}, signals(`{"a":1,"o":{"x":1}}`))
	retain(t, h, false, []string{"a", "b"}, sse.PatchElements{Elements: `<p id="both">1</p>`})
	res := retain(t, h, false, []string{"b"}, signals(`{"b":1,"o":{"y":1}}`))
	s := subscribe(t, h, "", "a", "b")
	wantReplay(t, s.Replay, encoded(t, signals(`{"a":1,"b":1,"o":{"x":1,"y":1}}`)),
		encoded(t, sse.PatchElements{Elements: `<p id="both">1</p>`}), "id: "+res.IDs[0]+"\n\n")
}

func TestRetainedSnapshot(t *testing.T) {
	t.Parallel()
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	retain(t, h, false, []string{"a", "b"}, signals(`{"n":1}`), sse.PatchElements{Elements: `<p id="x">1</p>`})
	retain(t, h, true, []string{"a"}, signals(`{"s":1}`))
	before, err := h.Subscribe([]string{"a", "b"}, "", hub.WithPrivate(func(string) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	before.Close()
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := h.SaveHistory(&buf); err != nil {
		t.Fatal(err)
	}
	h2, err := hub.NewFromHistory(hub.Config{}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h2.Shutdown(context.Background()) })
	after, err := h2.Subscribe([]string{"a", "b"}, "", hub.WithPrivate(func(string) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	wantReplay(t, after.Replay, strs(before.Replay)...)
	n1, b1 := h.RetainedStats()
	n2, b2 := h2.RetainedStats()
	if n1 != 2 || n1 != n2 || b1 != b2 {
		t.Fatalf("RetainedStats before %d, %d; after %d, %d", n1, b1, n2, b2)
	}
}

// TestRetainedBoundLowered: after a restart with a lower bound, a topic
// over it may shrink but not grow.
func TestRetainedBoundLowered(t *testing.T) {
	t.Parallel()
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	retain(t, h, false, []string{"a"}, signals(`{"v":"`+strings.Repeat("x", 80)+`","w":1}`))
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := h.SaveHistory(&buf); err != nil {
		t.Fatal(err)
	}
	h2, err := hub.NewFromHistory(hub.Config{RetainedTopicBytes: 50}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h2.Shutdown(context.Background()) })
	if _, err := h2.PublishContext(context.Background(), []string{"a"}, hub.PublishOptions{Retain: true}, signals(`{"more":1}`)); !errors.Is(err, hub.ErrRetainedTopicFull) {
		t.Fatalf("growing a topic over its lowered bound: %v, want ErrRetainedTopicFull", err)
	}
	retain(t, h2, false, []string{"a"}, signals(`{"w":null}`))
}
