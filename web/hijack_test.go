package web_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

// TestHTTP10Stream checks that an HTTP/1.0 client, which cannot read
// chunked encoding, gets a plain stream through net/http instead of the
// hijacked chunked one.
func TestHTTP10Stream(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /topics/old HTTP/1.0\r\nHost: localhost\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 0 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HTTP/1.0 response: %s %v %v", resp.Proto, resp.TransferEncoding, resp.Header)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "id: ") {
		t.Fatalf("first line %q (%v), want the cursor frame unchunked", line, err)
	}
}

// TestIdleStreamsWaitOnSmallStacks checks that a hijacked stream whose
// heartbeat has been written waits on a small stack again: a write grows
// a goroutine's stack to 4 KiB, and without a fresh goroutine after the
// heartbeat every idle stream would keep that (and its old stack, until a
// collection) for as long as it stays idle. The streams' stack memory is
// read before and after three heartbeats with collections off, so that no
// collection shrinks stacks meanwhile. It is not parallel: it reads the
// whole process's figures.
func TestIdleStreamsWaitOnSmallStacks(t *testing.T) {
	h, s := newAPI(t, hub.Config{Heartbeat: time.Hour}, web.Config{})
	srv := newTestServer(t, s, h)
	const streams = 300
	readers := make([]*bufio.Reader, streams)
	for i := range readers {
		c, err := openRaw(srv, "/topics/quiet")
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		defer c.conn.Close()
		readers[i] = c.body
		readers[i].ReadString('\n') // the rest of the cursor frame
	}
	settled := func() int { // goroutines, once no stream is between two of its goroutines
		n := runtime.NumGoroutine()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			runtime.Gosched()
			if m := runtime.NumGoroutine(); m == n {
				return n
			} else {
				n = m
			}
		}
		t.Fatalf("goroutines still changing after 5 s: %d", n)
		return n
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	settled()
	if n := streamGoroutines(); n != streams {
		t.Fatalf("%d goroutines serve the %d streams before the heartbeats", n, streams)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for beat := range 3 {
		h.Beat()
		for i, r := range readers {
			if line, err := r.ReadString('\n'); err != nil || line != ":\n" {
				t.Fatalf("beat %d, stream %d: %q (%v), want the heartbeat", beat, i, line, err)
			}
			r.ReadString('\n')
		}
	}
	// After each heartbeat a stream hands over to a fresh goroutine: one
	// caught between the two counts twice for a moment (a busy machine
	// may not run the old one at once), a leaked one for good. Only the
	// streams' goroutines are counted: other tests' may come and go.
	n := streamGoroutines()
	for deadline := time.Now().Add(5 * time.Second); n != streams && time.Now().Before(deadline); n = streamGoroutines() {
		runtime.Gosched()
	}
	if n != streams {
		t.Fatalf("%d goroutines serve the %d streams after the heartbeats: a stream's goroutine leaked or ended", n, streams)
	}
	runtime.ReadMemStats(&after)
	if grown := (int64(after.StackInuse) - int64(before.StackInuse)) / streams; grown > 1024 {
		t.Errorf("stack memory grew by %d bytes per idle stream over three heartbeats, want at most 1024", grown)
	}
	// The streams still deliver, from their fresh goroutines.
	if res, err := h.Publish([]string{"quiet"}, sse.PatchSignals{Signals: []byte(`{"a":1}`)}); err != nil || res.Subscribers != streams {
		t.Fatalf("publish reached %d subscribers (%v), want %d", res.Subscribers, err, streams)
	}
	for i, r := range readers {
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "id: ") {
			t.Fatalf("stream %d after the heartbeats: %q (%v), want the event", i, line, err)
		}
	}
}

// streamGoroutines counts the goroutines that serve a hijacked stream.
func streamGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("web.(*Server).serveOwn("))
		}
		buf = make([]byte, 2*len(buf))
	}
}
