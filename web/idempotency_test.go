package web_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestIdempotencyKeyPublishesOnce checks over HTTP on a single node that
// a publish repeated with the same Idempotency-Key answers the first
// publish's result and publishes nothing, for a single event and for a
// batch, even when the repeat's body differs (the first result is
// answered), while another key publishes.
func TestIdempotencyKeyPublishesOnce(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{})
	sub := subscribe(t, srv, "/topics/idem", "")

	status, first := post(t, srv, "/topics/idem", "text/html", `<p id="a">one</p>`, "Idempotency-Key", "k1")
	if status != http.StatusOK {
		t.Fatalf("first publish: %d %s", status, first.Error)
	}
	status, again := post(t, srv, "/topics/idem", "text/html", `<p id="a">one</p>`, "Idempotency-Key", "k1")
	if status != http.StatusOK || again.ID != first.ID || !slices.Equal(again.Topics, first.Topics) {
		t.Errorf("repeat: %d %+v, want the first answer %+v", status, again, first)
	}
	_, other := post(t, srv, "/topics/idem", "text/html", `<p id="a">two</p>`, "Idempotency-Key", "k1")
	if other.ID != first.ID {
		t.Errorf("same key, other body: %+v, want the first answer %+v", other, first)
	}
	batch := `{"topics":["idem"],"events":[{"type":"patchSignals","signals":{"n":1}},{"type":"executeScript","script":"x()"}]}`
	_, b1 := post(t, srv, "/publish", "application/json", batch, "Idempotency-Key", "k2")
	_, b2 := post(t, srv, "/publish", "application/json", batch, "Idempotency-Key", "k2")
	if len(b1.IDs) != 2 || !slices.Equal(b1.IDs, b2.IDs) {
		t.Errorf("batch twice: %v then %v, want the same two IDs", b1.IDs, b2.IDs)
	}
	last := publishHTML(t, srv, "idem", `<p id="end">end</p>`)

	// The subscriber sees each publish once: the first event, the batch's
	// two, the last; nothing in between.
	var ids []string
	for len(ids) < 4 {
		ev, err := sub.nextEvent()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	want := append(append([]string{first.ID}, b1.IDs...), last)
	if !slices.Equal(ids, want) {
		t.Errorf("subscriber got %v, want %v", ids, want)
	}
	if n := h.Stats().Events; n != 4 {
		t.Errorf("%d events published, want 4", n)
	}
}

// TestIdempotencyKeyScopedByCredential checks that two publishers using
// the same key each publish: a key is remembered per credential, so that
// one cannot read another's result.
func TestIdempotencyKeyScopedByCredential(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{})
	tok := token(t, auth.Patterns{"**"}, nil, time.Hour)
	_, byKey := post(t, srv, "/topics/scoped", "text/html", `<p id="a">1</p>`, "Authorization", "Bearer "+testKey, "Idempotency-Key", "same")
	_, byToken := post(t, srv, "/topics/scoped", "text/html", `<p id="a">2</p>`, "Authorization", "Bearer "+tok, "Idempotency-Key", "same")
	_, byKeyAgain := post(t, srv, "/topics/scoped", "text/html", `<p id="a">1</p>`, "Authorization", "Bearer "+testKey, "Idempotency-Key", "same")
	if byKey.ID == "" || byToken.ID == "" || byKey.ID == byToken.ID {
		t.Errorf("two credentials, one key: IDs %q and %q, want two publishes", byKey.ID, byToken.ID)
	}
	if byKeyAgain.ID != byKey.ID {
		t.Errorf("the first credential's repeat: %q, want its first answer %q", byKeyAgain.ID, byKey.ID)
	}
}
