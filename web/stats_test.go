package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

// TestStatsPublisher runs the dashboard's statistics loop on a fake clock:
// nothing is published while nobody follows the stats topic; then every
// second a subscriber gets the counters, with rates over the last second,
// and the topic table, none of it kept in history.
func TestStatsPublisher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{Heartbeat: time.Hour, NodeID: "solo"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := web.New(h, web.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { s.RunStats(ctx, time.Second) })

		news, err := h.Subscribe([]string{"news"}, "")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if d := h.Stats().Deliveries; d != 0 {
			t.Fatalf("%d deliveries with nobody on the stats topic", d)
		}

		stats, err := h.Subscribe([]string{hub.StatsTopic}, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := h.Publish([]string{"news"}, sse.PatchElements{Elements: "<p>x</p>", Selector: "#n" + string(rune('0'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		var got []string
		for len(stats.C()) > 0 {
			f := <-stats.C()
			if f.ID != 0 || strings.HasPrefix(string(f.Data), "id:") {
				t.Errorf("stats frame has an ID: %q", f.Data)
			}
			got = append(got, string(f.Data))
		}
		all := strings.Join(got, "")
		for _, want := range []string{
			`event: datastar-patch-signals`,
			`"clients":2`, `"topics":2`, `"publishesPerSec":3`, `"deliveriesPerSec":3`, `"history":3`,
			`"nodeId":"solo"`, `"clustered":false`,
			`event: datastar-patch-elements`,
			`<tbody id="hubd-topics">`, `<tr><td><code>news</code></td><td>1</td><td>3</td></tr>`,
			`<tr><td><code>$hubd/stats</code></td><td>1</td><td>0</td></tr>`,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("stats frames lack %q:\n%s", want, all)
			}
		}
		if n := h.Stats().HistoryLen; n != 3 {
			t.Errorf("history holds %d events, want the 3 publishes only", n)
		}

		cancel()
		wg.Wait()
		news.Close()
		stats.Close()
		if err := h.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
