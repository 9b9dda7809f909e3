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
// the charts of the rates (drawn from the intervals before anyone
// followed too), the topic table and the node table, none of it kept in
// history. A topic view's stream gets the topic's subscribers and last
// events.
func TestStatsPublisher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{Heartbeat: time.Hour, NodeID: "solo", Version: "v9.9.9"})
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
			`"nodeId":"solo"`, `"version":"v9.9.9"`, `"uptime":"3s"`, `"clustered":false`,
			`event: datastar-patch-elements`,
			`<tbody id="hubd-topics">`,
			`<tr><td><a href="/dashboard/topics/news"><code>news</code></a></td><td class="num">1</td><td class="num">3</td></tr>`,
			`<tbody id="hubd-nodes"><tr><td><code>solo</code> <span class="tag">this node</span></td><td>v9.9.9</td><td>3s</td><td class="num">2</td><td class="num">0</td></tr></tbody>`,
			// Three intervals, 0, 0 and 3 publishes/s, at the right
			// edge, 2 units apart; 3 on a scale of 5 is at 150-3/5*136.
			`<div id="chart-publishes"><svg `, `aria-label="Publishes per second over the last 5 min, peak 3"`,
			`<path d="M596.0 150.0L598.0 150.0L600.0 68.4" fill="none"`, `>5/s</text>`,
			`<div id="chart-deliveries"><svg `,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("stats frames lack %q:\n%s", want, all)
			}
		}
		if strings.Contains(all, "<code>$hubd/stats</code>") {
			t.Errorf("the topic table lists the hub's own stats topic:\n%s", all)
		}
		if n := h.Stats().HistoryLen; n != 3 {
			t.Errorf("history holds %d events, want the 3 publishes only", n)
		}

		view, err := h.Subscribe([]string{"$hubd/topic/news"}, "")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		got = got[:0]
		for len(view.C()) > 0 {
			got = append(got, string((<-view.C()).Data))
		}
		all = strings.Join(got, "")
		for _, want := range []string{
			`data: elements <div id="topic-view">`, `<b id="view-subscribers">1</b>`, `<b id="view-history">3</b>`,
			"<pre>selector #n2\ndata: elements elements &lt;p&gt;x&lt;/p&gt;</pre>", `<pre>selector #n0`, `<span class="tag">patch-elements</span>`,
			`data: signals {"viewAt":"00:00:04"}`,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("topic view frames lack %q:\n%s", want, all)
			}
		}
		if strings.Index(all, "selector #n2") > strings.Index(all, "selector #n0") {
			t.Errorf("topic view does not show the newest event first:\n%s", all)
		}
		view.Close()

		cancel()
		wg.Wait()
		news.Close()
		stats.Close()
		if err := h.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
