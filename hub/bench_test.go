package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// BenchmarkPublish measures one publish of a 256-byte patch-elements event
// to a topic with 10,000 subscribers: validation, encoding, history and
// fan-out. The subscribers' channels are drained with the timer stopped.
func BenchmarkPublish(b *testing.B) {
	const subscribers, batch = 10_000, 64
	h := newHub(b, hub.Config{ClientBuffer: batch})
	subs := make([]*hub.Subscription, subscribers)
	for i := range subs {
		subs[i] = subscribe(b, h, "", "t")
	}
	ev := sse.PatchElements{Elements: `<p id="n">` + strings.Repeat("x", 256-len(`<p id="n"></p>`)) + `</p>`}
	if len(ev.Elements) != 256 {
		b.Fatalf("elements are %d bytes", len(ev.Elements))
	}
	topics := []string{"t"}
	var res hub.Published
	var err error

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 && i > 0 {
			b.StopTimer()
			for _, s := range subs {
				for len(s.C()) > 0 {
					<-s.C()
				}
			}
			b.StartTimer()
		}
		res, err = h.Publish(topics, ev)
	}
	b.StopTimer()

	if err != nil || res.Subscribers != subscribers {
		b.Fatalf("last Publish = %d subscribers, %v; want %d", res.Subscribers, err, subscribers)
	}
	if ev := h.Stats().Evictions; ev != 0 {
		b.Fatalf("%d evictions", ev)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subscribers, "ns/sub")
}

// BenchmarkSubscribeClose measures registering and removing a client of a
// topic that other clients keep open.
func BenchmarkSubscribeClose(b *testing.B) {
	h := newHub(b, hub.Config{})
	subscribe(b, h, "", "t")
	topics := []string{"t"}

	b.ReportAllocs()
	for b.Loop() {
		s, err := h.Subscribe(topics, "")
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkSubscribeReplay measures a reconnect that replays 1,000 events.
func BenchmarkSubscribeReplay(b *testing.B) {
	const events = 1000
	h := newHub(b, hub.Config{})
	for range events { // every other event in history is one the replay skips
		publish(b, h, 1, "t")
		publish(b, h, 1, "other")
	}
	topics, last := []string{"t"}, h.EventID(0)

	s, err := h.Subscribe(topics, last)
	if err != nil {
		b.Fatal(err)
	}
	if s.Missed || len(s.Replay) != events+1 {
		b.Fatalf("Missed %v, %d replay frames; want false, %d", s.Missed, len(s.Replay), events+1)
	}
	s.Close()

	b.ReportAllocs()
	for b.Loop() {
		s, err := h.Subscribe(topics, last)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkPublishFullHistory measures a publish, without subscribers, to
// a history that is full, so that every publish also drops an event: by
// the topic's own bound, or by the totals, from the largest of many
// topics. Both should cost the same whatever the history holds.
func BenchmarkPublishFullHistory(b *testing.B) {
	ev := sse.PatchSignals{Signals: []byte(`{"n":1}`)}
	cases := []struct {
		name   string
		cfg    hub.Config
		topics int
	}{
		{"own bound", hub.Config{HistoryPerTopic: 1000}, 1},
		{"totals, 1000 topics", hub.Config{HistorySize: 10_000, HistoryPerTopic: -1}, 1000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := newHub(b, c.cfg)
			names := make([][]string, c.topics)
			for i := range names {
				names[i] = []string{fmt.Sprintf("t/%d", i)}
			}
			for i := range 20_000 { // fill it
				if _, err := h.Publish(names[i%len(names)], ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := h.Publish(names[i%len(names)], ev); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
