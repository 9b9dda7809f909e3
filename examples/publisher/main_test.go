package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/client"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

// TestClockTicks runs the publisher for two ticks against a real hub and
// reads both clock patches back from the topic.
func TestClockTicks(t *testing.T) {
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(h, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
		api.Close()
	}()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	start, err := c.Publish(t.Context(), []string{"clock"}, sse.ExecuteScript{Script: "start()"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"-url", srv.URL, "-topic", "clock", "-interval", "10ms", "-ticks", "2"}, func(string) string { return "" }, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n := 0
	for ev, err := range c.Subscribe(ctx, []string{"clock"}, start.ID) {
		if err != nil {
			t.Fatal(err)
		}
		data := strings.Join(ev.Data, "\n")
		if ev.Type != "datastar-patch-elements" || !strings.Contains(data, "selector #clock") || !strings.Contains(data, "elements <time datetime=") {
			t.Fatalf("event %d: %+v, want a clock patch into #clock", n, ev)
		}
		if n++; n == 2 {
			break
		}
	}
	if got := h.Stats().Events; got != 3 {
		t.Errorf("%d events published, want the marker and two ticks", got)
	}
}
