package client_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hubd-dev/hubd/client"
)

// hostileHub is a real HTTP server that answers a subscription with a
// valid event, then with what attack writes, for as long as the client
// reads it; it stops attacking (and answers 410) once it has written
// budget bytes in all, so that a client without limits is told so by an
// error instead of hanging the test. It says how many connections it
// served and waits, at the end of the test, for each of their handlers.
type hostileHub struct {
	*httptest.Server
	sent  atomic.Int64 // bytes of attack written in all
	conns atomic.Int64
}

func newHostileHub(t *testing.T, budget int64, attack func(w io.Writer) error) *hostileHub {
	t.Helper()
	h := &hostileHub{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.sent.Load() >= budget {
			http.Error(w, `{"error":"the attack is over"}`, http.StatusGone)
			return
		}
		h.conns.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: datastar-patch-signals\nid: e-1\ndata: signals {\"ok\":true}\n\n")
		rc := http.NewResponseController(w)
		for h.sent.Load() < budget {
			if err := attack(countingWriter{w, &h.sent}); err != nil {
				return // the client hung up: what a limit does
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(h.Close) // waits for the handlers
	return h
}

// countingWriter counts what it writes into n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// TestSubscribeBoundsHostileStreams subscribes to hubs that send one
// endless line, or one endless event of short lines, after a valid event:
// the client must yield the valid event, then an error naming the limit
// it hit, and stop (neither holding the endless line in memory nor
// reconnecting for more), with the default limits and with its own.
func TestSubscribeBoundsHostileStreams(t *testing.T) {
	t.Parallel()
	endlessLine := func(w io.Writer) error {
		_, err := io.WriteString(w, "data: signals "+strings.Repeat("x", 32<<10))
		return err
	}
	endlessEvent := func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Repeat("data: signals {\"x\":1}\n", 1<<10))
		return err
	}
	const line, event = 4 << 10, 64 << 10
	for _, c := range []struct {
		name   string
		attack func(io.Writer) error
		opts   []client.Option
		limit  int64 // the limit the attack must hit
		want   error
		says   string
	}{
		{"endless line, default limit", endlessLine, nil, client.DefaultMaxLineBytes, client.ErrLineTooLong, "a line of more than 2097152 bytes"},
		{"endless event, default limit", endlessEvent, nil, client.DefaultMaxEventBytes, client.ErrEventTooLarge, "an event of more than 8388608 bytes"},
		{"endless line, own limit", endlessLine, []client.Option{client.WithStreamLimits(line, event)}, line, client.ErrLineTooLong, "a line of more than 4096 bytes"},
		{"endless event, own limit", endlessEvent, []client.Option{client.WithStreamLimits(line, event)}, event, client.ErrEventTooLarge, "an event of more than 65536 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hostile := newHostileHub(t, 8*client.DefaultMaxEventBytes, c.attack)
			s := subscribe(t, newClient(t, hostile.URL, c.opts...), []string{"news"}, "")
			if ev := s.next(t); ev.ID != "e-1" {
				t.Fatalf("first event %+v, want the valid one", ev)
			}
			var err error
			select {
			case ev := <-s.events:
				t.Fatalf("an event from the attack: %.80v", ev)
			case err = <-s.errs:
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("subscription ended with %v, want %v saying %q", err, c.want, c.says)
			}
			if n := hostile.conns.Load(); n != 1 {
				t.Errorf("%d connections, want the client to stop after the first", n)
			}
			t.Logf("the hub wrote %d bytes of attack before the client's limit of %d hung up", hostile.sent.Load(), c.limit)
		})
	}
}

// TestSubscribeTakesWhatFitsTheLimits checks that the limits let through
// a line and an event exactly at them.
func TestSubscribeTakesWhatFitsTheLimits(t *testing.T) {
	t.Parallel()
	long := "data: " + strings.Repeat("y", 100-len("data: "))        // a line of 100 bytes
	event := "event: e\n" + strings.Repeat(long+"\n", 3) + "id: 1\n" // 9+303+6 = 318 bytes
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, event+"\n: a comment does not count towards the event\n"+event+"\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	s := subscribe(t, newClient(t, srv.URL, client.WithStreamLimits(100, 318)), []string{"news"}, "")
	for range 2 {
		if ev := s.next(t); len(ev.Data) != 3 || len(ev.Data[0]) != 100-len("data: ") {
			t.Fatalf("got %d data lines of %d bytes, want 3 of %d", len(ev.Data), len(ev.Data[0]), 100-len("data: "))
		}
	}
}

// TestStreamLimitsValidated checks that New refuses limits that would let
// nothing through.
func TestStreamLimitsValidated(t *testing.T) {
	t.Parallel()
	for _, l := range [][2]int{{0, 10}, {10, 0}, {-1, -1}} {
		if _, err := client.New("http://127.0.0.1:8080", client.WithStreamLimits(l[0], l[1])); err == nil || !strings.Contains(err.Error(), "stream limits") {
			t.Errorf("limits %v: %v, want an error naming the stream limits", l, err)
		}
	}
}
