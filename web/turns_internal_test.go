//go:build unix

package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// newTurnServer serves a hub whose streams share the given number of
// write turns; connState, if not nil, is the server's ConnState hook.
func newTurnServer(t *testing.T, n int, cfg Config, connState func(net.Conn, http.ConnState)) (*hub.Hub, *Server, string) {
	t.Helper()
	// A client buffer above any test's event count: a test's reader that
	// falls behind by the default 64 frames while a publisher runs flat
	// out would be evicted, which is not what these tests are about.
	h, err := hub.New(hub.Config{Heartbeat: time.Hour, ClientBuffer: 1024})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.turns = newTurns(n)
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ConnState = connState
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx) // aborts the streams
		srv.Close()
		s.Close()
	})
	return h, s, srv.Listener.Addr().String()
}

// openRaw subscribes to topic over a new raw HTTP/1.1 connection and
// returns it as subscribeRaw does.
func openRaw(t *testing.T, addr, topic string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, subscribeRaw(t, conn, topic)
}

// subscribeRaw subscribes to topic over conn, an HTTP/1.1 connection, and
// returns once the stream's first chunk (the cursor frame) has been read,
// with a reader positioned at the next chunk.
func subscribeRaw(t *testing.T, conn io.ReadWriter, topic string) *bufio.Reader {
	t.Helper()
	fmt.Fprintf(conn, "GET /topics/%s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n", topic)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	if _, err := readChunk(r); err != nil {
		t.Fatalf("cursor chunk: %v", err)
	}
	return r
}

