package sse_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/hubd-dev/hubd/sse"
)

// readEvent reads one event (up to its blank line) from r.
func readEvent(r *bufio.Reader) (wireEvent, error) {
	var raw strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return wireEvent{}, err
		}
		raw.WriteString(line)
		if line == "\n" {
			if evs := parseStream(raw.String()); len(evs) == 1 {
				return evs[0], nil
			}
			raw.Reset() // a comment block
		}
	}
}

// lockstep serves a stream whose handler sends an event, then waits for
// the client to confirm it has read it before sending the next: proof that
// every send is flushed through the compressor and the connection.
func TestSendArrivesPromptly(t *testing.T) {
	t.Parallel()
	for _, enc := range []sse.Encoding{sse.Identity, sse.Gzip, sse.Brotli, sse.Zstd} {
		t.Run(string(enc), func(t *testing.T) {
			t.Parallel()
			const n = 5
			read := make(chan struct{})
			handlerDone := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := sse.NewSSE(w, r, sse.WithCompression(sse.Zstd, sse.Brotli, sse.Gzip))
				if err != nil {
					handlerDone <- err
					return
				}
				for i := range n {
					if err := s.Send(sse.PatchElements{Elements: fmt.Sprintf("<p id=\"p\">%d %s</p>", i, strings.Repeat("z", 100))}); err != nil {
						handlerDone <- err
						return
					}
					<-read
				}
				handlerDone <- s.Close()
			}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if enc != sse.Identity {
				req.Header.Set("Accept-Encoding", string(enc))
			}
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); enc != sse.Identity && got != string(enc) {
				t.Fatalf("Content-Encoding %q, want %q", got, enc)
			}
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("Vary %q", resp.Header.Get("Vary"))
			}
			var body io.Reader = resp.Body
			switch enc {
			case sse.Gzip:
				body, err = gzip.NewReader(resp.Body)
			case sse.Brotli:
				body = brotli.NewReader(resp.Body)
			case sse.Zstd:
				var d *zstd.Decoder
				d, err = zstd.NewReader(resp.Body)
				if d != nil {
					defer d.Close()
				}
				body = d
			}
			if err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(body)
			for i := range n {
				ev, err := readEvent(br)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if !strings.HasPrefix(ev.Fields["elements"], fmt.Sprintf("<p id=\"p\">%d ", i)) {
					t.Fatalf("event %d: %+v", i, ev)
				}
				read <- struct{}{}
			}
			if err := <-handlerDone; err != nil {
				t.Fatal(err)
			}
			// Close finished the coding: the decoder reaches a clean end.
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("after Close: %q, %v; want a clean end", rest, err)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	opened := make(chan http.Header, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		<-r.Context().Done() // headers must arrive before any event
	})
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(h)
			if proto == "HTTP/2.0" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			opened <- resp.Header
			got := <-opened
			if resp.Proto != proto {
				t.Fatalf("proto %s", resp.Proto)
			}
			want := map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
			if proto == "HTTP/1.1" {
				want["Connection"] = "keep-alive"
			}
			for k, v := range want {
				if got.Get(k) != v {
					t.Errorf("%s: %q, want %q", k, got.Get(k), v)
				}
			}
			if proto == "HTTP/2.0" && got.Get("Connection") != "" {
				t.Errorf("Connection header %q on HTTP/2", got.Get("Connection"))
			}
			if got.Get("Vary") != "" || got.Get("Content-Encoding") != "" {
				t.Errorf("compression headers without compression: %v", got)
			}
		})
	}
}

// TestConcurrentSendsDoNotInterleave has 50 goroutines send 100 events
// each on one stream, plus batches; the client must read 5,000 whole
// events and every batch contiguous.
func TestConcurrentSendsDoNotInterleave(t *testing.T) {
	t.Parallel()
	const senders, each = 50, 100
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				for i := range each {
					var err error
					if i%10 == 0 {
						err = s.Batch(func(b *sse.Batch) error {
							for k := range 3 {
								if err := b.Send(sse.PatchSignals{Signals: fmt.Appendf(nil, `{"g":%d,"i":%d,"batch":%d}`, g, i, k)}); err != nil {
									return err
								}
							}
							return nil
						})
					} else {
						err = s.Send(sse.PatchElements{Elements: fmt.Sprintf("<p id=\"g%d\">\n%d\n%s</p>", g, i, strings.Repeat("x", 3000))})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}))
	defer srv.Close()
	all := getAll(t, srv.URL)
	evs := parseStream(string(all))
	want := senders * (each/10*3 + each - each/10)
	if len(evs) != want {
		t.Fatalf("%d events, want %d", len(evs), want)
	}
	for i, ev := range evs {
		switch ev.Type {
		case sse.EventPatchElements:
			if !strings.HasSuffix(ev.Fields["elements"], strings.Repeat("x", 3000)+"</p>") || strings.Count(ev.Fields["elements"], "\n") != 2 {
				t.Fatalf("event %d is not whole: %.80q", i, ev.Fields["elements"])
			}
		case sse.EventPatchSignals:
			var g, n, k int
			if _, err := fmt.Sscanf(ev.Fields["signals"], `{"g":%d,"i":%d,"batch":%d}`, &g, &n, &k); err != nil || k != 0 {
				t.Fatalf("event %d: %q is not the start of a batch", i, ev.Fields["signals"])
			}
			for j := 1; j < 3; j++ {
				next := fmt.Sprintf(`{"g":%d,"i":%d,"batch":%d}`, g, n, j)
				if evs[i+j].Fields["signals"] != next {
					t.Fatalf("batch of %d/%d broken at %d: %q", g, n, j, evs[i+j].Fields["signals"])
				}
			}
			evs = append(evs[:i+1], evs[i+3:]...) // skip the rest of the batch
		default:
			t.Fatalf("event %d: type %q", i, ev.Type)
		}
	}
}

