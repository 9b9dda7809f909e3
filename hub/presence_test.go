package hub_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// presenceCount parses a presence frame and returns its topic's count;
// ok is false for any other frame.
func presenceCount(t *testing.T, frame []byte, topic string) (n int, ok bool) {
	t.Helper()
	const prefix = "event: datastar-patch-signals\ndata: signals "
	s := string(frame)
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, "\n\n") {
		return 0, false
	}
	var v map[string]map[string]int
	if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimPrefix(s, prefix), "\n\n")), &v); err != nil {
		return 0, false
	}
	n, ok = v[hub.PresenceSignal][topic]
	return n, ok
}

// queued returns the frames waiting in sub's channel, without waiting.
func queued(sub *hub.Subscription) []*broadcast.Frame {
	var out []*broadcast.Frame
	for {
		select {
		case f := <-sub.C():
			out = append(out, f)
		default:
			return out
		}
	}
}

// presenceCounts returns the counts of topic in frames, skipping
// heartbeats, and fails on any other frame.
func presenceCounts(t *testing.T, frames []*broadcast.Frame, topic string) []int {
	t.Helper()
	var out []int
	for _, f := range frames {
		if strings.HasPrefix(string(f.Data), ":") {
			continue
		}
		n, ok := presenceCount(t, f.Data, topic)
		if !ok {
			t.Fatalf("frame %q is not a presence frame of %q", f.Data, topic)
		}
		if f.ID != 0 {
			t.Errorf("presence frame with ID %d", f.ID)
		}
		out = append(out, n)
	}
	return out
}

func TestPresenceThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{Heartbeat: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Shutdown(context.Background())

		watcher, err := h.Subscribe([]string{"room"}, "", hub.WithPresence())
		if err != nil {
			t.Fatal(err)
		}
		defer watcher.Close()
		last := watcher.Replay[len(watcher.Replay)-1]
		if n, ok := presenceCount(t, last, "room"); !ok || n != 1 {
			t.Fatalf("replay ends with %q, want the count 1", last)
		}
		if !strings.HasPrefix(string(watcher.Replay[len(watcher.Replay)-2]), "id: ") {
			t.Errorf("the presence frame does not follow the cursor: %q", watcher.Replay)
		}

		// The first change goes out at once; the next ones within the
		// interval are coalesced into one frame with the latest count.
		var others []*hub.Subscription
		defer func() {
			for _, s := range others {
				s.Close()
			}
		}()
		for range 3 {
			s, err := h.Subscribe([]string{"room"}, "")
			if err != nil {
				t.Fatal(err)
			}
			others = append(others, s)
		}
		if got := presenceCounts(t, queued(watcher), "room"); len(got) != 1 || got[0] != 2 {
			t.Fatalf("right after 3 subscribes: counts %v, want [2]", got)
		}
		time.Sleep(hub.PresenceInterval - time.Millisecond)
		synctest.Wait()
		if got := queued(watcher); len(got) != 0 {
			t.Fatalf("a frame within the interval: %q", got[0].Data)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := presenceCounts(t, queued(watcher), "room"); len(got) != 1 || got[0] != 4 {
			t.Fatalf("at the end of the interval: counts %v, want [4]", got)
		}

		// Leaving counts too; a change and its undoing send nothing.
		others[0].Close()
		synctest.Wait()
		if got := queued(watcher); len(got) != 0 {
			t.Fatalf("a frame within the interval: %q", got[0].Data)
		}
		time.Sleep(hub.PresenceInterval)
		synctest.Wait()
		if got := presenceCounts(t, queued(watcher), "room"); len(got) != 1 || got[0] != 3 {
			t.Fatalf("after a close: counts %v, want [3]", got)
		}
		others[1].Close()
		again, err := h.Subscribe([]string{"room"}, "")
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		time.Sleep(2 * hub.PresenceInterval)
		synctest.Wait()
		if got := queued(watcher); len(got) != 0 {
			t.Fatalf("a frame for an unchanged count: %q", got[0].Data)
		}
		if n := h.Presence("room"); n != 3 {
			t.Errorf("Presence = %d, want 3", n)
		}
	})
}

func TestPresenceOnlyToAskers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{Heartbeat: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Shutdown(context.Background())
		plain, err := h.Subscribe([]string{"room"}, "")
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		watcher, err := h.Subscribe([]string{"room", "other"}, "", hub.WithPresence())
		if err != nil {
			t.Fatal(err)
		}
		defer watcher.Close()
		// The replay counts every subscriber, presence or not, per topic.
		var counts []int
		for _, f := range watcher.Replay {
			if n, ok := presenceCount(t, f, "room"); ok {
				counts = append(counts, n)
			}
			if n, ok := presenceCount(t, f, "other"); ok {
				counts = append(counts, n)
			}
		}
		if len(counts) != 2 || counts[0] != 2 || counts[1] != 1 {
			t.Fatalf("replay counts %v, want [2 1]", counts)
		}
		late, err := h.Subscribe([]string{"room"}, "")
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		time.Sleep(hub.PresenceInterval)
		synctest.Wait()
		if got := presenceCounts(t, queued(watcher), "room"); len(got) != 1 || got[0] != 3 {
			t.Fatalf("watcher got counts %v, want [3]", got)
		}
		if got := queued(plain); len(got) != 0 {
			t.Fatalf("a subscriber that did not ask got %q", got[0].Data)
		}
		// Presence frames are never history: a replay holds none.
		if _, err := h.Publish([]string{"room"}, sse.PatchSignals{Signals: []byte(`{"x":1}`)}); err != nil {
			t.Fatal(err)
		}
		re, err := h.Subscribe([]string{"room"}, h.EventID(0))
		if err != nil {
			t.Fatal(err)
		}
		defer re.Close()
		for _, f := range re.Replay {
			if strings.Contains(string(f), hub.PresenceSignal) {
				t.Errorf("replay holds a presence frame: %q", f)
			}
		}
	})
}
