package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// fakeApp plays the application behind auth-request over a real
// connection: a session cookie "sid=NAME" is the user NAME, who may
// subscribe to user/NAME/** and shared, and publish to user/NAME/**.
// behave, when set, answers instead (a slow, dead or lying app).
type fakeApp struct {
	mu       sync.Mutex
	asked    []*http.Request // what hubd sent, headers and URL
	loggedIn map[string]bool // sessions that exist; others get 401
	maxAge   int             // Cache-Control: max-age of the answers, if > 0
	behave   http.HandlerFunc
}

func newFakeApp(t testing.TB, users ...string) (*fakeApp, *httptest.Server) {
	t.Helper()
	a := &fakeApp{loggedIn: map[string]bool{}}
	for _, u := range users {
		a.loggedIn[u] = true
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.asked = append(a.asked, r.Clone(context.Background()))
	behave, maxAge := a.behave, a.maxAge
	c, err := r.Cookie("sid")
	in := err == nil && a.loggedIn[c.Value]
	a.mu.Unlock()
	if behave != nil {
		behave(w, r)
		return
	}
	if !in {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if maxAge > 0 {
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", maxAge))
	}
	w.Header().Set("Content-Type", "application/json")
	u := c.Value
	fmt.Fprintf(w, `{"subscribe": ["user/%s/**", "shared"], "publish": ["user/%s/**"], "user": %q}`, u, u, u)
}

// set changes the app under lock.
func (a *fakeApp) set(f func(a *fakeApp)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

// count is how many requests the app got.
func (a *fakeApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.asked)
}

func (a *fakeApp) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[len(a.asked)-1]
}

// newAuthRequestServer serves a hub whose subscribers are authorized by
// the app at appURL (and, with tokens, by tokens signed with testSecret).
func newAuthRequestServer(t testing.TB, appURL string, tokens bool, wc web.Config) (*httptest.Server, *hub.Hub) {
	t.Helper()
	ac := auth.Config{AnonymousSubscribe: auth.Patterns{"public/**"}, AdminKeys: []string{adminKey}, PublishKeys: []string{testKey}}
	if tokens {
		ac.Secret = testSecret
	}
	a, err := auth.New(t.Context(), ac)
	if err != nil {
		t.Fatal(err)
	}
	wc.Auth, wc.AuthRequest = a, appURL
	return newServer(t, hub.Config{}, wc)
}

const adminKey = "admin-key-0123456789abcdef"

var (
	datastarHeader = http.Header{"Datastar-Request": {"true"}, "Accept": {"text/event-stream, text/html, application/json"}}
	plainHeader    = http.Header{"Accept": {"*/*"}}
)

func withCookie(h http.Header, user string) http.Header {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Cookie", "sid="+user)
	return h
}

// TestAuthRequestAdmits checks what hubd asks the app and that the answer
// decides: a session's own topic streams, another user's is refused with
// 403, a request without a session with 401 before the app is asked.
func TestAuthRequestAdmits(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice")
	srv, _ := newAuthRequestServer(t, appSrv.URL+"/auth?site=1", false, web.Config{})

	h := hdr("Cookie", "sid=alice", "Authorization", "Basic YWxpY2U6eA==", "X-Other", "secret")
	c, err := trySubscribeWith(t.Context(), srv, "/subscribe?topic=user/alice/inbox&topic=shared", "", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := app.last()
	want := map[string]string{
		"Cookie": "sid=alice", "Authorization": "Basic YWxpY2U6eA==", "X-Other": "",
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": strings.TrimPrefix(srv.URL, "http://"),
		"X-Original-Method": "GET", "X-Original-Uri": "/subscribe?topic=user/alice/inbox&topic=shared",
	}
	for k, v := range want {
		if g := got.Header.Get(k); g != v {
			t.Errorf("the app got %s %q, want %q", k, g, v)
		}
	}
	if q := got.URL.Query(); got.URL.Path != "/auth" || q.Get("site") != "1" || q.Get("action") != "subscribe" ||
		strings.Join(q["topic"], ",") != "user/alice/inbox,shared" {
		t.Errorf("the app was asked at %s, want /auth with site=1, action=subscribe and both topics", got.URL)
	}
	id := publishWith(t, srv, "user/alice/inbox", "<div id=m>hi</div>", testKey)
	if ev, err := c.nextEvent(); err != nil || ev.ID != id {
		t.Fatalf("the admitted stream got %+v, %v; want event %s", ev, err, id)
	}

	asked := app.count()
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
		asks   int
	}{
		{"another user's topic", "/topics/user/bob/inbox", withCookie(plainHeader, "alice"), http.StatusForbidden, 1},
		{"no session", "/topics/user/alice/inbox", plainHeader, http.StatusUnauthorized, 0},
		{"unknown session", "/topics/user/alice/inbox", withCookie(plainHeader, "mallory"), http.StatusUnauthorized, 1},
		{"anonymous topic, no session", "/topics/public/news", plainHeader, http.StatusOK, 0},
	}
	for _, tc := range cases {
		before := app.count()
		a := request(t, srv, http.MethodGet, tc.path, tc.header, "")
		if a.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.raw, tc.status)
		}
		if n := app.count() - before; n != tc.asks {
			t.Errorf("%s: the app was asked %d times, want %d", tc.name, n, tc.asks)
		}
		asked += tc.asks
	}
	if app.count() != asked {
		t.Errorf("the app was asked %d times in all, want %d", app.count(), asked)
	}
}

