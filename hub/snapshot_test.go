package hub_test

import (
	"bytes"
	"errors"
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
