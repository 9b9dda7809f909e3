package web_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// pipeListener hands the server in-memory connections, whose writes block
// until the other end reads: a client that stops reading, or whose
// connection silently died, looks exactly like that to the server.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// pipeTLSServer serves s as httptest serves it over TLS (with HTTP/2 if
// h2), but on in-memory connections, so that a synctest bubble's clock can
// be faked: a real socket would keep it from moving. At the end of the
// test h shuts down and the server closes (stopAtEnd), inside the bubble
// even after a failure.
func pipeTLSServer(t *testing.T, h *hub.Hub, s *web.Server, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(s)
	srv.Listener.Close()
	l := newPipeListener()
	srv.Listener = l
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	stopAtEnd(t, h, srv)
	srv.Client().Transport.(*http.Transport).DialContext = func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		l.conns <- server
		return client, nil
	}
	return srv
}

// dial opens a stream of topic over a new pipe and reads up to the cursor
// frame, so that the client is registered when it returns.
func (l *pipeListener) dial(t *testing.T, topic string) (net.Conn, *bufio.Reader) {
	t.Helper()
	client, server := net.Pipe()
	l.conns <- server
	if _, err := io.WriteString(client, "GET /topics/"+topic+" HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(client)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe over pipe: %v %v", resp, err)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "id: ") {
			break
		}
	}
	return client, br
}

// TestHeartbeatPrunesDeadClients checks, on a fake clock, that a client
// that stops taking data is gone from the hub within one heartbeat interval
// plus the write timeout, while a client that reads stays and receives the
// heartbeats.
func TestHeartbeatPrunesDeadClients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, timeout = 15 * time.Second, 10 * time.Second
		h, err := hub.New(hub.Config{Heartbeat: interval})
		if err != nil {
			t.Fatal(err)
		}
		s, err := web.New(h, web.Config{WriteTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		l := newPipeListener()
		srv := &http.Server{Handler: s}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()

		dead, _ := l.dial(t, "hb")
		alive, aliveBody := l.dial(t, "hb")
		beats := make(chan string, 16)
		go func() { // the live client reads everything until its pipe closes
			for {
				line, err := aliveBody.ReadString('\n')
				if err != nil {
					close(beats)
					return
				}
				if line == ":\n" {
					beats <- line
				}
			}
		}()

		synctest.Wait()
		if got := h.Stats().Clients; got != 2 {
			t.Fatalf("%d clients, want 2", got)
		}
		start := time.Now()
		time.Sleep(interval + timeout - time.Second)
		synctest.Wait()
		if got := h.Stats().Clients; got != 2 {
			t.Fatalf("after %v: %d clients, want both still there (the write has not timed out)", time.Since(start), got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st := h.Stats()
		if st.Clients != 1 || st.Pruned != 1 {
			t.Fatalf("after %v: %d clients and %d pruned, want the dead one pruned", time.Since(start), st.Clients, st.Pruned)
		}
		if len(beats) != 1 {
			t.Fatalf("live client got %d heartbeats, want 1", len(beats))
		}
		time.Sleep(interval)
		synctest.Wait()
		if h.Stats().Clients != 1 || len(beats) != 2 {
			t.Fatalf("live client: %d clients, %d heartbeats after two intervals; want 1 and 2", h.Stats().Clients, len(beats))
		}

		dead.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		alive.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Fatal(err)
		}
	})
}