// TestBatchAllOrNothing checks that a failed batch writes nothing and an
// invalid Send writes nothing, and the stream stays usable.
func TestBatchAllOrNothing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := sse.NewSSE(w, r)
		defer s.Close()
		err := s.Batch(func(b *sse.Batch) error {
			b.Send(sse.PatchElements{Elements: "<p>never</p>"})
			return errors.New("changed my mind")
		})
		if err == nil || err.Error() != "changed my mind" {
			t.Errorf("Batch error %v", err)
		}
		err = s.Batch(func(b *sse.Batch) error {
			if err := b.Send(sse.PatchElements{Elements: "<p>ok</p>"}); err != nil {
				return err
			}
			return b.Send(sse.PatchElements{Elements: "<p>bad</p>", Mode: "x"})
		})
		if !errors.Is(err, sse.ErrInvalidOption) {
			t.Errorf("Batch with a bad event: %v", err)
		}
		if err := s.Send(sse.PatchElements{Elements: "<p>first</p>"}, sse.PatchSignals{Signals: []byte("[]")}); !errors.Is(err, sse.ErrInvalidOption) {
			t.Errorf("Send with a bad event: %v", err)
		}
		if err := s.Send(sse.PatchElements{Elements: "<p>last</p>"}); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	all := getAll(t, srv.URL)
	if string(all) != "event: datastar-patch-elements\ndata: elements <p>last</p>\n\n" {
		t.Fatalf("body %q, want only the last event", all)
	}
}

// TestLifecycle checks OnOpen, OnClose exactly once with the right cause,
// idempotent Close, and ErrClosed after the end.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		var opens, closes atomic.Int32
		causes := make(chan error, 2)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := sse.NewSSE(w, r,
				sse.OnOpen(func(s *sse.Stream) { opens.Add(1); s.PatchElements(`<p id="hello">hi</p>`) }),
				sse.OnClose(func(_ *sse.Stream, err error) { closes.Add(1); causes <- err }))
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := s.PatchElements("<p>late</p>"); !errors.Is(err, sse.ErrClosed) {
				t.Errorf("send after Close: %v", err)
			}
		}))
		defer srv.Close()
		all := getAll(t, srv.URL)
		if !strings.Contains(string(all), `<p id="hello">hi</p>`) || strings.Contains(string(all), "late") {
			t.Fatalf("body %q", all)
		}
		if err := <-causes; err != nil {
			t.Fatalf("OnClose cause %v, want nil after Close", err)
		}
		if opens.Load() != 1 || closes.Load() != 1 {
			t.Fatalf("%d opens, %d closes", opens.Load(), closes.Load())
		}
	})
	t.Run("client goes", func(t *testing.T) {
		t.Parallel()
		causes := make(chan error, 2)
		sendErr := make(chan error, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := sse.NewSSE(w, r, sse.OnClose(func(_ *sse.Stream, err error) { causes <- err }))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			s.PatchElements(`<p id="a">a</p>`)
			<-s.Context().Done()
			err = <-causes // OnClose ran because the request ended
			causes <- err
			sendErr <- s.PatchElements("<p>gone</p>")
		}))
		defer srv.Close()
		readOneAndLeave(t, srv.URL)
		if err := <-sendErr; !errors.Is(err, sse.ErrClosed) || !errors.Is(err, context.Canceled) {
			t.Fatalf("send after the client left: %v, want ErrClosed wrapping context.Canceled", err)
		}
		if err := <-causes; !errors.Is(err, context.Canceled) {
			t.Fatalf("OnClose cause %v", err)
		}
		if len(causes) != 0 {
			t.Fatal("OnClose ran twice")
		}
	})
	t.Run("unwatched", func(t *testing.T) {
		t.Parallel()
		// Without the context watch, the end of the request does not end
		// the stream: only Close does, with a nil cause.
		causes := make(chan error, 2)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := sse.NewSSE(w, r, sse.WithoutContextWatch(), sse.OnClose(func(_ *sse.Stream, err error) { causes <- err }))
			if err != nil {
				t.Error(err)
				return
			}
			s.PatchElements(`<p id="a">a</p>`)
			<-r.Context().Done() // the stream's own context ends only with the stream here
			if len(causes) != 0 {
				t.Error("OnClose ran when the request ended, with the watch off")
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}))
		defer srv.Close()
		readOneAndLeave(t, srv.URL)
		if err := <-causes; err != nil {
			t.Fatalf("OnClose cause %v, want nil from Close", err)
		}
	})
}

