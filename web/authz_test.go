package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

const testKey = "pk_test_0123456789abcdefghij"

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// newAuthServer serves a hub that takes tokens signed with testSecret and
// the publish key testKey; anonymous lists what anyone may subscribe to.
func newAuthServer(t testing.TB, wc web.Config, anonymous ...string) *httptest.Server {
	t.Helper()
	a, err := auth.New(t.Context(), auth.Config{Secret: testSecret, PublishKeys: []string{testKey}, AnonymousSubscribe: anonymous})
	if err != nil {
		t.Fatal(err)
	}
	wc.Auth = a
	srv, _ := newServer(t, hub.Config{}, wc)
	return srv
}

// token mints a token for grants that expires after ttl (none if zero).
func token(t testing.TB, publish, subscribe auth.Patterns, ttl time.Duration) string {
	t.Helper()
	s, err := auth.Mint(auth.Token{Subject: "test", Grants: auth.Grants{Publish: publish, Subscribe: subscribe}, TTL: ttl}, testSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// answer is what a request got: its status, headers and JSON error.
type answer struct {
	status int
	header http.Header
	body   publishResult
	raw    string
}

// request sends one request; a stream that opens is closed at once.
func request(t testing.TB, srv *httptest.Server, method, path string, header http.Header, body string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return a
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a.raw = string(b)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, b, err)
		}
	}
	return a
}

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestAuthorizePublish(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{}, "public/**")
	news := token(t, auth.Patterns{"news/**"}, nil, time.Hour)
	cases := []struct {
		name, path, authz, body string
		status                  int
		field, msg, challenge   string
	}{
		{"no credential", "/topics/news/a", "", "<p>x</p>", 401, "authorization", "missing", `Bearer realm="hubd"`},
		{"not bearer", "/topics/news/a", "Basic dXNlcjpwYXNz", "<p>x</p>", 401, "authorization", `want "Bearer <token>"`, `Bearer realm="hubd", error="invalid_token"`},
		{"garbage token", "/topics/news/a", "Bearer abc", "<p>x</p>", 401, "authorization", "token is malformed", `Bearer realm="hubd", error="invalid_token"`},
		{"expired", "/topics/news/a", "Bearer " + token(t, auth.Patterns{"**"}, nil, -time.Hour), "<p>x</p>", 401, "authorization", "expired", `Bearer realm="hubd", error="invalid_token"`},
		{"granted", "/topics/news/a/b", "Bearer " + news, "<p>x</p>", 200, "", "", ""},
		{"not granted", "/topics/sport", "Bearer " + news, "<p>x</p>", 403, "topic", `does not grant publishing to "sport"`, ""},
		{"publish key", "/topics/sport", "Bearer " + testKey, "<p>x</p>", 200, "", "", ""},
		{"wrong key", "/topics/sport", "Bearer " + strings.ToUpper(testKey), "<p>x</p>", 401, "authorization", "malformed", `Bearer realm="hubd", error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := request(t, srv, http.MethodPost, c.path, hdr("Content-Type", "text/html", "Authorization", c.authz), c.body)
			if a.status != c.status || a.body.Field != c.field || !strings.Contains(a.body.Error, c.msg) {
				t.Errorf("got %d field %q %q, want %d field %q saying %q", a.status, a.body.Field, a.body.Error, c.status, c.field, c.msg)
			}
			if got := a.header.Get("WWW-Authenticate"); got != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
		})
	}

	// A batch is refused whole when one topic is not granted.
	sub := subscribe(t, srv, "/topics/public/feed", "")
	a := request(t, srv, http.MethodPost, "/publish", hdr("Content-Type", "application/json", "Authorization", "Bearer "+token(t, auth.Patterns{"public/**"}, nil, time.Hour)),
		`{"topics":["public/feed","news/a"],"events":[{"type":"datastar-patch-signals","signals":{"n":1}}]}`)
	if a.status != 403 || a.body.Field != "topics[1]" {
		t.Errorf("batch with one topic not granted: %d %+v", a.status, a.body)
	}
	id := publishWith(t, srv, "public/feed", "<p>after</p>", testKey)
	if ev, err := sub.nextEvent(); err != nil || ev.ID != id {
		t.Errorf("next event %+v, %v; want only the one after the refused batch, %s", ev, err, id)
	}
}

// publishWith publishes HTML with a bearer credential and returns its ID.
func publishWith(t testing.TB, srv *httptest.Server, topic, html, credential string) string {
	t.Helper()
	status, res := post(t, srv, "/topics/"+topic, "text/html", html, "Authorization", "Bearer "+credential)
	if status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", topic, status, res.Error)
	}
	return res.ID
}

func TestAuthorizeSubscribe(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{AllowedOrigins: []string{"https://app.example"}}, "public/**")
	quiet := newAuthServer(t, web.Config{QueryToken: true})
	reader := token(t, nil, auth.Patterns{"private/*"}, time.Hour)
	cases := []struct {
		name   string
		srv    *httptest.Server
		path   string
		header http.Header
		status int
		msg    string
	}{
		{"anonymous, open topic", srv, "/topics/public/a", nil, 200, ""},
		{"anonymous, closed topic", srv, "/topics/private/a", nil, 401, `topic "private/a" needs a token`},
		{"one closed topic of two", srv, "/subscribe?topic=public/a&topic=private/a", nil, 401, `topic "private/a" needs a token`},
		{"bearer", srv, "/subscribe?topic=public/a&topic=private/a", hdr("Authorization", "Bearer "+reader), 200, ""},
		{"bearer, not granted", srv, "/topics/private/a/b", hdr("Authorization", "Bearer "+reader), 403, `does not grant subscribing to "private/a/b"`},
		{"expired bearer", srv, "/topics/public/a", hdr("Authorization", "Bearer "+token(t, nil, auth.Patterns{"**"}, -time.Hour)), 401, "expired"},
		{"cookie, no Origin", srv, "/topics/private/a", hdr("Cookie", "hubd_token="+reader), 200, ""},
		{"cookie, own origin", srv, "/topics/private/a", hdr("Cookie", "hubd_token="+reader, "Origin", srv.URL), 200, ""},
		{"cookie, allowed origin", srv, "/topics/private/a", hdr("Cookie", "hubd_token="+reader, "Origin", "https://app.example"), 200, ""},
		{"cookie, other origin", srv, "/topics/private/a", hdr("Cookie", "hubd_token="+reader, "Origin", "https://evil.example"), 403, `Origin "https://evil.example" may not use the hubd_token cookie`},
		{"query token, off", srv, "/topics/private/a?access_token=" + reader, nil, 401, "needs a token"},
		{"query token, on", quiet, "/topics/private/a?access_token=" + reader, nil, 200, ""},
		{"no anonymous topics", quiet, "/topics/public/a", nil, 401, "needs a token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := request(t, c.srv, http.MethodGet, c.path, c.header, "")
			if a.status != c.status || !strings.Contains(a.body.Error, c.msg) {
				t.Errorf("got %d %q, want %d saying %q", a.status, a.raw, c.status, c.msg)
			}
		})
	}
}

func TestPrivateEventsOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{}, "room/**")
	anon := subscribe(t, srv, "/topics/room/1", "")
	member, err := trySubscribeWith(t.Context(), srv, "/topics/room/1", "", hdr("Authorization", "Bearer "+token(t, nil, auth.Patterns{"room/*"}, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(member.Close)

	status, res := post(t, srv, "/topics/room/1", "text/html", "<p>secret</p>", "Authorization", "Bearer "+testKey, "Hubd-Private", "true")
	if status != 200 || res.Subscribers != 1 {
		t.Fatalf("private publish: %d %+v, want 200 offered to 1", status, res)
	}
	public := publishWith(t, srv, "room/1", "<p>open</p>", testKey)
	for name, c := range map[string]struct {
		s    *sseClient
		want []string
	}{"anonymous": {anon, []string{public}}, "member": {member, []string{res.ID, public}}} {
		for _, id := range c.want {
			if ev, err := c.s.nextEvent(); err != nil || ev.ID != id {
				t.Errorf("%s: got %+v, %v; want event %s", name, ev, err, id)
			}
		}
	}

	// Without authorization, a private publish could reach nobody.
	open, _ := newServer(t, hub.Config{}, web.Config{})
	status, res = post(t, open, "/topics/room", "text/html", "<p>x</p>", "Hubd-Private", "true")
	if status != 400 || res.Field != "private" || !strings.Contains(res.Error, "needs authorization configured") {
		t.Errorf("private publish without authorization: %d %+v", status, res)
	}
}

func TestPublishRate(t *testing.T) {
	t.Parallel()
	// One publish per 100 s with bursts of 2: the third in a row is over.
	srv := newAuthServer(t, web.Config{PublishRate: 0.01, PublishBurst: 2})
	other := token(t, auth.Patterns{"**"}, nil, time.Hour)
	for range 2 {
		publishWith(t, srv, "t", "<p>x</p>", testKey)
	}
	a := request(t, srv, http.MethodPost, "/topics/t", hdr("Content-Type", "text/html", "Authorization", "Bearer "+testKey), "<p>x</p>")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "100" || !strings.Contains(a.body.Error, "more than 0.01 per second (burst 2)") {
		t.Errorf("third publish: %d Retry-After %q %q", a.status, a.header.Get("Retry-After"), a.raw)
	}
	// Another credential has a bucket of its own.
	publishWith(t, srv, "t", "<p>x</p>", other)
}
