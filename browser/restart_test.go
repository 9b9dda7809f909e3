package browser_test

import (
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// TestEventSourceResumesAfterRestart: the hub restarts with its history
// (SaveHistory, then NewFromHistory, as hubd does with history-file) while
// a page follows a topic. EventSource reconnects by itself with the
// Last-Event-ID of the first run and gets exactly the events the new run
// published while it was away, with no missed-events signal.
func TestEventSourceResumesAfterRestart(t *testing.T) {
	const topic = "browser/restart"
	f, first := newFront(t, web.Config{})
	reconnected, releaseOnce := holdReconnect(f, "/topics/"+topic)
	srv := httptest.NewUnstartedServer(f)
	serve(t, srv, first, false)
	t.Cleanup(releaseOnce)

	ctx := newBrowser(t)
	openPage(t, ctx, srv)
	listen(t, ctx, "r", "/topics/"+topic)
	var want, wantIDs []string
	pub := func(i int) {
		t.Helper()
		ev, id := publishNumbered(t, srv, topic, i)
		want, wantIDs = append(want, ev), append(wantIDs, id)
	}
	pub(1)
	pub(2)
	waitFor(t, ctx, 5*time.Second, "streams.r.events.length >= 2")

	f.restart(t, first, web.Config{})

	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("EventSource did not reconnect within 10s of the restart")
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	pub(3)
	pub(4)
	releaseOnce()
	waitFor(t, ctx, 5*time.Second, "streams.r.events.length >= 4")
	pub(5) // live again
	waitFor(t, ctx, 5*time.Second, "streams.r.events.length >= 5")

	got := received(t, ctx, "r")
	if !slices.Equal(got.Events, want) {
		t.Errorf("page received\n%q\nwant\n%q", got.Events, want)
	}
	if !slices.Equal(got.IDs, wantIDs) {
		t.Errorf("page saw event IDs %q, want %q", got.IDs, wantIDs)
	}
	if subs := f.subscribes(); len(subs) != 2 || subs[1].LastEventID != wantIDs[1] {
		t.Errorf("subscribe requests %+v, want a reconnection with Last-Event-ID %s", subs, wantIDs[1])
	}
}