// getAll reads the whole stream at url, until the handler ends it.
func getAll(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	all, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// readOneAndLeave opens the stream at url, reads its first event, then
// goes away.
func readOneAndLeave(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := readEvent(bufio.NewReader(resp.Body)); err != nil {
		t.Fatal(err)
	}
}

// TestWriteDeadline has a client that sends its request and never reads:
// the handler's sends must fail once the write deadline passes, and
// OnError and OnClose must report it.
func TestWriteDeadline(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 1)
	closed := make(chan error, 1)
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.WithWriteTimeout(200*time.Millisecond),
			sse.OnError(func(_ *sse.Stream, err error) bool { errs <- err; return false }), sse.OnClose(func(_ *sse.Stream, err error) { closed <- err }))
		if err != nil {
			done <- err
			return
		}
		big := sse.PatchElements{Elements: "<p>" + strings.Repeat("y", 64<<10) + "</p>"}
		for {
			if err := s.Send(big); err != nil {
				done <- err
				return
			}
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	err = <-done
	if err == nil || errors.Is(err, sse.ErrClosed) {
		t.Fatalf("send error %v, want the write's own error", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("send error %v, want a timeout", err)
	}
	if e := <-errs; e == nil {
		t.Fatal("OnError got nil")
	}
	if c := <-closed; c == nil {
		t.Fatal("OnClose got nil after a failed write")
	}
}

func TestNewSSEWithoutFlusher(t *testing.T) {
	t.Parallel()
	var w struct{ http.ResponseWriter }
	w.ResponseWriter = httptest.NewRecorder()
	if _, err := sse.NewSSE(w, httptest.NewRequest(http.MethodGet, "/", nil)); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("NewSSE on a writer that cannot flush: %v", err)
	}
}

// rawEventer is an Eventer written outside the package that does not
// validate what it returns.
type rawEventer struct{ e sse.Event }

func (r rawEventer) Event() (sse.Event, error) { return r.e, nil }

// TestCustomEventerIsValidated: whatever an Eventer returns is validated
// before a byte is written, by Send and by Batch.Send, so a user-written
// Eventer cannot put a second event or a stray field on the wire.
func TestCustomEventerIsValidated(t *testing.T) {
	t.Parallel()
	good := sse.PatchElements{Elements: `<p id="ok">ok</p>`}
	bad := []struct {
		name string
		ev   sse.Event
		want error
	}{
		{"id with a blank line", sse.Event{Type: sse.EventPatchElements, ID: "1\n\nevent: datastar-patch-elements\ndata: elements <p id=\"x\">evil</p>",
			Fields: []sse.Field{{"elements", "<p>a</p>"}}}, sse.ErrInvalidField},
		{"type with LF", sse.Event{Type: "datastar-patch-elements\nid: 9"}, sse.ErrInvalidField},
		{"type with NUL", sse.Event{Type: "a\x00"}, sse.ErrInvalidField},
		{"data key with a space", sse.Event{Fields: []sse.Field{{"elements <p>", "x"}}}, sse.ErrInvalidField},
		{"data key with CR", sse.Event{Fields: []sse.Field{{"k\rdata: x", "x"}}}, sse.ErrInvalidField},
		{"invalid UTF-8 data", sse.Event{Fields: []sse.Field{{"elements", "\xff"}}}, sse.ErrInvalidUTF8},
		{"negative retry", sse.Event{Type: "t", Retry: -time.Second}, sse.ErrInvalidField},
		{"retry under a millisecond", sse.Event{Type: "t", Retry: time.Microsecond}, sse.ErrInvalidField},
	}
	errs := make(chan string, 3*len(bad))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			errs <- err.Error()
			return
		}
		defer s.Close()
		for _, tt := range bad {
			paths := map[string]error{
				"Send":            s.Send(rawEventer{tt.ev}),
				"Send after good": s.Send(good, rawEventer{tt.ev}),
				"Batch.Send": s.Batch(func(b *sse.Batch) error {
					if err := b.Send(rawEventer{tt.ev}); err != nil {
						return err
					}
					return b.Send(good)
				}),
			}
			for path, err := range paths {
				if !errors.Is(err, tt.want) {
					errs <- fmt.Sprintf("%s, %s: error %v, want %v", tt.name, path, err, tt.want)
				}
			}
		}
		if err := s.Send(good); err != nil {
			errs <- err.Error()
		}
	}))
	defer srv.Close()
	all := getAll(t, srv.URL)
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if want := "event: datastar-patch-elements\ndata: elements <p id=\"ok\">ok</p>\n\n"; string(all) != want {
		t.Fatalf("body %q, want only the last good event %q", all, want)
	}
}

