package hub_test

import (
	"slices"
	"testing"

	"github.com/hubd-dev/hubd/hub"
)

func TestPrivateEvents(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	only := func(topics ...string) hub.SubscribeOption {
		return hub.WithPrivate(func(t string) bool { return slices.Contains(topics, t) })
	}
	sub := func(opt hub.SubscribeOption, lastEventID string, topics ...string) *hub.Subscription {
		t.Helper()
		s, err := h.Subscribe(topics, lastEventID, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	public := sub(only(), "", "room")
	granted := sub(only("room"), "", "room")
	// Private access to one of two topics is enough for an event on both,
	// and the event still comes once.
	both := sub(only("room"), "", "lobby", "room")
	if !slices.Equal(granted.Private, []string{"room"}) || len(public.Private) != 0 {
		t.Fatalf("Private = %q and %q", granted.Private, public.Private)
	}

	start := publish(t, h, 1, "room")[0]
	priv, err := h.PublishPrivate([]string{"room", "lobby"}, element(1))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, h, 1, "room")
	if priv.Subscribers != 2 {
		t.Errorf("private publish offered to %d subscribers, want 2", priv.Subscribers)
	}
	wantPublic, wantGranted := []uint64{1, 3}, []uint64{1, 2, 3}
	for name, c := range map[string]struct {
		s    *hub.Subscription
		want []uint64
	}{"public": {public, wantPublic}, "granted": {granted, wantGranted}, "both": {both, wantGranted}} {
		frames, _ := receive(c.s)
		if got := frameIDs(frames); !slices.Equal(got, c.want) {
			t.Errorf("%s received %v, want %v", name, got, c.want)
		}
	}

	// Replay filters the same way.
	for name, c := range map[string]struct {
		opt  hub.SubscribeOption
		want int
	}{"public": {only(), 1}, "granted": {only("room"), 2}} {
		s := sub(c.opt, start, "room")
		if got := len(s.Replay) - 1; got != c.want { // less the cursor frame
			t.Errorf("%s replay holds %d events, want %d:\n%s", name, got, c.want, describe(h, s.Replay))
		}
	}
}
