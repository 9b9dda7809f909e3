package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestTricklingBodyIsCut sends bodies one byte at a time over raw TCP, as
// a client holding connections open would. Each must be answered 408
// naming read-timeout once the read timeout has passed, not sooner and not
// much later; the connection must then be closed (its goroutine and file
// are released), and nothing may be published.
//
// The server runs on real sockets, since the attack is a real socket that
// trickles: the read timeout is therefore short and real, and the bound on
// how late the cut may come is generous, for a machine under load.
func TestTricklingBodyIsCut(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	srv, h := newServer(t, hub.Config{}, web.Config{ReadTimeout: timeout, Demos: true})
	cases := []struct {
		name, path, contentType, start string
	}{
		{"single publish", "/topics/slow", "text/html", "<p>"},
		{"batch", "/publish", "application/json", `{"topics":["slow"],"events":[`},
		{"try-it form", "/try", "application/json", `{"tryKind":"html","tryBody":"`},
		{"chat demo", "/demo/chat/send", "application/json", `{"message":"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The test's own bound: far past the timeout, it fails rather
			// than hangs.
			if err := conn.SetDeadline(time.Now().Add(20 * timeout)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n%s", c.path, c.contentType, c.start)

			// Trickle a byte every tenth of the timeout until the server
			// answers: the writes are the attack, not a wait.
			stop := make(chan struct{})
			trickled := make(chan struct{})
			go func() { // ends when stop closes or a write fails
				defer close(trickled)
				tick := time.NewTicker(timeout / 10)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte("x")); err != nil {
							return
						}
					}
				}
			}()
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			took := time.Since(start)
			close(stop)
			<-trickled
			if err != nil {
				t.Fatalf("no answer after %v: %v", took, err)
			}
			var body struct{ Error, Field string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusRequestTimeout || body.Field != "body" || !strings.Contains(body.Error, "read-timeout") || !strings.Contains(body.Error, timeout.String()) {
				t.Fatalf("got %s %+v, want 408 naming the body and read-timeout of %v", resp.Status, body, timeout)
			}
			if took < timeout || took > 10*timeout {
				t.Errorf("cut after %v, want soon after the read timeout of %v", took, timeout)
			}
			// The server closes the connection: nothing more comes, and
			// the read ends with EOF, not with the test's deadline.
			if n, err := io.Copy(io.Discard, br); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the connection stays open after the 408 (%d more bytes)", n)
				}
			}
		})
	}
	t.Cleanup(func() {
		if n := h.Stats().Events; n != 0 {
			t.Errorf("%d events published from trickled bodies", n)
		}
	})
}

// TestRefusedBeforeBody checks that a publish that cannot succeed whatever
// its body (no credential, a topic the credential does not grant, a wrong
// Content-Type) is answered at once, without waiting for a body that never
// comes, and that the connection is then closed, although it is a
// keep-alive one and the client goes on sending its body: the read timeout
// is an hour here, so a handler that waited, or a server that read the
// rest of the body after answering, would hold the connection until the
// test's own deadline.
func TestRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	srv := newAuthServer(t, web.Config{ReadTimeout: time.Hour}, "public/**")
	narrow := "Bearer " + token(t, []string{"public/**"}, nil, time.Hour)
	cases := []struct {
		name, path, header string
		status             int
		field              string
	}{
		{"no credential", "/topics/public/feed", "Content-Type: text/html\r\n", 401, "authorization"},
		{"no credential, batch", "/publish", "Content-Type: application/json\r\n", 401, "authorization"},
		{"bad token", "/topics/public/feed", "Content-Type: text/html\r\nAuthorization: Bearer nope\r\n", 401, "authorization"},
		{"topic not granted", "/topics/private/x", "Content-Type: text/html\r\nAuthorization: " + narrow + "\r\n", 403, "topic"},
		{"wrong Content-Type", "/topics/public/feed", "Content-Type: text/plain\r\nAuthorization: Bearer " + testKey + "\r\n", 415, "Content-Type"},
		{"wrong Content-Type, batch", "/publish", "Content-Type: text/plain\r\nAuthorization: Bearer " + testKey + "\r\n", 415, "Content-Type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n%sContent-Length: 100000\r\n\r\n<p>", c.path, c.header)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer without a body: %v", err)
			}
			var body struct{ Error, Field string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status || body.Field != c.field {
				t.Fatalf("got %s %+v, want %d naming %s", resp.Status, body, c.status, c.field)
			}
			// The client trickles the rest of its body; the server must
			// have closed the connection all the same.
			if _, err := conn.Write([]byte("x")); err == nil {
				if err := readToEOF(br); err != nil {
					t.Fatalf("after the %d, with the body still coming: %v", c.status, err)
				}
			}
		})
	}
}

// readToEOF reads what is left on a connection whose server must have
// closed it; an error says it stayed open until the reader's deadline.
func readToEOF(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the connection stays open (%d more bytes, then %w)", n, err)
	}
	return nil
}

// TestTricklingBodyIsCutOnTime runs the server on in-memory connections
// inside a synctest bubble, so that the clock is fake and the cut can be
// timed exactly: a body that trickles in a byte a second is answered 408
// exactly read-timeout after its handler started reading, and a body that
// arrives in full just before the deadline is published.
func TestTricklingBodyIsCutOnTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = web.DefaultReadTimeout
		h, s := newAPI(t, hub.Config{Heartbeat: time.Hour}, web.Config{})
		l := newPipeListener()
		srv := &http.Server{Handler: s}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }() // ends when srv is closed
		defer func() {
			srv.Close()
			<-served
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}()

		// post sends the headers of a 20-byte body, then one byte every
		// step until the body is complete or the server stops reading, and
		// returns the answer and how long after the headers it came.
		post := func(step time.Duration) (*http.Response, time.Duration) {
			client, server := net.Pipe()
			l.conns <- server
			t.Cleanup(func() { client.Close() })
			body := `{"a":"` + strings.Repeat("x", 12) + `"}`
			start := time.Now()
			go func() { // ends when the body is sent or the pipe is closed
				fmt.Fprintf(client, "POST /topics/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
				for i := range len(body) {
					time.Sleep(step)
					if _, err := client.Write([]byte{body[i]}); err != nil {
						return
					}
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(client), nil)
			if err != nil {
				t.Fatal(err)
			}
			return resp, time.Since(start)
		}

		resp, took := post(time.Second)
		if resp.StatusCode != http.StatusRequestTimeout || took != timeout {
			t.Errorf("a byte a second: %s after %v, want 408 after exactly %v", resp.Status, took, timeout)
		}
		if !resp.Close {
			t.Error("the 408 keeps the connection open")
		}
		// 20 bytes at 490 ms each arrive 9.8 s after the handler starts.
		resp, took = post(490 * time.Millisecond)
		if resp.StatusCode != http.StatusOK || took != 20*490*time.Millisecond {
			t.Errorf("a body in 9.8 s: %s after %v, want 200 once it is in", resp.Status, took)
		}
		if n := h.Stats().Events; n != 1 {
			t.Errorf("%d events published, want only the one that arrived in time", n)
		}
	})
}

// TestTricklingBodyIsCutOverHTTP2 checks the read timeout over HTTP/2,
// where it cuts one stream's body, not the connection: the trickled
// publish gets 408 exactly read-timeout after its handler started reading,
// and the same connection then publishes at once. The server runs as
// httptest serves it over TLS, on in-memory connections in a synctest
// bubble, so that the clock is fake.
func TestTricklingBodyIsCutOverHTTP2(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const timeout = web.DefaultReadTimeout
		h, s := newAPI(t, hub.Config{Heartbeat: time.Hour}, web.Config{})
		srv := pipeTLSServer(t, h, s, true)
		tr := srv.Client().Transport.(*http.Transport)
		dial, dials := tr.DialContext, 0
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials++
			return dial(ctx, network, addr)
		}

		body, feed := io.Pipe()
		fed := make(chan struct{})
		go func() { // ends when the pipe is closed, once the answer is in
			defer close(fed)
			defer feed.Close()
			feed.Write([]byte("<p>"))
			for range 6 * timeout / time.Second { // then the body ends, if the server still reads
				time.Sleep(time.Second)
				if _, err := feed.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/topics/slow", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/html")
		start := time.Now()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		var res publishResult
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		body.CloseWithError(errors.New("test over"))
		<-fed
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout || res.Field != "body" || took != timeout {
			t.Fatalf("%s %s after %v: %+v; want HTTP/2 408 naming the body after exactly %v", resp.Proto, resp.Status, took, res, timeout)
		}
		publishHTML(t, srv, "slow", "<p>in time</p>")
		if dials != 1 {
			t.Errorf("%d connections dialled, want the one the 408 left open", dials)
		}
		if n := h.Stats().Events; n != 1 {
			t.Errorf("%d events published, want only the one that arrived in time", n)
		}
	})
}