// readChunk reads one chunk of a chunked body, as it was written: each
// of the hub's writes is one chunk.
func readChunk(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	size, err := strconv.ParseUint(strings.TrimSpace(line), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("chunk size line %q: %w", line, err)
	}
	b := make([]byte, size+2)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b[:size], nil
}

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestFramesQueuedForATurnLeaveInOneWrite checks the point of the turns:
// the frames published while a stream waits for its turn leave in the one
// write it makes when the turn comes.
func TestFramesQueuedForATurnLeaveInOneWrite(t *testing.T) {
	h, s, addr := newTurnServer(t, 1, Config{}, nil)
	conn, r := openRaw(t, addr, "line")
	publish := func(i int) {
		t.Helper()
		if _, err := h.Publish([]string{"line"}, sse.PatchSignals{Signals: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	s.turns.take() // every turn is taken: the stream has to wait
	publish(0)
	// Nothing may leave while the stream waits for its turn.
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, err := r.Peek(1); err == nil {
		t.Fatalf("the stream wrote %q without a turn", b)
	}
	publish(1)
	publish(2)
	s.turns.give()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	chunk, err := readChunk(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(chunk, []byte("event: datastar-patch-signals\n")); n != 3 {
		t.Fatalf("the first write after the turn carried %d events, want all 3:\n%s", n, chunk)
	}
}

// TestStuckClientHoldsNoTurn checks that a client that stops reading does
// not hold up the others: with a single turn, a stream whose connection
// is full writes what it can, gives the turn back, and waits for room
// without it, while another stream goes on receiving everything.
func TestStuckClientHoldsNoTurn(t *testing.T) {
	h, _, addr := newTurnServer(t, 1, Config{WriteTimeout: time.Minute}, nil)
	openRaw(t, addr, "big") // never read again
	conn, r := openRaw(t, addr, "big")
	const events = 120 // 12 MB: more than loopback buffers hold, fewer than a client's buffer of frames
	payload := `{"p":"` + strings.Repeat("x", 100_000) + `"}`
	got := make(chan error, 1)
	go func() { // reads every event of the second subscriber
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		n := 0
		for n < events {
			chunk, err := readChunk(r)
			if err != nil {
				got <- fmt.Errorf("after %d of %d events: %w", n, events, err)
				return
			}
			n += bytes.Count(chunk, []byte("event: datastar-patch-signals\n"))
		}
		got <- nil
	}()
	for range events {
		if _, err := h.Publish([]string{"big"}, sse.PatchSignals{Signals: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("the reading subscriber was held up: %v", err)
	}
}

// TestTurnWriteAllocations checks that a delivery with a turn, on a real
// connection, allocates nothing: the turn, the direct write, and the
// chunk framing.
func TestTurnWriteAllocations(t *testing.T) {
	client, server := tcpPair(t)
	go io.Copy(io.Discard, client) // ends when the test closes the connections

	raw := &rawStream{conn: server, header: http.Header{}, fd: rawConn(server), timeout: time.Second}
	raw.writeFn = raw.writeFD
	if _, err := sse.NewSSE(raw, httptest.NewRequest(http.MethodGet, "/topics/t", nil)); err != nil {
		t.Fatal(err)
	}
	tr := newTurns(1)
	frames := [][]byte{[]byte("id: e-1\nevent: datastar-patch-elements\ndata: elements <p id=\"p\">1</p>\n\n")}
	send := func() {
		if !raw.takeTurn(tr) {
			t.Fatal("no turn taken on a TCP connection")
		}
		if err := raw.sendFrames(frames); err != nil {
			t.Fatal(err)
		}
		if raw.turn != nil || len(tr) != 0 {
			t.Fatal("the write kept its turn")
		}
	}
	send() // warms the buffer pool
	if allocs := testing.AllocsPerRun(1000, send); allocs != 0 {
		t.Fatalf("%v allocations per delivered frame with a turn, want 0", allocs)
	}
}

// panicConn is a connection whose writes panic, as a bug on the write
// path would.
type panicConn struct{ net.Conn }

func (panicConn) Write([]byte) (int, error)        { panic("write exploded") }
func (panicConn) SetWriteDeadline(time.Time) error { return nil }
func (panicConn) Close() error                     { return nil }

// panicFD is a descriptor whose writes panic, while the stream holds a
// turn.
type panicFD struct{ syscall.RawConn }

func (panicFD) Write(func(uintptr) bool) error { panic("write exploded") }

// TestStreamPanicEndsOnlyThatStream checks that a panic on a hijacked
// stream's own goroutine, where net/http no longer recovers, is logged and
// ends that stream (its subscription closed, its slot and any turn it
// held given back) instead of the process.
func TestStreamPanicEndsOnlyThatStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		fd   syscall.RawConn
	}{
		{"without a turn", nil},
		{"holding a turn", panicFD{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			h, s, _ := newTurnServer(t, 1, Config{Logger: slog.New(slog.NewTextHandler(&logged, nil))}, nil)
			sub, err := h.Subscribe([]string{"boom"}, "")
			if err != nil {
				t.Fatal(err)
			}
			if s.limits.acquire("192.0.2.1", "") != nil {
				t.Fatal("no stream slot")
			}
			o := &openStream{ctx: context.Background(), n: 1, ip: "192.0.2.1", sub: sub, frames: sub.C(), fast: true,
				raw: &rawStream{conn: panicConn{}, fd: tc.fd, header: http.Header{}}}
			if _, err := h.Publish([]string{"boom"}, sse.PatchSignals{Signals: []byte(`{"n":1}`)}); err != nil {
				t.Fatal(err)
			}
			s.serveOwn(o) // returns: the panic was caught
			if got := h.Stats().Clients; got != 0 {
				t.Errorf("%d clients after the panic, want the stream unsubscribed", got)
			}
			if !o.over.Load() {
				t.Error("the stream is not over after the panic: its slot was not given back")
			}
			if held := len(s.turns); held != 0 {
				t.Errorf("%d turns still taken after the panic, want 0", held)
			}
			if !strings.Contains(logged.String(), "stream panicked") || !strings.Contains(logged.String(), "write exploded") {
				t.Errorf("log %q, want the panic", logged.String())
			}
		})
	}
}

// TestClosedStreamNeverWritesToAnotherConnection checks that a stream
// whose connection was closed by someone else (here the server's own
// connection tracking, as a test's cutter or an embedding program may)
// never writes into the connection that reuses its descriptor number: its
// bytes would reach another client. The second client must read its own
// events once each, nothing more.
func TestClosedStreamNeverWritesToAnotherConnection(t *testing.T) {
	accepted := make(chan net.Conn, 4)
	h, _, addr := newTurnServer(t, 1, Config{}, func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepted <- c
		}
	})

	openRaw(t, addr, "shared") // the first client, whose server side is closed under its stream
	// The second client's socket is made first, so that the number the
	// close frees goes to the server's side of the second connection.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	tv := syscall.NsecToTimeval(int64(10 * time.Second))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	conn := os.NewFile(uintptr(fd), "second client")
	defer conn.Close()
	(<-accepted).Close()
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	port := tcpAddr.Port
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	<-accepted
	r := subscribeRaw(t, conn, "shared")
	for i := range 2 {
		if _, err := h.Publish([]string{"shared"}, sse.PatchSignals{Signals: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 2 {
		chunk, err := readChunk(r)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		for line := range strings.SplitSeq(string(chunk), "\n") {
			if v, ok := strings.CutPrefix(line, "data: signals "); ok {
				got = append(got, v)
			}
		}
	}
	// Whatever else arrives within a moment must not be another stream's.
	tv = syscall.NsecToTimeval(int64(200 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if chunk, err := readChunk(r); err == nil {
		got = append(got, string(chunk))
	}
	if want := []string{`{"n":0}`, `{"n":1}`}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the second client read %q, want only its own %q", got, want)
	}
}

// TestTurnsBoundHolders: however many streams take and give turns at
// once, no more than n hold one at the same time, every taker gets one,
// and all n are free at the end.
func TestTurnsBoundHolders(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			tr := newTurns(n)
			var holding, most, taken atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for range 500 {
						tr.take()
						h := holding.Add(1)
						for m := most.Load(); h > m && !most.CompareAndSwap(m, h); m = most.Load() {
						}
						taken.Add(1)
						runtime.Gosched() // let the others try while this one holds
						holding.Add(-1)
						tr.give()
					}
				})
			}
			wg.Wait()
			if m := most.Load(); m > int64(n) {
				t.Errorf("%d streams held a turn at once, want at most %d", m, n)
			}
			if got := taken.Load(); got != 16*500 {
				t.Errorf("%d turns taken, want %d", got, 16*500)
			}
			if held := len(tr); held != 0 {
				t.Errorf("%d turns still taken at the end, want 0", held)
			}
		})
	}
}
