package hub_test

import (
	"errors"
	"testing"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/hub"
)

// TestSubscriptionEnd checks that End unsubscribes with its reason, that
// the first reason stays, and that Close afterwards changes nothing.
func TestSubscriptionEnd(t *testing.T) {
	t.Parallel()
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	sub, err := h.Subscribe([]string{"a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	reason := errors.New("revoked")
	sub.End(reason)
	sub.End(errors.New("again"))
	sub.Close()
	if _, ok := <-sub.C(); ok {
		t.Fatal("C is open after End")
	}
	if err := sub.Err(); err != reason || errors.Is(err, broadcast.ErrClosed) {
		t.Fatalf("Err %v, want the first End's reason", err)
	}
	if n := h.Subscribers("a"); n != 0 {
		t.Fatalf("%d subscribers after End, want 0", n)
	}
}