// TestCallbacksMayUseStream: OnError and OnClose run without the stream's
// lock, so they may call Close and Send (which then report the stream
// closed) instead of deadlocking the goroutine whose write failed. The
// client leaves, the handler sends until a write fails; a deadlock is
// reported after a generous bound rather than hanging the test run.
func TestCallbacksMayUseStream(t *testing.T) {
	t.Parallel()
	type result struct {
		calls   []string // the callbacks and what their calls returned, in order
		sendErr error    // the handler's failed send
	}
	done := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *sse.Stream
		var calls []string
		use := func(name string, cause error) {
			closeErr := s.Close()
			sendErr := s.PatchElements(`<p id="late">late</p>`)
			calls = append(calls, fmt.Sprintf("%s(%v): Close %v, Send ErrClosed %v", name, cause != nil, closeErr, errors.Is(sendErr, sse.ErrClosed)))
		}
		s, err := sse.NewSSE(w, r, sse.WithoutContextWatch(),
			sse.OnError(func(_ *sse.Stream, err error) bool { use("OnError", err); return false }),
			sse.OnClose(func(_ *sse.Stream, err error) { use("OnClose", err) }))
		if err != nil {
			done <- result{sendErr: err}
			return
		}
		if err := s.PatchElements(`<p id="a">a</p>`); err != nil {
			done <- result{sendErr: err}
			return
		}
		<-r.Context().Done() // the client has gone: writes start failing
		for {
			if err := s.PatchElements(`<p id="a">again</p>`); err != nil {
				done <- result{calls, err}
				return
			}
		}
	}))
	readOneAndLeave(t, srv.URL)
	select {
	case res := <-done:
		defer srv.Close()
		if res.sendErr == nil || errors.Is(res.sendErr, sse.ErrClosed) {
			t.Fatalf("send error %v, want the failed write's", res.sendErr)
		}
		want := []string{
			"OnError(true): Close <nil>, Send ErrClosed true",
			"OnClose(true): Close <nil>, Send ErrClosed true",
		}
		if fmt.Sprint(res.calls) != fmt.Sprint(want) {
			t.Fatalf("callbacks %q, want %q", res.calls, want)
		}
	case <-time.After(10 * time.Second):
		// The handler is stuck for good; closing the server would wait for it.
		srv.Listener.Close()
		t.Fatal("the handler deadlocked: a callback that uses the stream never returned")
	}
}

// TestAcceptEncodingOnSeveralLines sends requests whose Accept-Encoding
// comes on several header lines, as HTTP allows (RFC 9110, section 5.3):
// the stream must negotiate with all of them, as if they were one
// comma-separated line.
func TestAcceptEncodingOnSeveralLines(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.WithCompression(sse.Brotli, sse.Gzip))
		if err != nil {
			t.Error(err)
			return
		}
		s.Close()
	}))
	t.Cleanup(srv.Close) // after the parallel subtests
	tests := []struct {
		name  string
		lines []string
		want  string // Content-Encoding
	}{
		{"star, then br refused", []string{"*", "br;q=0"}, "gzip"},
		{"br refused, then star", []string{"br;q=0", "*"}, "gzip"},
		{"gzip, then br", []string{"gzip", "br"}, "br"}, // the server's order breaks the tie
		{"one line", []string{"gzip, br;q=0.5"}, "gzip"},
		{"all refused over two lines", []string{"gzip;q=0", "br;q=0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := "GET / HTTP/1.1\r\nHost: hubd.test\r\nConnection: close\r\n"
			for _, l := range tt.lines {
				req += "Accept-Encoding: " + l + "\r\n"
			}
			if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != tt.want {
				t.Fatalf("Accept-Encoding lines %q: Content-Encoding %q, want %q", tt.lines, got, tt.want)
			}
		})
	}
}
