package web_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// errRefused is what openRaw returns for a stream the hub turned away.
var errRefused = errors.New("stream refused")

// rawStream is a stream client on its own socket, so that a test can
// close the socket itself, half-close it, or send more bytes.
type rawStream struct {
	conn net.Conn
	body *bufio.Reader
}

// openRaw dials srv (over TLS when srv has a certificate), asks for an
// event stream at path over HTTP/1.1 and reads up to the cursor frame's ID
// line: the stream is then admitted and live. A refused stream (a 200 with
// a retry field, then cut) gives errRefused.
func openRaw(srv *httptest.Server, path string) (*rawStream, error) {
	var conn net.Conn
	var err error
	addr := srv.Listener.Addr().String()
	if srv.TLS != nil {
		cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		conn, err = tls.Dial("tcp", addr, cfg)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hung server fails the test instead of hanging it
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nDatastar-Request: true\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		conn.Close()
		return nil, fmt.Errorf("subscribe %s: %s %q", path, resp.Status, resp.Header.Get("Content-Type"))
	}
	body := bufio.NewReader(resp.Body)
	for {
		line, err := body.ReadString('\n')
		switch {
		case err != nil:
			conn.Close()
			return nil, fmt.Errorf("before the cursor frame: %w", err)
		case strings.HasPrefix(line, ": refused"):
			conn.Close()
			return nil, fmt.Errorf("%w: %s", errRefused, strings.TrimSpace(line))
		case strings.HasPrefix(line, "id: "):
			conn.SetDeadline(time.Time{})
			return &rawStream{conn: conn, body: body}, nil
		}
	}
}

// readID reads until the next id line and returns its ID.
func (c *rawStream) readID() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		line, err := c.body.ReadString('\n')
		if err != nil {
			return "", err
		}
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			return strings.TrimSpace(id), nil
		}
	}
}

// newHangupServer serves a hub with an hour-long heartbeat, so that no
// write can notice a client that is gone during a test: only the hang-up
// watcher can. It closes the hub, the HTTP server and the web.Server at
// the end of the test.
func newHangupServer(t *testing.T, useTLS bool, wc web.Config) (*httptest.Server, *hub.Hub, *web.Server) {
	t.Helper()
	h, s := newAPI(t, hub.Config{Heartbeat: time.Hour}, wc)
	srv := httptest.NewUnstartedServer(s)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	stopAtEnd(t, h, srv)
	return srv, h, s
}

// within polls cond until it holds, for state that changes on the
// server's goroutines with nothing a test can wait on; it fails the test
// after limit.
func within(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		<-tick.C
	}
	return time.Since(start)
}

// TestHungUpStreamLeavesAtOnce checks that an HTTP/1.1 stream whose client
// closes its socket leaves the hub, the metrics and its address's slot
// long before a heartbeat could notice (the heartbeat is an hour here),
// and is counted as pruned. (A client that shuts down only its sending
// side stays: TestHalfClosedStreamKeepsStreaming.)
func TestHungUpStreamLeavesAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		tls   bool
		leave func(net.Conn) error
	}{
		{"close", false, net.Conn.Close},
		{"close TLS", true, net.Conn.Close},
		{"close after a half-close", false, func(c net.Conn) error {
			return errors.Join(halfClose(c), c.Close())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, h, _ := newHangupServer(t, tc.tls, web.Config{MaxStreamsPerIP: 1})
			c, err := openRaw(srv, "/topics/leave")
			if err != nil {
				t.Fatal(err)
			}
			defer c.conn.Close()
			if got := h.Stats().Clients; got != 1 {
				t.Fatalf("%d clients, want 1", got)
			}
			if err := tc.leave(c.conn); err != nil {
				t.Fatal(err)
			}
			took := within(t, 5*time.Second, "the hub drops the client", func() bool { return h.Stats().Clients == 0 })
			t.Logf("dropped %v after the client left", took)
			if _, m, _ := fetch(t, srv, "/metrics"); !strings.Contains(m, "\nhubd_clients 0\n") {
				t.Error("hubd_clients is not 0 once the client left")
			}
			if got := h.Stats().Pruned; got != 1 {
				t.Errorf("%d pruned, want the client that left counted once", got)
			}
			// Its one slot is free: the next stream of the address is let in.
			next, err := openRaw(srv, "/topics/leave")
			if err != nil {
				t.Fatalf("the next stream from the address: %v", err)
			}
			next.conn.Close()
		})
	}
}

// halfClose shuts down the sending side of c, a client's connection: a
// TLS close_notify and then the TCP FIN, or the FIN alone.
func halfClose(c net.Conn) error {
	if t, ok := c.(*tls.Conn); ok {
		return errors.Join(t.CloseWrite(), t.NetConn().(*net.TCPConn).CloseWrite())
	}
	return c.(*net.TCPConn).CloseWrite()
}

// readHeartbeat reads until the next heartbeat (a bare comment line).
func (c *rawStream) readHeartbeat() error {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		line, err := c.body.ReadString('\n')
		if err != nil {
			return err
		}
		if line == ":\n" {
			return nil
		}
	}
}

