package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

// panicky is an Eventer whose Event panics, as user code may.
type panicky struct{}

func (panicky) Event() (sse.Event, error) { panic("user code panicked") }

// panicJSON is a DispatchEvent detail whose marshalling panics.
type panicJSON struct{}

func (panicJSON) MarshalJSON() ([]byte, error) { panic("detail panicked") }

// TestPanickingUserCodeDoesNotLockTheStream: user code that runs during a
// send (an Eventer's Event, a Batch callback, the marshalling of a
// DispatchEvent's detail) panics and the handler recovers. The stream must
// go on: later sends arrive, Close and the context watch do not block.
// Before events were built outside the lock, the second send blocked for
// good; the test then reports the deadlock after a generous bound instead
// of hanging the run.
func TestPanickingUserCodeDoesNotLockTheStream(t *testing.T) {
	t.Parallel()
	cases := map[string]func(s *sse.Stream){
		"Eventer":        func(s *sse.Stream) { s.Send(panicky{}) },
		"Batch callback": func(s *sse.Stream) { s.Batch(func(*sse.Batch) error { panic("callback panicked") }) },
		"DispatchEvent detail": func(s *sse.Stream) {
			s.Send(sse.DispatchEvent{Name: "x", Detail: panicJSON{}})
		},
	}
	for name, send := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			handlerDone := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := sse.NewSSE(w, r)
				if err != nil {
					handlerDone <- err
					return
				}
				recovered := func() (v any) {
					defer func() { v = recover() }()
					send(s)
					return nil
				}()
				if recovered == nil {
					handlerDone <- errors.New("the send did not panic")
					return
				}
				if err := s.PatchElements(`<p id="after">after</p>`); err != nil {
					handlerDone <- err
					return
				}
				handlerDone <- s.Close()
			}))
			got := make(chan []byte, 1)
			go func() {
				resp, err := http.Get(srv.URL)
				if err != nil {
					got <- []byte(err.Error())
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				got <- b
			}()
			select {
			case err := <-handlerDone:
				defer srv.Close()
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				// The handler is stuck for good; closing the server would wait for it.
				srv.Listener.Close()
				t.Fatal("the stream stayed locked after the panic: the next send never returned")
			}
			if body := string(<-got); body != "event: datastar-patch-elements\ndata: elements <p id=\"after\">after</p>\n\n" {
				t.Fatalf("body %q, want only the event sent after the panic", body)
			}
		})
	}
}

// TestOnCloseWaitsForOnOpen: OnOpen's sends fail (the client never reads,
// and the write timeout passes); OnClose must run after OnOpen has
// returned, never in its middle, with the stream, and NewSSE must report
// the end. Before, OnClose ran inside OnOpen's failing send, so an OnOpen
// that registers the stream after its first send found OnClose's
// unregistering done already, and a closure over NewSSE's result saw nil.
func TestOnCloseWaitsForOnOpen(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var (
			mu     sync.Mutex
			steps  []string
			closed *sse.Stream
			opened *sse.Stream
		)
		step := func(s string) { mu.Lock(); steps = append(steps, s); mu.Unlock() }
		result := make(chan error, 1)
		client, url := servePipe(t, "HTTP/1.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := sse.NewSSE(w, r, sse.WithWriteTimeout(time.Second),
				sse.OnOpen(func(s *sse.Stream) {
					opened = s
					big := sse.PatchElements{Elements: "<p>" + strings.Repeat("y", 64<<10) + "</p>"}
					for s.Send(big) == nil {
					}
					step("OnOpen returns")
				}),
				sse.OnClose(func(s *sse.Stream, err error) { closed = s; step("OnClose") }))
			if s != nil {
				result <- errors.New("NewSSE returned a stream that ended while it opened")
				return
			}
			result <- err
		}))
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() // and never read
		err = <-result
		if !errors.Is(err, sse.ErrClosed) {
			t.Fatalf("NewSSE: %v, want ErrClosed wrapping the write's error", err)
		}
		if got := fmt.Sprint(steps); got != "[OnOpen returns OnClose]" {
			t.Fatalf("steps %s, want OnClose after OnOpen returned", got)
		}
		if closed == nil || closed != opened {
			t.Fatalf("OnClose got stream %p, want OnOpen's %p", closed, opened)
		}
	})
}

