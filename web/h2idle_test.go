package web_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestIdleStreamOutlivesWriteTimeout checks, on a fake clock, that a
// stream with nothing to send stays open for longer than the write
// timeout and still delivers the next event. Over HTTP/2 net/http turns a
// write deadline into a timer that resets the stream when it fires, write
// or no write, so a deadline left armed while idle would cut every quiet
// stream one write timeout after its last event.
//
// The hub's own server runs as httptest serves it over TLS, but on
// in-memory connections, so that the clock can be faked.
func TestIdleStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		h2   bool
	}{{"HTTP/2", true}, {"HTTP/1.1", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const timeout = web.DefaultWriteTimeout
				h, s := newAPI(t, hub.Config{Heartbeat: time.Hour}, web.Config{WriteTimeout: timeout})
				srv := pipeTLSServer(t, h, s, tc.h2)

				c := subscribe(t, srv, "/topics/quiet", "")
				if got := c.resp.ProtoMajor == 2; got != tc.h2 {
					t.Fatalf("protocol %s", c.resp.Proto)
				}
				if _, err := c.next(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3 * timeout)
				synctest.Wait()
				id := publishHTML(t, srv, "quiet", `<p id="q">after a while</p>`)
				if ev, err := c.nextEvent(); err != nil || ev.ID != id {
					t.Fatalf("after %v idle: %+v (%v), want event %s on the same stream", 3*timeout, ev, err, id)
				}

				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := h.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := c.next(); err == nil || errors.Is(err, context.Canceled) {
					t.Fatalf("after shutdown: %v, want the stream cut", err)
				}
			})
		})
	}
}
