package web_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// mercureNode starts one node of a cluster on the event log at natsURL,
// with authorization by testSecret, serving Mercure.
func mercureNode(t *testing.T, natsURL string) *httptest.Server {
	t.Helper()
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: natsURL, PublishTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the hub's shutdown, registered below
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	a, err := auth.New(t.Context(), auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	h, s := newAPI(t, hub.Config{Log: l}, web.Config{Auth: a})
	srv := newTestServer(t, s, h)
	if err := h.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// A Mercure publish on one node of a cluster reaches a Mercure subscriber
// on another, with the publisher's ID, private updates only as its token
// grants (Subscribers); a reconnect to the other node with that ID
// replays what followed (Reconciliation), as on one node.
func TestMercureCluster(t *testing.T) {
	t.Parallel()
	nats, _ := startNATS(t, t.TempDir(), 0)
	n1, n2 := mercureNode(t, nats.ClientURL()), mercureNode(t, nats.ClientURL())
	publisher := mercureJWT(t, jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}})
	reader := hdr("Authorization", "Bearer "+mercureJWT(t, jwt.MapClaims{"authorization_details": []any{detail([]string{"subscribe"}, "https://example.com/books/1")}}))
	outsider := hdr("Authorization", "Bearer "+mercureJWT(t, jwt.MapClaims{"authorization_details": []any{detail([]string{"subscribe"}, "https://example.com/books/2")}}))
	books := "?match_urlpattern=" + url.QueryEscape("https://example.com/books/:id")
	granted, _ := mercureStream(t, n2, books, reader)
	other, _ := mercureStream(t, n2, books, outsider)

	first := mercurePublish(t, n1, publisher, "topic", "https://example.com/books/1", "data", "public", "id", "urn:book:1")
	mercurePublish(t, n1, publisher, "topic", "https://example.com/books/1", "data", "secret", "private", "on")
	mercurePublish(t, n1, publisher, "topic", "https://example.com/authors/1", "data", "not a book")
	mercurePublish(t, n1, publisher, "topic", "https://example.com/books/1", "data", "end")

	if ev := granted.message(t); ev.ID != first || ev.Data != "public" {
		t.Fatalf("node 2 got %+v, want the publisher's ID %s", ev, first)
	}
	if got := strings.Join(granted.messages(t, 2), "|"); got != "secret|end" {
		t.Fatalf("granted subscriber on node 2: %q, want secret|end", got)
	}
	if got := strings.Join(other.messages(t, 2), "|"); got != "public|end" {
		t.Fatalf("subscriber granted another book on node 2: %q, want public|end", got)
	}
	again, resp := mercureStream(t, n2, books, hdr("Last-Event-ID", first, "Authorization", reader.Get("Authorization")))
	if from := resp.Header.Get("Mercure-Last-Event-ID"); from != first {
		t.Fatalf("Mercure-Last-Event-ID %q on node 2, want %q", from, first)
	}
	if got := strings.Join(again.messages(t, 2), "|"); got != "secret|end" {
		t.Fatalf("replay on node 2 from %s: %q, want secret|end", first, got)
	}
}