// TestStreamState checks Closed, Done, Err and Context through the three
// ways a stream ends, and that the callbacks are handed the stream.
func TestStreamState(t *testing.T) {
	t.Parallel()
	type state struct {
		closedBefore, closedAfter bool
		errBefore, errAfter       error
		ctxCause                  error
		lateCtxCause              error // of a Context asked for after the end
		onClose                   *sse.Stream
		stream                    *sse.Stream
	}
	observe := func(s *sse.Stream, end func()) state {
		var st state
		st.stream = s
		st.closedBefore, st.errBefore = s.Closed(), s.Err()
		ctx := s.Context()
		select {
		case <-s.Done():
			st.errBefore = errors.New("Done was closed while the stream was open")
		default:
		}
		end()
		<-s.Done()
		<-ctx.Done()
		st.closedAfter, st.errAfter = s.Closed(), s.Err()
		st.ctxCause = context.Cause(ctx)
		return st
	}
	check := func(t *testing.T, st state, want func(error) bool) {
		t.Helper()
		if st.closedBefore || st.errBefore != nil {
			t.Fatalf("open stream: Closed %v, Err %v", st.closedBefore, st.errBefore)
		}
		if !st.closedAfter || !want(st.errAfter) || !want(st.ctxCause) {
			t.Fatalf("ended stream: Closed %v, Err %v, context cause %v", st.closedAfter, st.errAfter, st.ctxCause)
		}
		if st.onClose != st.stream {
			t.Fatalf("OnClose got %p, want the stream %p", st.onClose, st.stream)
		}
	}
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		res := make(chan state, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var got *sse.Stream
			s, err := sse.NewSSE(w, r, sse.OnClose(func(s *sse.Stream, _ error) { got = s }))
			if err != nil {
				t.Error(err)
				return
			}
			st := observe(s, func() { s.Close() })
			st.onClose = got
			st.lateCtxCause = context.Cause(s.Context())
			res <- st
		}))
		defer srv.Close()
		getAll(t, srv.URL)
		st := <-res
		check(t, st, func(err error) bool { return err == sse.ErrClosed })
		if st.lateCtxCause != sse.ErrClosed {
			t.Fatalf("a Context asked for after Close has cause %v", st.lateCtxCause)
		}
	})
	t.Run("client goes", func(t *testing.T) {
		t.Parallel()
		res := make(chan state, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			onClose := make(chan *sse.Stream, 1)
			s, err := sse.NewSSE(w, r, sse.OnClose(func(s *sse.Stream, _ error) { onClose <- s }))
			if err != nil {
				t.Error(err)
				return
			}
			st := observe(s, func() { s.PatchElements(`<p id="ok">ok</p>`) }) // the client reads it and goes
			st.onClose = <-onClose
			res <- st
		}))
		defer srv.Close()
		readOneAndLeave(t, srv.URL)
		check(t, <-res, func(err error) bool { return errors.Is(err, sse.ErrClosed) && errors.Is(err, context.Canceled) })
	})
	t.Run("failed write, unwatched", func(t *testing.T) {
		t.Parallel()
		// Without the context watch only the failed write ends the stream,
		// and its context must end with it, not merely with the request.
		res := make(chan state, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var got *sse.Stream
			s, err := sse.NewSSE(w, r, sse.WithoutContextWatch(), sse.OnClose(func(s *sse.Stream, _ error) { got = s }))
			if err != nil {
				t.Error(err)
				return
			}
			s.PatchElements(`<p id="ok">ok</p>`)
			<-r.Context().Done()
			st := observe(s, func() {
				for s.PatchElements(`<p id="ok">again</p>`) == nil {
				}
			})
			st.onClose = got
			res <- st
		}))
		defer srv.Close()
		readOneAndLeave(t, srv.URL)
		check(t, <-res, func(err error) bool {
			return errors.Is(err, sse.ErrClosed) && strings.Contains(err.Error(), "sse: write:")
		})
	})
}

