package web_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
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
