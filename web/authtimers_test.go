package web_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// bubble is a hub and, when app is set, the app behind its auth-request,
// each served on in-memory connections so that a synctest bubble's clock
// can be faked; stop ends it all inside the bubble.
type bubble struct {
	h     *hub.Hub
	s     *web.Server
	l     *pipeListener
	appTr *http.Transport
	stops []func()
}

func newBubble(t *testing.T, app http.Handler, ac auth.Config, wc web.Config) *bubble {
	t.Helper()
	b := &bubble{}
	if app != nil {
		al := newPipeListener()
		asrv := &http.Server{Handler: app}
		served := make(chan struct{})
		go func() { defer close(served); _ = asrv.Serve(al) }()
		b.appTr = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			select {
			case al.conns <- server:
				return client, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}}
		wc.AuthRequest, wc.AuthRequestClient = "http://app.test/auth", &http.Client{Transport: b.appTr}
		b.stops = append(b.stops, func() { b.appTr.CloseIdleConnections(); asrv.Close(); <-served })
	}
	a, err := auth.New(t.Context(), ac)
	if err != nil {
		t.Fatal(err)
	}
	wc.Auth = a
	if b.h, err = hub.New(hub.Config{Heartbeat: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if b.s, err = web.New(b.h, wc); err != nil {
		t.Fatal(err)
	}
	b.l = newPipeListener()
	srv := &http.Server{Handler: b.s}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(b.l) }()
	b.stops = append([]func(){func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.h.Shutdown(ctx)
		srv.Close()
		<-served
		b.s.Close()
	}}, b.stops...)
	return b
}

func (b *bubble) stop() {
	for _, f := range b.stops {
		f()
	}
}

// pipeStream is a stream opened over a pipe; ended receives how its body
// ended once the server stops sending.
type pipeStream struct {
	conn   net.Conn
	status int
	ended  chan error
}

// open sends GET path with header and reads the response's head; an
// admitted stream's body is then read to its end in the background.
func (b *bubble) open(t *testing.T, path string, header http.Header) *pipeStream {
	t.Helper()
	client, server := net.Pipe()
	b.l.conns <- server
	req, err := http.NewRequest(http.MethodGet, "http://localhost"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/event-stream")
	}
	go func() { _ = req.Write(client) }() // the server reads it while we wait for the answer
	resp, err := http.ReadResponse(bufio.NewReader(client), req)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeStream{conn: client, status: resp.StatusCode, ended: make(chan error, 1)}
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		p.ended <- err
	}()
	return p
}

// open reports whether the stream is still open (after synctest.Wait).
func (p *pipeStream) open() bool { return len(p.ended) == 0 }

// cutAfter checks, in a synctest bubble, that s is still open a second
// before d from now, while the hub accepts its token, and a second after
// d has been cut (an unexpected EOF), so that its client reconnects.
func cutAfter(t *testing.T, s *pipeStream, d time.Duration) {
	t.Helper()
	time.Sleep(d - time.Second)
	synctest.Wait()
	if !s.open() {
		t.Fatalf("the stream ended %v before its token expired", <-s.ended)
	}
	time.Sleep(2 * time.Second)
	synctest.Wait()
	if s.open() {
		t.Fatal("the stream outlived its token")
	}
	if err := <-s.ended; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the stream ended with %v, want a cut (unexpected EOF) so that the client reconnects", err)
	}
}

// TestStreamEndsAtTokenExpiry checks, on a fake clock, that a stream
// admitted by a token is cut when the hub stops accepting that token (its
// exp plus the leeway), not before, so that the client comes back with a
// fresh one; a stream admitted by a token without exp stays.
func TestStreamEndsAtTokenExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, nil, auth.Config{Secret: testSecret, AllowNoExpiry: true}, web.Config{})
		defer b.stop()
		tok := token(t, nil, auth.Patterns{"news"}, time.Minute)
		forever, err := auth.Mint(auth.Token{Subject: "svc", Grants: auth.Grants{Subscribe: auth.Patterns{"news"}}, NoExpiry: true}, testSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s := b.open(t, "/topics/news", hdr("Authorization", "Bearer "+tok))
		other := b.open(t, "/topics/news", hdr("Authorization", "Bearer "+forever))
		if s.status != http.StatusOK || other.status != http.StatusOK {
			t.Fatalf("subscribe: %d and %d", s.status, other.status)
		}
		cutAfter(t, s, time.Minute+auth.DefaultLeeway)
		if !other.open() {
			t.Fatal("the stream of a token without exp ended")
		}
		s.conn.Close()
		other.conn.Close()
	})
}