// TestContextEndsOnCloseWithoutRequestEnding: the context of a stream
// closed by its handler ends at once, while the request's stays live; work
// tied to the stream's context stops when the handler closes it.
func TestContextEndsOnCloseWithoutRequestEnding(t *testing.T) {
	t.Parallel()
	res := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			res <- err.Error()
			return
		}
		worker := make(chan struct{})
		go func() { // stops with the stream
			<-s.Context().Done()
			close(worker)
		}()
		s.Close()
		<-worker
		res <- fmt.Sprintf("request context %v", r.Context().Err())
	}))
	defer srv.Close()
	getAll(t, srv.URL)
	if got := <-res; got != "request context <nil>" {
		t.Fatal(got)
	}
}

// TestOnErrorDecidesOnRefusedEvents: an invalid event reaches OnError with
// the stream still open; OnError's answer decides whether it closes.
func TestOnErrorDecidesOnRefusedEvents(t *testing.T) {
	t.Parallel()
	for _, closeIt := range []bool{false, true} {
		t.Run(fmt.Sprint("close ", closeIt), func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 2)
			body := streamBody(t, func(s *sse.Stream) {
				if err := s.Send(sse.PatchElements{Elements: "<p>x</p>", Mode: "sideways"}); !errors.Is(err, sse.ErrInvalidOption) {
					t.Errorf("invalid event: %v", err)
				}
				s.PatchElements(`<p id="next">next</p>`)
			}, sse.OnError(func(s *sse.Stream, err error) bool {
				errs <- fmt.Errorf("stream open %v: %w", !s.Closed(), err)
				return closeIt
			}))
			err := <-errs
			if !errors.Is(err, sse.ErrInvalidOption) || !strings.HasPrefix(err.Error(), "stream open true: ") {
				t.Fatalf("OnError got %v", err)
			}
			if sent := strings.Contains(body, "next"); sent == closeIt {
				t.Fatalf("OnError answered %v, and the next event was sent: %v (body %q)", closeIt, sent, body)
			}
		})
	}
}

// panicCoder is a Coder whose compressors panic on their first write, as
// a custom write profile's code may.
type panicCoder struct{}

func (panicCoder) Encoding() sse.Encoding { return "x-panic" }

func (panicCoder) NewCompressor(io.Writer) (sse.Compressor, error) { return panicCompressor{}, nil }

type panicCompressor struct{}

func (panicCompressor) Write([]byte) (int, error) { panic("compressor panicked") }
func (panicCompressor) Flush() error              { return nil }
func (panicCompressor) Close() error              { return nil }

// TestPanickingCompressorEndsTheStream: a Compressor runs under the
// stream's lock; when it panics, the lock is released and the stream ends,
// since what reached the connection is unknown: later sends and Close
// return at once, and OnClose runs.
func TestPanickingCompressorEndsTheStream(t *testing.T) {
	t.Parallel()
	res := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		closed := make(chan error, 1)
		s, err := sse.NewSSE(w, r, sse.WithCoders(panicCoder{}), sse.OnClose(func(_ *sse.Stream, err error) { closed <- err }))
		if err != nil {
			res <- err.Error()
			return
		}
		func() {
			defer func() { recover() }()
			s.PatchElements(`<p id="a">a</p>`)
		}()
		sendErr := s.PatchElements(`<p id="b">b</p>`)
		res <- fmt.Sprintf("send: %v; Close: %v; OnClose: %v", sendErr, s.Close(), <-closed)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "x-panic")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got, want := <-res, "send: sse: stream closed: sse: write panicked; Close: <nil>; OnClose: sse: write panicked"; got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}
