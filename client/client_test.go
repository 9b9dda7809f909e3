package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/client"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

// newHub starts a real hub and its HTTP surface behind front (nil: none),
// which gets the hub's handler; both stop at the end of the test.
func newHub(t *testing.T, wc web.Config, front func(api http.Handler) http.Handler) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(h, wc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	var handler http.Handler = api
	if front != nil {
		handler = front(api)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
	return srv, h
}

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithRetries(3, 10*time.Millisecond, 100*time.Millisecond)}, opts...)
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stream runs Subscribe in its own goroutine, stopped at the end of the
// test, and hands over what it yields.
type stream struct {
	events chan client.Event
	errs   chan error
}

func subscribe(t *testing.T, c *client.Client, topics []string, last string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{events: make(chan client.Event, 100), errs: make(chan error, 1)}
	done := make(chan struct{})
	go func() { // ends when ctx is cancelled at the end of the test
		defer close(done)
		for ev, err := range c.Subscribe(ctx, topics, last) {
			if err != nil {
				s.errs <- err
				return
			}
			s.events <- ev
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// next returns the next event, failing the test after 10 seconds.
func (s *stream) next(t *testing.T) client.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case err := <-s.errs:
		t.Fatalf("subscription ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 seconds")
	}
	return client.Event{}
}

// TestPublishEveryKindReadBack publishes each kind of Datastar event with
// its options through the client and reads it back through Subscribe,
// byte for byte as the sse package encodes it.
func TestPublishEveryKindReadBack(t *testing.T) {
	t.Parallel()
	srv, _ := newHub(t, web.Config{}, nil)
	c := newClient(t, srv.URL)
	ctx := t.Context()
	start, err := c.Publish(ctx, []string{"kinds"}, sse.PatchSignals{Signals: []byte(`{"start":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, c, []string{"kinds"}, start.ID)
	events := []sse.Eventer{
		sse.PatchElements{Elements: "<li>one</li>\n<li>two</li>", Selector: "#list", Mode: sse.ModeAppend, UseViewTransition: true},
		sse.PatchElements{Selector: "#gone", Mode: sse.ModeRemove},
		sse.PatchElements{Elements: `<circle id="c" r="2"></circle>`, Namespace: sse.NamespaceSVG},
		sse.PatchSignals{Signals: []byte("{\"a\":1,\n\"b\":{\"c\":null}}"), OnlyIfMissing: true},
		sse.ExecuteScript{Script: "console.log('hi')", Attributes: []sse.Attr{{Name: "type", Value: "module"}}, KeepScript: true},
		sse.ExecuteScript{Script: "x()"},
	}
	res, err := c.Publish(ctx, []string{"kinds"}, events...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IDs) != len(events) || res.ID != res.IDs[len(res.IDs)-1] || !slices.Equal(res.Topics, []string{"kinds"}) {
		t.Fatalf("result %+v, want %d IDs on topic kinds", res, len(events))
	}
	for i, ev := range events {
		got := s.next(t)
		want, _ := ev.Event()
		var data []string
		for _, f := range want.Fields {
			for line := range strings.Lines(f.Value) {
				data = append(data, f.Key+" "+strings.TrimSuffix(line, "\n"))
			}
		}
		if got.Type != want.Type || got.ID != res.IDs[i] || !slices.Equal(got.Data, data) {
			t.Errorf("event %d: got %+v, want type %s, id %s, data %q", i, got, want.Type, res.IDs[i], data)
		}
	}
}

// TestRetryNeverPublishesTwice puts a front in front of the real hub that
// lets a publish through and then cuts its answer in the middle of the
// body, so that the client sees a network error and retries: the retry carries the same
// Idempotency-Key, gets the first publish's IDs, and the subscriber sees
// the event exactly once.
func TestRetryNeverPublishesTwice(t *testing.T) {
	t.Parallel()
	var publishes, cut atomic.Int32
	var keys []string
	srv, h := newHub(t, web.Config{}, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/publish" {
				api.ServeHTTP(w, r)
				return
			}
			keys = append(keys, r.Header.Get("Idempotency-Key")) // one publish at a time here
			if publishes.Add(1) == 2 {                           // the publish after the start marker
				rec := httptest.NewRecorder()
				api.ServeHTTP(rec, r) // stored...
				cut.Add(1)
				// ...but the answer is cut in the middle of its body.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes()[:5])
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler)
			}
			api.ServeHTTP(w, r)
		})
	})
	c := newClient(t, srv.URL)
	start, err := c.Publish(t.Context(), []string{"once"}, sse.ExecuteScript{Script: "start()"})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, c, []string{"once"}, start.ID)
	res, err := c.Publish(t.Context(), []string{"once"}, sse.PatchElements{Elements: `<p id="p">once</p>`})
	if err != nil {
		t.Fatal(err)
	}
	if cut.Load() != 1 || publishes.Load() != 3 {
		t.Fatalf("%d answers cut, %d publish requests; want the first cut and the second publish retried once", cut.Load(), publishes.Load())
	}
	if keys[1] == "" || keys[1] != keys[2] || keys[0] == keys[1] {
		t.Errorf("idempotency keys %q: want one per publish, the same on its retry", keys)
	}
	end, err := c.Publish(t.Context(), []string{"once"}, sse.ExecuteScript{Script: "end()"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := s.next(t); ev.ID != res.ID {
		t.Errorf("first event %+v, want the published %s", ev, res.ID)
	}
	if ev := s.next(t); ev.ID != end.ID {
		t.Errorf("next event %+v, want the end marker %s: the retry published again", ev, end.ID)
	}
	if n := h.Stats().Events; n != 3 {
		t.Errorf("%d events published, want 3", n)
	}
}

// TestRetryHonoursRetryAfter answers the first publish 503 with
// Retry-After: 1 and checks that the client waits that long, though its
// own backoff is 10 ms, and then publishes.
func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var tries atomic.Int32
	srv, _ := newHub(t, web.Config{}, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/publish" && tries.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
				return
			}
			api.ServeHTTP(w, r)
		})
	})
	c := newClient(t, srv.URL)
	begin := time.Now()
	if _, err := c.Publish(t.Context(), []string{"later"}, sse.ExecuteScript{Script: "x()"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < time.Second || tries.Load() != 2 {
		t.Errorf("published after %v and %d tries, want a second try after Retry-After's 1s", took, tries.Load())
	}
}

// TestTypedErrors checks that a refused publish is a *client.Error with
// the status, message, field and request ID of the hub's answer, and is
// not retried.
func TestTypedErrors(t *testing.T) {
	t.Parallel()
	a, err := auth.New(t.Context(), auth.Config{Secret: []byte("0123456789abcdef0123456789abcdef"), PublishKeys: []string{"pk_test_0123456789abcdefghij"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, h := newHub(t, web.Config{Auth: a}, nil)
	cases := []struct {
		name   string
		token  string
		topics []string
		status int
		field  string
	}{
		{"no token", "", []string{"news"}, http.StatusUnauthorized, "authorization"},
		{"bad topic", "pk_test_0123456789abcdefghij", []string{"no spaces"}, http.StatusBadRequest, "topics[0]"},
		{"reserved topic", "pk_test_0123456789abcdefghij", []string{"$stats"}, http.StatusForbidden, "topic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv.URL, client.WithToken(tc.token))
			_, err := c.Publish(t.Context(), tc.topics, sse.ExecuteScript{Script: "x()"})
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want a *client.Error", err, err)
			}
			if e.Status != tc.status || e.Field != tc.field || e.RequestID == "" || e.Message == "" {
				t.Errorf("got %+v, want status %d, field %q, a message and a request ID", e, tc.status, tc.field)
			}
		})
	}
	if n := h.Stats().Events; n != 0 {
		t.Errorf("%d events published", n)
	}
	if _, err := client.New("ftp://x"); err == nil {
		t.Error("New accepted an ftp URL")
	}
}

// TestSubscribeResumesAfterCut subscribes through a reverse proxy whose
// connections the test cuts: the client reconnects by itself with
// Last-Event-ID, and gets the event published while it was away, once,
// and nothing twice.
func TestSubscribeResumesAfterCut(t *testing.T) {
	t.Parallel()
	backend, _ := newHub(t, web.Config{}, nil)
	target, _ := url.Parse(backend.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	proxy.ErrorLog = nil
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)

	pub := newClient(t, backend.URL)
	c := newClient(t, front.URL)
	start, err := pub.Publish(t.Context(), []string{"cut"}, sse.ExecuteScript{Script: "start()"})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, c, []string{"cut"}, start.ID)
	var want []string
	for i := range 3 {
		res, err := pub.Publish(t.Context(), []string{"cut"}, sse.PatchSignals{Signals: []byte(`{"i":` + string(rune('0'+i)) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.ID)
		if i == 0 {
			if ev := s.next(t); ev.ID != res.ID {
				t.Fatalf("got %+v, want %s", ev, res.ID)
			}
			front.CloseClientConnections() // the stream is cut
		}
	}
	got := []string{want[0]}
	for len(got) < 3 {
		got = append(got, s.next(t).ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v: each once, in order", got, want)
	}
}

// TestSubscribeSurfacesMissed reconnects with an ID of another run: the
// hub's missed signal comes first, marked Missed.
func TestSubscribeSurfacesMissed(t *testing.T) {
	t.Parallel()
	srv, _ := newHub(t, web.Config{}, nil)
	c := newClient(t, srv.URL)
	if _, err := c.Publish(t.Context(), []string{"gap"}, sse.ExecuteScript{Script: "x()"}); err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, c, []string{"gap"}, "zzzz-1")
	if ev := s.next(t); !ev.Missed || ev.Type != "datastar-patch-signals" {
		t.Errorf("first event %+v, want the missed signal", ev)
	}
	if ev := s.next(t); ev.Missed || ev.Type != "datastar-patch-elements" {
		t.Errorf("second event %+v, want the script the hub still held", ev)
	}
}

// TestPublishRetain publishes retained signals through the client: a
// subscriber that comes later, without Last-Event-ID, gets them first.
func TestPublishRetain(t *testing.T) {
	t.Parallel()
	srv, _ := newHub(t, web.Config{}, nil)
	c := newClient(t, srv.URL)
	if _, err := c.PublishWith(t.Context(), []string{"state"}, client.PublishOptions{Retain: true}, sse.PatchSignals{Signals: []byte(`{"count":5}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(t.Context(), []string{"state"}, sse.PatchSignals{Signals: []byte(`{"count":6}`)}); err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, c, []string{"state"}, "")
	if ev := s.next(t); ev.Type != "datastar-patch-signals" || !slices.Contains(ev.Data, `signals {"count":5}`) {
		t.Errorf("a late joiner's first event %+v, want the retained count 5 (not the unretained 6)", ev)
	}
}

// TestSubscribeRetriesServerErrors answers the first subscribe 502, as a
// proxy does while the hub restarts, and the second 503: the client keeps
// trying and gets the events; a 4xx, by contrast, ends the iteration with
// the *client.Error.
func TestSubscribeRetriesServerErrors(t *testing.T) {
	t.Parallel()
	var tries atomic.Int32
	srv, _ := newHub(t, web.Config{}, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/subscribe" {
				switch tries.Add(1) {
				case 1:
					http.Error(w, "bad gateway", http.StatusBadGateway)
					return
				case 2:
					http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
					return
				}
			}
			api.ServeHTTP(w, r)
		})
	})
	c := newClient(t, srv.URL)
	res, err := c.Publish(t.Context(), []string{"later"}, sse.ExecuteScript{Script: "x()"})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, c, []string{"later"}, "zzzz-1")
	if ev := s.next(t); !ev.Missed {
		t.Errorf("first event %+v, want the missed signal", ev)
	}
	if ev := s.next(t); ev.ID != res.ID || tries.Load() != 3 {
		t.Errorf("got %+v after %d tries, want %s on the third", ev, tries.Load(), res.ID)
	}

	refused := subscribe(t, c, []string{"no spaces"}, "")
	select {
	case err := <-refused.errs:
		var e *client.Error
		if !errors.As(err, &e) || e.Status/100 != 4 {
			t.Errorf("refused subscription: %v, want a 4xx *client.Error", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a refused subscription did not end")
	}
}
