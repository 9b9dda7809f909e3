package hub_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// TestInspect: what the dashboard reads of a topic: its newest events,
// newest first, private ones only when asked; its public retained element
// patches; the reserved topics followed, which drop out once nobody
// follows them; and what the node says about itself.
func TestInspect(t *testing.T) {
	h, err := hub.New(hub.Config{Heartbeat: time.Hour, NodeID: "n1", Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	for i, sel := range []string{"#a", "#b", "#c"} {
		if _, err := h.Publish([]string{"news"}, sse.PatchElements{Elements: "<p>x</p>", Selector: sel}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if _, err := h.PublishPrivate([]string{"news"}, sse.PatchElements{Elements: "<p>secret</p>", Selector: "#s"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	frames := func(es []hub.RecentEvent) (out []string) {
		for _, e := range es {
			out = append(out, string(e.Frame))
		}
		return out
	}
	public := frames(h.Recent("news", 2, false))
	if len(public) != 2 || !strings.Contains(public[0], "selector #c") || !strings.Contains(public[1], "selector #b") {
		t.Errorf("newest 2 public events: %q", public)
	}
	all := h.Recent("news", 10, true)
	if len(all) != 4 || !all[1].Private || !strings.Contains(string(all[1].Frame), "selector #s") || !strings.HasPrefix(string(all[0].Frame), "id: ") {
		t.Errorf("all events: %+v", all)
	}
	if got := h.Recent("nothing", 5, true); got != nil {
		t.Errorf("events of an unknown topic: %q", frames(got))
	}

	if _, err := h.PublishContext(t.Context(), []string{"board"}, hub.PublishOptions{Retain: true},
		sse.PatchElements{Elements: `<div id="score">1</div>`}); err != nil {
		t.Fatal(err)
	}
	if el := h.RetainedElements("board"); len(el) != 1 || !strings.Contains(string(el[0]), `elements <div id="score">1</div>`) || strings.HasPrefix(string(el[0]), "id:") {
		t.Errorf("retained elements: %q", el)
	}
	if info := h.Topic("news"); info.History != 4 || info.Subscribers != 0 {
		t.Errorf("news: %+v", info)
	}

	views := []*hub.Subscription{}
	for _, topic := range []string{"$hubd/topic/b", "$hubd/topic/a", "$hubd/stats", "plain"} {
		s, err := h.Subscribe([]string{topic}, "")
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, s)
	}
	if got := h.Followed("$hubd/topic/"); !slices.Equal(got, []string{"$hubd/topic/a", "$hubd/topic/b"}) {
		t.Errorf("followed views: %q", got)
	}
	views[0].Close()
	if got := h.Followed("$hubd/"); !slices.Equal(got, []string{"$hubd/stats", "$hubd/topic/a"}) {
		t.Errorf("followed after one view closed: %q", got)
	}

	nodes := h.Nodes()
	if len(nodes) != 1 || nodes[0].ID != "n1" || nodes[0].Version != "v1.2.3" || nodes[0].Clients != 3 || nodes[0].Started.IsZero() {
		t.Errorf("nodes: %+v", nodes)
	}
	for _, s := range views {
		s.Close()
	}
}
