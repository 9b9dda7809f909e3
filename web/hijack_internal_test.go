package web

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

// discardConn is a connection that takes every write and keeps the last.
type discardConn struct {
	net.Conn
	last []byte
}

func (c *discardConn) Write(p []byte) (int, error) {
	c.last = append(c.last[:0], p...)
	return len(p), nil
}
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }
func (c *discardConn) Close() error                     { return nil }

// TestDeliveryAllocations checks the per-subscriber cost of a delivered
// frame on the hijacked path: the stream's write and the chunk framing
// allocate nothing.
func TestDeliveryAllocations(t *testing.T) {
	conn := &discardConn{}
	raw := &rawStream{conn: conn, header: http.Header{}}
	stream, err := sse.NewSSE(raw, httptest.NewRequest(http.MethodGet, "/topics/t", nil))
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte("id: e-1\nevent: datastar-patch-elements\ndata: elements <p id=\"p\">1</p>\n\n")
	if err := stream.SendFrames(frame); err != nil { // warms the buffer pool
		t.Fatal(err)
	}
	if err := stream.SendFrames(frame, frame); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x\r\n%s%s\r\n", 2*len(frame), frame, frame)
	if got := string(conn.last); got != want {
		t.Fatalf("chunk %q, want %q", got, want)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := stream.SendFrames(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per delivered frame, want 0", allocs)
	}
}
