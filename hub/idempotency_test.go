package hub_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// TestIdempotencyWindow checks on a fake clock that a key is remembered
// for exactly the window: a retry just inside it answers the first
// publish's IDs and publishes nothing; at the window's end the same key
// publishes anew.
func TestIdempotencyWindow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const window = 30 * time.Second
		h, err := hub.New(hub.Config{Heartbeat: time.Hour, IdempotencyWindow: window})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Shutdown(context.Background())
		ev := sse.PatchSignals{Signals: []byte(`{"n":1}`)}
		pub := func() hub.Published {
			t.Helper()
			p, err := h.PublishContext(t.Context(), []string{"a"}, hub.PublishOptions{IdempotencyKey: "k"}, ev, ev)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		first := pub()
		time.Sleep(window - time.Nanosecond)
		if again := pub(); !slices.Equal(again.IDs, first.IDs) {
			t.Errorf("retry inside the window: IDs %v, want the first's %v", again.IDs, first.IDs)
		}
		if n := h.Stats().Events; n != 2 {
			t.Errorf("%d events published, want the first batch's 2 only", n)
		}
		time.Sleep(time.Nanosecond)
		if late := pub(); slices.Equal(late.IDs, first.IDs) {
			t.Errorf("after the window: IDs %v, the first's again", late.IDs)
		}
		if n := h.Stats().Events; n != 4 {
			t.Errorf("%d events published, want 4 once the key is forgotten", n)
		}
	})
}

// TestIdempotencyKeysBounded checks that past IdempotencyKeys the oldest
// keys are forgotten first and the newer ones still answer.
func TestIdempotencyKeysBounded(t *testing.T) {
	t.Parallel()
	h, err := hub.New(hub.Config{Heartbeat: time.Hour, IdempotencyKeys: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	ids := map[string]string{}
	pub := func(key string) string {
		t.Helper()
		p, err := h.PublishContext(t.Context(), []string{"a"}, hub.PublishOptions{IdempotencyKey: key}, sse.ExecuteScript{Script: "1"})
		if err != nil {
			t.Fatal(err)
		}
		return p.IDs[0]
	}
	for _, k := range []string{"a", "b", "c"} {
		ids[k] = pub(k)
	}
	if got := pub("c"); got != ids["c"] {
		t.Errorf("newest key c: %s, want the first answer %s", got, ids["c"])
	}
	if got := pub("b"); got != ids["b"] {
		t.Errorf("key b: %s, want the first answer %s", got, ids["b"])
	}
	if got := pub("a"); got == ids["a"] {
		t.Errorf("oldest key a past the bound still answers %s", got)
	}
}
