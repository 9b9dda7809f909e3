package web_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/web"
)

// TestTopicViewAuthorization: with authorization on, a topic's view, its
// page and its stream, takes the right to subscribe to the topic itself:
// a token for the topic (or the topic open to anyone) opens both, a token
// for another topic gets 403, none gets 401, and the page says why
// without showing the view.
func TestTopicViewAuthorization(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{}, "public/**")
	plans := token(t, nil, auth.Patterns{"secret/*"}, time.Hour)
	other := token(t, nil, auth.Patterns{"news"}, time.Hour)
	cases := []struct {
		name, topic, token string
		status             int
		says               string
	}{
		{"granted", "secret/plans", plans, 200, ""},
		{"open to anyone", "public/board", "", 200, ""},
		{"another topic's token", "secret/plans", other, 403, `does not grant subscribing to "secret/plans"`},
		{"no token", "secret/plans", "", 401, `topic "secret/plans" needs a token`},
		{"the token's grant is not the view's", "secret/plans", token(t, nil, auth.Patterns{"$hubd/topic/secret/plans"}, time.Hour), 403, "does not grant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.token != "" {
				h.Set("Authorization", "Bearer "+c.token)
			}
			page := request(t, srv, http.MethodGet, "/dashboard/topics/"+c.topic, h, "")
			if page.status != c.status || !strings.Contains(html.UnescapeString(page.raw), c.says) {
				t.Errorf("page: %d, want %d saying %q:\n%s", page.status, c.status, c.says, page.raw)
			}
			if shows := strings.Contains(page.raw, `id="topic-view"`); shows != (c.status == 200) {
				t.Errorf("page shows the view: %v, with status %d", shows, page.status)
			}
			stream := request(t, srv, http.MethodGet, "/topics/%24hubd%2Ftopic%2F"+strings.ReplaceAll(c.topic, "/", "%2F"), h, "")
			if stream.status != c.status {
				t.Errorf("view's stream: %d, want %d (%s)", stream.status, c.status, stream.raw)
			}
		})
	}
}

// TestTopicViewPage: the view's page names bad topics and the hub's own,
// and the dashboard's form leads to a topic's view.
func TestTopicViewPage(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{}, "**")
	for _, c := range []struct{ path, says string }{
		{"/dashboard/topics/a//b", "empty segment"},
		{"/dashboard/topics/%24hubd/stats", "the hub's own topics"},
	} {
		if a := request(t, srv, http.MethodGet, c.path, nil, ""); a.status != 400 || !strings.Contains(html.UnescapeString(a.raw), c.says) {
			t.Errorf("%s: %d, want 400 saying %q:\n%s", c.path, a.status, c.says, a.raw)
		}
	}
	client := *srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(srv.URL + "/dashboard/topic?topic=+orders/eu+")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != "/dashboard/topics/orders/eu" {
		t.Errorf("the form leads to %d %q, want 303 /dashboard/topics/orders/eu", resp.StatusCode, got)
	}
}
