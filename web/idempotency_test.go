package web_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
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

// TestIdempotencyKeyScopedByAddress checks that without authorization a
// key is remembered per client address: two addresses sending the same
// key each publish, and each gets its own result back on a repeat. Behind
// a trusted proxy the address is the one X-Forwarded-For names, so two
// clients of one proxy are told apart too.
func TestIdempotencyKeyScopedByAddress(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}})
	sub := subscribe(t, srv, "/topics/shared", "")
	from := func(local, forwardedFor, body string) publishResult {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		defer c.CloseIdleConnections()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/topics/shared", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/html")
		req.Header.Set("Idempotency-Key", "same")
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res publishResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("publish from %s (for %q): %s %v %+v", local, forwardedFor, resp.Status, err, res)
		}
		return res
	}
	one := from("127.0.0.1", "", `<p id="a">one</p>`)
	two := from("127.0.0.2", "", `<p id="a">two</p>`)
	viaA := from("127.0.0.3", "192.0.2.1", `<p id="a">three</p>`)
	viaB := from("127.0.0.3", "192.0.2.2", `<p id="a">four</p>`)
	ids := []string{one.ID, two.ID, viaA.ID, viaB.ID}
	if slices.Contains(ids, "") || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 4 {
		t.Fatalf("four addresses, one key: IDs %v, want four publishes", ids)
	}
	// A repeat from each address answers that address's own result.
	for _, again := range []struct {
		local, forwardedFor, want string
	}{{"127.0.0.1", "", one.ID}, {"127.0.0.2", "", two.ID}, {"127.0.0.3", "192.0.2.1", viaA.ID}, {"127.0.0.3", "192.0.2.2", viaB.ID}} {
		if got := from(again.local, again.forwardedFor, `<p id="a">again</p>`); got.ID != again.want {
			t.Errorf("repeat from %s (for %q): %s, want its first answer %s", again.local, again.forwardedFor, got.ID, again.want)
		}
	}
	// Every address's event reached the subscriber, each once.
	for _, want := range ids {
		ev, err := sub.nextEvent()
		if err != nil || ev.ID != want {
			t.Fatalf("subscriber got %+v, %v; want event %s", ev, err, want)
		}
	}
	if n := h.Stats().Events; n != 4 {
		t.Errorf("%d events published, want 4", n)
	}
}