// TestMercureStreamEndsAtTokenExpiry checks, on a fake clock, that a
// Mercure subscriber's stream, like any stream admitted by a token, lasts
// until the hub stops accepting its token (exp plus the leeway): a client
// that reconnects within the leeway is admitted, and must not be cut at
// once for a token the hub still takes.
func TestMercureStreamEndsAtTokenExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, nil, auth.Config{Secret: testSecret}, web.Config{})
		defer b.stop()
		tok := mercureJWT(t, jwt.MapClaims{"exp": time.Now().Add(time.Minute).Unix(), "mercure": map[string]any{"subscribe": []string{"*"}}})
		s := b.open(t, "/.well-known/mercure?topic=news", hdr("Authorization", "Bearer "+tok))
		if s.status != http.StatusOK {
			t.Fatalf("subscribe: %d", s.status)
		}
		cutAfter(t, s, time.Minute+auth.DefaultLeeway)
		s.conn.Close()
	})
}

// TestRecheckEndsRevokedStreams checks, on a fake clock, that the app is
// asked again about the streams it admitted every recheck interval, once
// per credential however many streams it has, and that the streams of a
// session it no longer grants are cut, while an app that fails during a
// recheck ends nothing.
func TestRecheckEndsRevokedStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const recheck = time.Minute
		app := &fakeApp{loggedIn: map[string]bool{"alice": true, "bob": true}}
		b := newBubble(t, app, auth.Config{}, web.Config{AuthRequestRecheck: recheck})
		defer b.stop()
		alice := b.open(t, "/topics/user/alice/inbox", withCookie(nil, "alice"))
		bob1 := b.open(t, "/topics/shared", withCookie(nil, "bob"))
		bob2 := b.open(t, "/topics/user/bob/inbox", withCookie(nil, "bob"))
		for _, s := range []*pipeStream{alice, bob1, bob2} {
			if s.status != http.StatusOK {
				t.Fatalf("subscribe: %d", s.status)
			}
		}
		asked := app.count()

		app.set(func(a *fakeApp) { delete(a.loggedIn, "alice") }) // alice logs out
		time.Sleep(recheck + recheck/5 + time.Second)             // the longest jittered interval
		synctest.Wait()
		if n := app.count() - asked; n != 2 {
			t.Fatalf("one recheck interval asked the app %d times, want 2: once per session", n)
		}
		if alice.open() {
			t.Fatal("alice's stream outlived her session")
		}
		if err := <-alice.ended; !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("alice's stream ended with %v, want a cut", err)
		}
		if !bob1.open() || !bob2.open() {
			t.Fatal("bob's streams ended, though his session still grants them")
		}
		if a := b.open(t, "/topics/user/alice/inbox", withCookie(plainHeader, "alice")); a.status != http.StatusUnauthorized {
			t.Fatalf("alice's reconnect: %d, want 401", a.status)
		}

		// The app fails: nothing is ended for that.
		app.set(func(a *fakeApp) {
			a.behave = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }
		})
		time.Sleep(recheck + recheck/5 + time.Second)
		synctest.Wait()
		if !bob1.open() || !bob2.open() {
			t.Fatal("a failing app ended bob's streams")
		}
		// It answers again, no longer granting bob's inbox.
		app.set(func(a *fakeApp) {
			a.behave = func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"subscribe": ["shared"], "user": "bob"}`)
			}
		})
		time.Sleep(recheck + recheck/5 + time.Second)
		synctest.Wait()
		if !bob1.open() || bob2.open() {
			t.Fatalf("after the grant narrowed: shared open %v, inbox open %v; want only shared open", bob1.open(), bob2.open())
		}
		bob1.conn.Close()
		bob2.conn.Close()
		alice.conn.Close()
	})
}

// TestRecheckKeepsWhatTheAppGranted checks, on a fake clock, that a
// recheck holds a stream to what the app admitted it for: a topic's view
// by the right to the topic itself, and a stream whose other topic is
// open to anyone by the app's topic alone. Both stay while the session
// grants them, and are cut once it no longer does.
func TestRecheckKeepsWhatTheAppGranted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const recheck = time.Minute
		app := &fakeApp{loggedIn: map[string]bool{"alice": true}}
		b := newBubble(t, app, auth.Config{AnonymousSubscribe: auth.Patterns{"public/**"}}, web.Config{AuthRequestRecheck: recheck})
		defer b.stop()
		view := b.open(t, "/topics/%24hubd/topic/user/alice/inbox", withCookie(nil, "alice"))
		mixed := b.open(t, "/subscribe?topic=public/news&topic=user/alice/inbox", withCookie(nil, "alice"))
		for _, s := range []*pipeStream{view, mixed} {
			if s.status != http.StatusOK {
				t.Fatalf("subscribe: %d", s.status)
			}
		}
		time.Sleep(recheck + recheck/5 + time.Second) // the longest jittered interval
		synctest.Wait()
		if !view.open() || !mixed.open() {
			t.Fatalf("after a recheck that still grants alice's inbox: view open %v, mixed open %v; want both open", view.open(), mixed.open())
		}
		app.set(func(a *fakeApp) { delete(a.loggedIn, "alice") })
		time.Sleep(recheck + recheck/5 + time.Second)
		synctest.Wait()
		if view.open() || mixed.open() {
			t.Fatalf("after alice signed out: view open %v, mixed open %v; want both cut", view.open(), mixed.open())
		}
		view.conn.Close()
		mixed.conn.Close()
	})
}

// TestAuthRequestBreakerCooldown checks, on a fake clock, that once the
// breaker opens the app is not asked until the cooldown has passed, and
// then by one request, which closes it when it succeeds.
func TestAuthRequestBreakerCooldown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		app := &fakeApp{loggedIn: map[string]bool{"alice": true}}
		app.behave = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
		b := newBubble(t, app, auth.Config{}, web.Config{})
		defer b.stop()
		try := func() int {
			s := b.open(t, "/topics/shared", withCookie(plainHeader, "alice"))
			s.conn.Close()
			return s.status
		}
		for range web.AuthBreakerFailures + 2 {
			if st := try(); st != http.StatusServiceUnavailable {
				t.Fatalf("failing app: %d, want 503", st)
			}
		}
		if n := app.count(); n != web.AuthBreakerFailures {
			t.Fatalf("asked %d times, want %d", n, web.AuthBreakerFailures)
		}
		time.Sleep(web.AuthBreakerCooldown - time.Second)
		try()
		if n := app.count(); n != web.AuthBreakerFailures {
			t.Fatalf("asked %d times before the cooldown ended, want %d", n, web.AuthBreakerFailures)
		}
		time.Sleep(time.Second)
		app.set(func(a *fakeApp) { a.behave = nil }) // the app is back
		if st := try(); st != http.StatusOK {
			t.Fatalf("after the cooldown, with the app back: %d, want 200", st)
		}
		if st := try(); st != http.StatusOK || app.count() != web.AuthBreakerFailures+2 {
			t.Fatalf("then: %d after %d asks; want 200, asking each time", st, app.count())
		}
	})
}

// TestAuthRequestConcurrency checks that no more requests go to the app
// at once than AuthRequestConcurrency, and that a request that waits for
// a turn longer than the timeout is refused retriably.
func TestAuthRequestConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inFlight, most := 0, 0
		release := make(chan struct{})
		app := &fakeApp{loggedIn: map[string]bool{"alice": true}}
		app.behave = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			<-release
			mu.Lock()
			inFlight--
			mu.Unlock()
			io.WriteString(w, `{"subscribe": ["shared"]}`)
		}
		b := newBubble(t, app, auth.Config{}, web.Config{AuthRequestConcurrency: 2, AuthRequestTimeout: 10 * time.Second})
		defer b.stop()
		statuses := make(chan int, 3)
		for range 3 {
			go func() {
				s := b.open(t, "/topics/shared", withCookie(plainHeader, "alice"))
				s.conn.Close()
				statuses <- s.status
			}()
		}
		synctest.Wait()
		if app.count() != 2 {
			t.Fatalf("%d requests reached the app, want 2 (the bound)", app.count())
		}
		time.Sleep(10 * time.Second) // the third waits in vain for a turn; the two in flight time out too
		synctest.Wait()
		got := []int{<-statuses, <-statuses, <-statuses}
		close(release)
		for _, st := range got {
			if st != http.StatusServiceUnavailable {
				t.Fatalf("statuses %v, want every one 503 (the app never answered in time)", got)
			}
		}
		if most != 2 {
			t.Fatalf("at most %d requests were in flight, want 2", most)
		}
	})
}