// TestAuthRequestFailures plays an app that fails or lies: each failure
// refuses the client for a while (a Datastar client gets the 200 refusal
// stream with a retry field, others 503 with Retry-After), never admits
// it; a lie about other topics admits nothing it does not grant.
func TestAuthRequestFailures(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	huge := strings.Repeat(" ", web.MaxAuthAnswerBytes) + `{"subscribe": ["**"]}`
	cases := []struct {
		name   string
		behave http.HandlerFunc
		status int // for a plain client; 0: a retriable refusal
	}{
		{"5xx", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, 0},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, 0},
		{"malformed JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"subscribe": ["user/alice/**"`) }, 0},
		{"not an object", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `["**"]`) }, 0},
		{"huge body", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, huge) }, 0},
		{"invalid pattern", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"subscribe": ["user/../**"]}`) }, 0},
		{"control character in user", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"subscribe": ["**"], "user": "a\nb"}`)
		}, 0},
		{"redirect to a login page", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) }, 0},
		{"grants for topics not asked", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"subscribe": ["user/bob/**", "shared"], "user": "alice"}`)
		}, http.StatusForbidden},
		{"empty grants", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) }, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app, appSrv := newFakeApp(t, "alice")
			app.behave = tc.behave
			srv, h := newAuthRequestServer(t, appSrv.URL, false, web.Config{AuthRequestTimeout: 200 * time.Millisecond})
			const path = "/topics/user/alice/inbox"

			a := request(t, srv, http.MethodGet, path, withCookie(plainHeader, "alice"), "")
			wantStatus := tc.status
			if wantStatus == 0 {
				wantStatus = http.StatusServiceUnavailable
				if a.header.Get("Retry-After") == "" {
					t.Errorf("plain client: no Retry-After")
				}
			}
			if a.status != wantStatus {
				t.Fatalf("plain client: %d %s, want %d", a.status, a.raw, wantStatus)
			}

			resp := getWith(t, srv, path, withCookie(datastarHeader, "alice"))
			body, err := io.ReadAll(resp.Body)
			if tc.status == 0 {
				if resp.StatusCode != http.StatusOK || err == nil || !strings.Contains(string(body), ": refused: the app could not authorize") ||
					!retryField.MatchString(string(body)) {
					t.Fatalf("Datastar client: %d %q (%v); want the refusal stream, cut", resp.StatusCode, body, err)
				}
			} else if resp.StatusCode != tc.status {
				t.Fatalf("Datastar client: %d %q, want %d", resp.StatusCode, body, tc.status)
			}
			if n := h.Stats().Clients; n != 0 {
				t.Fatalf("%d clients admitted, want none", n)
			}
		})
	}
}

// TestAuthRequestDeadApp checks that an app that cannot be reached
// refuses retriably, and that after AuthBreakerFailures failures in a row
// the app is not asked again until the breaker's cooldown (checked with
// the metrics: breaker-open counts refusals that asked no one).
func TestAuthRequestDeadApp(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice")
	app.behave = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
	srv, _ := newAuthRequestServer(t, appSrv.URL, false, web.Config{})
	for i := range web.AuthBreakerFailures + 3 {
		a := request(t, srv, http.MethodGet, "/topics/user/alice/x", withCookie(plainHeader, "alice"), "")
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Fatalf("try %d: %d, Retry-After %q; want 503 with Retry-After", i, a.status, a.header.Get("Retry-After"))
		}
	}
	if n := app.count(); n != web.AuthBreakerFailures {
		t.Fatalf("the failing app was asked %d times, want %d: then the breaker opens", n, web.AuthBreakerFailures)
	}
	_, m, _ := fetch(t, srv, "/metrics")
	for _, want := range []string{`hubd_auth_requests_total{result="error"} 5`, `hubd_auth_requests_total{result="breaker-open"} 3`,
		`hubd_streams_refused_total{reason="auth-request-unavailable"} 8`, "hubd_auth_request_seconds_count 5"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestAuthRequestAppGone checks that an app nothing answers for (its
// server closed) refuses retriably too.
func TestAuthRequestAppGone(t *testing.T) {
	t.Parallel()
	_, appSrv := newFakeApp(t, "alice")
	appSrv.Close()
	srv, _ := newAuthRequestServer(t, appSrv.URL, false, web.Config{})
	a := request(t, srv, http.MethodGet, "/topics/user/alice/x", withCookie(plainHeader, "alice"), "")
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !strings.Contains(a.body.Error, "could not be reached") {
		t.Fatalf("app gone: %d, Retry-After %q, %s; want 503 saying the app could not be reached", a.status, a.header.Get("Retry-After"), a.raw)
	}
	if _, m, _ := fetch(t, srv, "/metrics"); !strings.Contains(m, `hubd_auth_requests_total{result="error"} 1`) {
		t.Errorf("metrics lack the error")
	}
}

// TestAuthRequestCache checks that an answer with max-age is reused for
// the same credential, only for topics it grants, and that another
// credential, or an answer without max-age, asks again.
func TestAuthRequestCache(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice", "bob")
	srv, _ := newAuthRequestServer(t, appSrv.URL, false, web.Config{})
	get := func(user, topic string) int {
		return request(t, srv, http.MethodGet, "/topics/"+topic, withCookie(plainHeader, user), "").status
	}
	get("alice", "user/alice/a")
	get("alice", "user/alice/a")
	if n := app.count(); n != 2 {
		t.Fatalf("without max-age the app was asked %d times for two subscribes, want 2", n)
	}
	app.set(func(a *fakeApp) { a.maxAge = 60 })
	get("alice", "user/alice/a") // cached from here on
	get("alice", "user/alice/b")
	get("alice", "shared")
	if n := app.count(); n != 3 {
		t.Fatalf("with max-age the app was asked %d times, want 3: later subscribes come from the cache", n)
	}
	if s := get("alice", "user/bob/a"); s != http.StatusForbidden || app.count() != 4 {
		t.Fatalf("a topic the cached answer does not grant: %d after %d asks; want it asked again (4) and refused", s, app.count())
	}
	get("bob", "user/bob/a")
	if n := app.count(); n != 5 {
		t.Fatalf("another session: the app was asked %d times, want 5", n)
	}
	_, m, _ := fetch(t, srv, "/metrics")
	if !strings.Contains(m, `hubd_auth_requests_total{result="cache-hit"} 2`) {
		t.Errorf("metrics lack 2 cache hits")
	}
}

// TestAuthRequestTokenDecides checks that a valid token decides without
// the app, and that a token the hub does not accept is left to the app,
// which gets it in the Authorization header.
func TestAuthRequestTokenDecides(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice")
	srv, _ := newAuthRequestServer(t, appSrv.URL, true, web.Config{})
	tok := token(t, nil, auth.Patterns{"user/alice/**"}, time.Hour)
	if a := request(t, srv, http.MethodGet, "/topics/user/alice/a", hdr("Authorization", "Bearer "+tok), ""); a.status != http.StatusOK {
		t.Fatalf("a valid token: %d %s", a.status, a.raw)
	}
	if n := app.count(); n != 0 {
		t.Fatalf("a valid token asked the app %d times", n)
	}
	expired := token(t, nil, auth.Patterns{"user/alice/**"}, -time.Hour)
	if a := request(t, srv, http.MethodGet, "/topics/user/alice/a", hdr("Authorization", "Bearer "+expired), ""); a.status != http.StatusUnauthorized {
		t.Fatalf("an expired token with no session: %d %s; want the app's 401", a.status, a.raw)
	}
	if n := app.count(); n != 1 || app.last().Header.Get("Authorization") != "Bearer "+expired {
		t.Fatalf("the app was asked %d times, last with Authorization %q", n, app.last().Header.Get("Authorization"))
	}
	h := withCookie(plainHeader, "alice")
	h.Set("Authorization", "Bearer "+expired)
	if a := request(t, srv, http.MethodGet, "/topics/user/alice/a", h, ""); a.status != http.StatusOK {
		t.Fatalf("an expired token with a session: %d %s; want the session to admit it", a.status, a.raw)
	}
}

// TestAuthRequestPublish checks that a publish without token or key is
// decided by the app, about the path's topic, and that an app that fails
// refuses it with 503 and Retry-After.
func TestAuthRequestPublish(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice")
	srv, _ := newAuthRequestServer(t, appSrv.URL, false, web.Config{})
	h := hdr("Cookie", "sid=alice", "Content-Type", "text/html")
	if a := request(t, srv, http.MethodPost, "/topics/user/alice/a", h, "<div id=a>1</div>"); a.status != http.StatusOK {
		t.Fatalf("publish to a granted topic: %d %s", a.status, a.raw)
	}
	if q := app.last().URL.Query(); q.Get("action") != "publish" || q.Get("topic") != "user/alice/a" {
		t.Fatalf("the app was asked %s, want action=publish about user/alice/a", app.last().URL)
	}
	if a := request(t, srv, http.MethodPost, "/topics/shared", h, "<div id=a>1</div>"); a.status != http.StatusForbidden {
		t.Fatalf("publish to a topic granted only for subscribing: %d %s", a.status, a.raw)
	}
	if a := request(t, srv, http.MethodPost, "/topics/user/alice/a", hdr("Content-Type", "text/html"), "<div id=a>1</div>"); a.status != http.StatusUnauthorized {
		t.Fatalf("publish without a session: %d %s", a.status, a.raw)
	}
	app.set(func(a *fakeApp) {
		a.behave = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
	})
	if a := request(t, srv, http.MethodPost, "/topics/user/alice/a", h, "<div id=a>1</div>"); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("publish while the app fails: %d (Retry-After %q) %s", a.status, a.header.Get("Retry-After"), a.raw)
	}
}

// TestAuthRequestCookieOrigin checks that a page of another origin cannot
// subscribe with the visitor's session cookie: the app is not even asked.
func TestAuthRequestCookieOrigin(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice")
	srv, _ := newAuthRequestServer(t, appSrv.URL, false, web.Config{})
	h := withCookie(plainHeader, "alice")
	h.Set("Origin", "https://evil.example")
	if a := request(t, srv, http.MethodGet, "/topics/user/alice/a", h, ""); a.status != http.StatusForbidden || !strings.Contains(a.body.Error, "Origin") {
		t.Fatalf("cross-origin cookie: %d %s", a.status, a.raw)
	}
	if app.count() != 0 {
		t.Fatalf("the app was asked about a cross-origin cookie")
	}
}

// TestMaxStreamsPerUser checks that one user's streams are bounded,
// whoever's address they come from, and that other users are not.
func TestMaxStreamsPerUser(t *testing.T) {
	t.Parallel()
	_, appSrv := newFakeApp(t, "alice", "bob")
	srv, _ := newAuthRequestServer(t, appSrv.URL, false, web.Config{MaxStreamsPerUser: 2})
	for range 2 {
		c, err := trySubscribeWith(t.Context(), srv, "/topics/shared", "", withCookie(nil, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a := request(t, srv, http.MethodGet, "/topics/shared", withCookie(plainHeader, "alice"), "")
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.body.Error, `user "alice" holds its maximum of 2 streams`) {
		t.Fatalf("a third stream of alice: %d %s", a.status, a.raw)
	}
	resp := getWith(t, srv, "/topics/shared", withCookie(datastarHeader, "alice"))
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), "refused: max-streams-per-user reached") {
		t.Fatalf("a third Datastar stream of alice: %d %q, want the refusal stream", resp.StatusCode, body)
	}
	c, err := trySubscribeWith(t.Context(), srv, "/topics/shared", "", withCookie(nil, "bob"))
	if err != nil {
		t.Fatalf("bob: %v", err)
	}
	c.Close()
}

// disconnect posts a disconnect with credential (an admin key or token).
func disconnect(t testing.TB, srv *httptest.Server, credential, body string) (int, map[string]any) {
	t.Helper()
	a := request(t, srv, http.MethodPost, "/streams/disconnect", hdr("Authorization", "Bearer "+credential, "Content-Type", "application/json"), body)
	var out map[string]any
	_ = json.Unmarshal([]byte(a.raw), &out)
	return a.status, out
}

// TestDisconnect checks that an operator ends streams by user, topic or
// stream ID, that the clients see a cut (so they reconnect), that the
// reconnect is authorized again, and who may ask.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	app, appSrv := newFakeApp(t, "alice", "bob")
	app.maxAge = 60 // a disconnect by user drops the user's cached answers
	srv, h := newAuthRequestServer(t, appSrv.URL, true, web.Config{})
	open := func(user, topic string) *sseClient {
		c, err := trySubscribeWith(t.Context(), srv, "/topics/"+topic, "", withCookie(nil, user))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if _, err := c.next(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	cut := func(c *sseClient) error {
		for {
			if _, err := c.next(); err != nil {
				return err
			}
		}
	}
	alice1, alice2, bob := open("alice", "user/alice/a"), open("alice", "shared"), open("bob", "shared")

	status, out := disconnect(t, srv, adminKey, `{"user": "alice"}`)
	if status != http.StatusOK || out["disconnected"] != 2.0 {
		t.Fatalf("disconnect alice: %d %v, want 2 disconnected", status, out)
	}
	for _, c := range []*sseClient{alice1, alice2} {
		if err := cut(c); err != io.ErrUnexpectedEOF {
			t.Fatalf("alice's stream ended with %v, want a cut (unexpected EOF) so that the client reconnects", err)
		}
	}
	// The session is revoked at the app: the reconnect is refused, though
	// the app's answer said it could be kept for a minute.
	app.set(func(a *fakeApp) { delete(a.loggedIn, "alice") })
	if a := request(t, srv, http.MethodGet, "/topics/shared", withCookie(plainHeader, "alice"), ""); a.status != http.StatusUnauthorized {
		t.Fatalf("alice's reconnect: %d, want 401", a.status)
	}

	admin, err := auth.Mint(auth.Token{Subject: "ops", Grants: auth.Grants{Admin: true}, TTL: time.Hour}, testSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, out := disconnect(t, srv, admin, `{"topic": "shared"}`); status != http.StatusOK || out["disconnected"] != 1.0 {
		t.Fatalf("disconnect topic shared with an admin token: %d %v", status, out)
	}
	if err := cut(bob); err != io.ErrUnexpectedEOF {
		t.Fatalf("bob's stream ended with %v, want a cut", err)
	}
	waitFor(t, func() bool { return h.Stats().Clients == 0 })

	// By stream ID (stream_id in the logs): streams are numbered as they
	// open, alice1, alice2, bob, then this one, 4.
	bob2 := open("bob", "user/bob/x")
	if status, out := disconnect(t, srv, adminKey, `{"stream": "4"}`); status != http.StatusOK || out["disconnected"] != 1.0 {
		t.Fatalf("disconnect stream 4: %d %v", status, out)
	}
	if err := cut(bob2); err != io.ErrUnexpectedEOF {
		t.Fatalf("bob's second stream ended with %v, want a cut", err)
	}

	cases := []struct {
		name, cred, body string
		status           int
	}{
		{"no credential", "", `{"user": "bob"}`, http.StatusUnauthorized},
		{"a subscriber's token", token(t, nil, auth.Patterns{"**"}, time.Hour), `{"user": "bob"}`, http.StatusForbidden},
		{"a wrong key", "not-the-admin-key-0123456789", `{"user": "bob"}`, http.StatusUnauthorized},
		{"two fields", adminKey, `{"user": "bob", "topic": "shared"}`, http.StatusBadRequest},
		{"no field", adminKey, `{}`, http.StatusBadRequest},
		{"unknown field", adminKey, `{"usr": "bob"}`, http.StatusBadRequest},
		{"bad topic", adminKey, `{"topic": "a//b"}`, http.StatusBadRequest},
	}
	for _, tc := range cases {
		if status, out := disconnect(t, srv, tc.cred, tc.body); status != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.name, status, out, tc.status)
		}
	}
	_, m, _ := fetch(t, srv, "/metrics")
	if !strings.Contains(m, `hubd_streams_ended_total{reason="disconnected"} 4`) {
		t.Errorf("metrics lack 4 disconnected streams")
	}
}

// TestDisconnectWhileStreamsOpen checks that disconnects sent while
// streams are being opened find every stream once it is admitted: after
// the last one no stream is left. Run with -race, it also checks that a
// disconnect does not read a stream that is still being set up.
func TestDisconnectWhileStreamsOpen(t *testing.T) {
	t.Parallel()
	a, err := auth.New(t.Context(), auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	h, s := newAPI(t, hub.Config{}, web.Config{Auth: a})
	srv := newTestServer(t, s, h)
	tok := token(t, nil, auth.Patterns{"news"}, time.Hour) // its subject is "test"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				s.Disconnect(hub.Disconnect{User: "test"})
			}
		}
	}()
	for range 50 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/topics/news", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() // open until the end: only a disconnect ends it
	}
	close(stop)
	wg.Wait()
	s.Disconnect(hub.Disconnect{User: "test"})
	waitFor(t, func() bool { return h.Stats().Clients == 0 })
}

// TestDisconnectByStreamID checks that a disconnect names one stream by
// its ID as logged, alone or after this node's ID, and that an ID written
// otherwise, or after another node's ID, names none.
func TestDisconnectByStreamID(t *testing.T) {
	t.Parallel()
	a, err := auth.New(t.Context(), auth.Config{Secret: testSecret, AdminKeys: []string{adminKey}})
	if err != nil {
		t.Fatal(err)
	}
	h, s := newAPI(t, hub.Config{NodeID: "n1"}, web.Config{Auth: a})
	srv := newTestServer(t, s, h)
	tok := token(t, nil, auth.Patterns{"news"}, time.Hour)
	var streams []*sseClient // stream IDs 1 and 2, in order
	for range 2 {
		c, err := trySubscribeWith(t.Context(), srv, "/topics/news", "", hdr("Authorization", "Bearer "+tok))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if _, err := c.next(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, c)
	}
	for _, tc := range []struct {
		stream string
		ends   int // the stream it ends (1 or 2), or 0
	}{
		{"01", 0}, {"+1", 0}, {"n2/1", 0}, {"n1/", 0}, {"3", 0},
		{"n1/2", 2}, {"1", 1},
	} {
		status, out := disconnect(t, srv, adminKey, fmt.Sprintf(`{"stream": %q}`, tc.stream))
		want := 0.0
		if tc.ends != 0 {
			want = 1
		}
		if status != http.StatusOK || out["disconnected"] != want {
			t.Fatalf("disconnect stream %q: %d %v, want %v disconnected", tc.stream, status, out, want)
		}
		if tc.ends == 0 {
			continue
		}
		for {
			if _, err := streams[tc.ends-1].next(); err != nil {
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("stream %d ended with %v, want a cut", tc.ends, err)
				}
				break
			}
		}
	}
}

// TestAuthRequestWithoutAuthorizer checks that auth-request works on its
// own, with no Authorizer configured (Config.Auth nil): the app decides
// subscribes and publishes, a bearer token included, since no token or
// key is known.
func TestAuthRequestWithoutAuthorizer(t *testing.T) {
	t.Parallel()
	_, appSrv := newFakeApp(t, "alice")
	srv, _ := newServer(t, hub.Config{}, web.Config{AuthRequest: appSrv.URL})
	c, err := trySubscribeWith(t.Context(), srv, "/topics/user/alice/inbox", "", withCookie(nil, "alice"))
	if err != nil {
		t.Fatalf("alice's subscribe: %v", err)
	}
	t.Cleanup(c.Close)
	if a := request(t, srv, http.MethodGet, "/topics/user/bob/inbox", withCookie(plainHeader, "alice"), ""); a.status != http.StatusForbidden {
		t.Fatalf("alice's subscribe to bob's inbox: %d, want 403", a.status)
	}
	pub := withCookie(hdr("Content-Type", "text/html", "Authorization", "Bearer not-a-known-token"), "alice")
	if a := request(t, srv, http.MethodPost, "/topics/user/alice/inbox", pub, `<p id="x">hi</p>`); a.status != http.StatusOK {
		t.Fatalf("alice's publish with a bearer the hub does not know: %d %s, want 200 (the app decides)", a.status, a.raw)
	}
}

// TestAuthRequestClosesMercure checks that a hub whose only authorization
// is auth-request does not leave the Mercure endpoint open: the app is
// not asked there, so a Mercure publish or subscribe without a token the
// hub accepts is refused, as with tokens configured, instead of let in as
// on a hub without authorization.
func TestAuthRequestClosesMercure(t *testing.T) {
	t.Parallel()
	_, appSrv := newFakeApp(t, "alice")
	srv, _ := newServer(t, hub.Config{}, web.Config{AuthRequest: appSrv.URL})
	if a := mercurePost(t, srv, url.Values{"topic": {"user/alice/inbox"}, "data": {"forged"}}, ""); a.status != http.StatusUnauthorized {
		t.Fatalf("a Mercure publish without credentials: %d %s, want 401", a.status, a.body)
	}
	if a := request(t, srv, http.MethodGet, "/.well-known/mercure?topic=user/alice/inbox", plainHeader, ""); a.status != http.StatusUnauthorized {
		t.Fatalf("a Mercure subscribe without credentials: %d, want 401", a.status)
	}
}
