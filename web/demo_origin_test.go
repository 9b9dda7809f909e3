package web_test

import (
	"net/http"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestDemoPostsFromOwnPages checks that the demos' origin check lets
// through what it must: the hub's own pages (by Origin, whichever scheme a
// proxy in front ended, or by Sec-Fetch-Site), the origins of
// cors-origins, and clients that are no browser page at all. Each post
// must publish its event.
func TestDemoPostsFromOwnPages(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{Demos: true, AllowedOrigins: []string{"https://app.example"}})
	host := srv.Listener.Addr().String()
	tab := subscribe(t, srv, "/topics/demo", "")
	if _, err := tab.next(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		header []string
	}{
		{"own origin", []string{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}},
		{"own origin behind a TLS proxy", []string{"Origin", "https://" + host}},
		{"same origin by Sec-Fetch-Site", []string{"Sec-Fetch-Site", "same-origin"}},
		{"typed address", []string{"Sec-Fetch-Site", "none"}},
		{"listed origin", []string{"Origin", "https://app.example", "Sec-Fetch-Site", "cross-site"}},
		{"no browser", nil},
	}
	for _, c := range cases { // in order: they share one stream
		t.Run(c.name, func(t *testing.T) {
			header := hdr(append([]string{"Content-Type", "application/json", "Datastar-Request", "true"}, c.header...)...)
			a := request(t, srv, http.MethodPost, "/try", header, `{"tryKind":"signals","tryBody":"{\"from\":\"`+c.name+`\"}"}`)
			if a.status != http.StatusOK {
				t.Fatalf("got %d %q", a.status, a.raw)
			}
			if ev, err := tab.nextEvent(); err != nil || ev.Data != `signals {"from":"`+c.name+`"}` {
				t.Fatalf("tab got %+v, %v", ev, err)
			}
		})
	}
}