// TestHalfClosedStreamKeepsStreaming checks what hubd decided for a
// client that shuts down its sending side after its request, as some
// proxies and tools do: it is not gone. Its stream gets a heartbeat at
// once (the probe that tells a closed socket, which would answer it with
// a reset, from a half-closed one), then every event, and stays in the
// hub; a new stream of its address that the address's limit would refuse
// takes its place instead, the half-closed stream being cut (a reload
// must not wait); and once it closes its socket for good, the next write
// finds it gone.
func TestHalfClosedStreamKeepsStreaming(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("TLS %v", useTLS), func(t *testing.T) {
			t.Parallel()
			srv, h, _ := newHangupServer(t, useTLS, web.Config{MaxStreamsPerIP: 2})
			c, err := openRaw(srv, "/topics/half")
			if err != nil {
				t.Fatal(err)
			}
			defer c.conn.Close()
			if err := halfClose(c.conn); err != nil {
				t.Fatal(err)
			}
			if err := c.readHeartbeat(); err != nil {
				t.Fatalf("the half-closed stream, before its probe: %v", err)
			}
			for i := range 3 {
				id := publishHTML(t, srv, "half", fmt.Sprintf(`<p id="h">%d</p>`, i))
				if got, err := c.readID(); err != nil || got != id {
					t.Fatalf("the half-closed stream read %q (%v), want event %s", got, err, id)
				}
			}
			if n := h.Stats().Clients; n != 1 {
				t.Fatalf("%d clients, want the half-closed one", n)
			}

			// Its address's second stream fits the limit of two; the
			// third takes the half-closed stream's place.
			second, err := openRaw(srv, "/topics/half")
			if err != nil {
				t.Fatalf("the address's second stream: %v", err)
			}
			defer second.conn.Close()
			third, err := openRaw(srv, "/topics/half")
			if err != nil {
				t.Fatalf("the third stream, past the limit with one stream half-closed: %v", err)
			}
			defer third.conn.Close()
			if _, err := c.readID(); err == nil {
				t.Fatal("the half-closed stream goes on after giving its place")
			}

			// A client that half-closes and then closes its socket is
			// found gone by the probe.
			if err := errors.Join(halfClose(second.conn), second.conn.Close()); err != nil {
				t.Fatal(err)
			}
			within(t, 5*time.Second, "the closed stream leaves", func() bool { return h.Stats().Clients == 1 })
			id := publishHTML(t, srv, "half", `<p id="h">last</p>`)
			if got, err := third.readID(); err != nil || got != id {
				t.Fatalf("the last stream read %q (%v), want event %s", got, err, id)
			}
		})
	}
}

// TestReloadLoopIsAdmitted is a browser tab reloading behind a limit of
// two streams per address: each reload closes the old stream and opens the
// new one at once, fifty times, and every new stream must be let in.
func TestReloadLoopIsAdmitted(t *testing.T) {
	t.Parallel()
	srv, h, _ := newHangupServer(t, false, web.Config{MaxStreamsPerIP: 2})
	for i := range 50 {
		c, err := openRaw(srv, "/topics/reload")
		if err != nil {
			t.Fatalf("reload %d: %v (%d clients)", i, err, h.Stats().Clients)
		}
		c.conn.Close()
	}
	within(t, 5*time.Second, "the last stream leaves", func() bool { return h.Stats().Clients == 0 })
}

// TestBytesAfterRequestAreNotHangUp checks that a client that sends bytes
// after its request (it should not) keeps its stream: only a hang-up ends
// it. A second stream's hang-up is the barrier: once the watcher has seen
// it, it has seen the bytes, which came first.
func TestBytesAfterRequestAreNotHangUp(t *testing.T) {
	t.Parallel()
	srv, h, _ := newHangupServer(t, false, web.Config{})
	chatty, err := openRaw(srv, "/topics/chat")
	if err != nil {
		t.Fatal(err)
	}
	defer chatty.conn.Close()
	if _, err := io.WriteString(chatty.conn, "GET /other HTTP/1.1\r\nHost: localhost\r\n\r\nhello"); err != nil {
		t.Fatal(err)
	}
	gone, err := openRaw(srv, "/topics/chat")
	if err != nil {
		t.Fatal(err)
	}
	gone.conn.Close()
	within(t, 5*time.Second, "the closed stream leaves", func() bool { return h.Stats().Clients == 1 })
	id := publishHTML(t, srv, "chat", `<p id="c">still here</p>`)
	if got, err := chatty.readID(); err != nil || got != id {
		t.Fatalf("the chatty client read %q (%v), want event %s", got, err, id)
	}
}

// TestCloseStopsHangupWatcher checks that Close stops the watcher that the
// first HTTP/1.1 stream started, and waits for it, and that streams open
// at the time, or opened after, still stream (unwatched).
func TestCloseStopsHangupWatcher(t *testing.T) {
	t.Parallel()
	srv, _, s := newHangupServer(t, false, web.Config{}) // its cleanup closes s again: a no-op
	c, err := openRaw(srv, "/topics/close")
	if err != nil {
		t.Fatal(err)
	}
	defer c.conn.Close()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }() // ends when Close returns
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5s: the watcher did not stop")
	}
	id := publishHTML(t, srv, "close", `<p id="c">1</p>`)
	if got, err := c.readID(); err != nil || got != id {
		t.Fatalf("the open stream read %q (%v), want event %s", got, err, id)
	}
	later, err := openRaw(srv, "/topics/close")
	if err != nil {
		t.Fatalf("a stream after Close: %v", err)
	}
	later.conn.Close()
}
