package broadcast_test

import (
	"testing"

	"github.com/hubd-dev/hubd/broadcast"
)

// BenchmarkGroupBroadcast measures the fan-out of one frame to 10,000
// subscribers. The buffers hold one batch of frames; between batches the
// timer stops while the channels are drained, so the loop measures
// Broadcast alone. It must not allocate.
func BenchmarkGroupBroadcast(b *testing.B) {
	const subscribers, batch = 10_000, 64
	var g broadcast.Group
	subs := make([]*broadcast.Subscriber, subscribers)
	for i := range subs {
		subs[i] = broadcast.NewSubscriber(batch, 0)
		g.Add(subs[i])
	}
	data := []byte("id: x-1\nevent: datastar-patch-elements\ndata: elements <p id=\"n\">1</p>\n\n")
	frames := make([]broadcast.Frame, batch)
	var next uint64
	refill := func() { // IDs keep rising, so dedup lets every frame through
		for i := range frames {
			next++
			frames[i] = broadcast.Frame{ID: next, Data: data}
		}
	}
	drain := func() {
		for _, s := range subs {
			for len(s.C()) > 0 {
				<-s.C()
			}
		}
	}
	refill()
	var res broadcast.Result

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % batch
		if j == 0 && i > 0 {
			b.StopTimer()
			drain()
			refill()
			b.StartTimer()
		}
		res.Queued = 0
		g.Broadcast(&frames[j], &res)
	}
	b.StopTimer()

	if res.Queued != subscribers || len(res.Evicted) != 0 {
		b.Fatalf("last Broadcast queued %d and evicted %d, want %d and 0", res.Queued, len(res.Evicted), subscribers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subscribers, "ns/sub")
}
