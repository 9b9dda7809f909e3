package broadcast_test

import (
	"sync"
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

// BenchmarkGroupBroadcastWaking measures the fan-out of one frame to
// 10,000 subscribers whose readers are each blocked receiving, as in the
// hub, where every subscriber has a goroutine waiting on its channel: each
// Offer then hands the frame straight to a parked goroutine and readies
// it. Between frames the timer stops until every reader has taken the
// frame, so that they are all back waiting when the next one is offered.
// The woken readers run on the other cores meanwhile, as they would in
// hubd, so -benchmem counts what the runtime allocates for them too:
// Broadcast itself does not (TestGroupBroadcastDoesNotAllocate).
func BenchmarkGroupBroadcastWaking(b *testing.B) {
	const subscribers = 10_000
	var (
		g       broadcast.Group
		got     sync.WaitGroup // one Done per frame received
		readers sync.WaitGroup // the reader goroutines; closing the subscribers ends them
	)
	subs := make([]*broadcast.Subscriber, subscribers)
	for i := range subs {
		subs[i] = broadcast.NewSubscriber(4, 0)
		g.Add(subs[i])
		readers.Go(func() {
			for range subs[i].C() {
				got.Done()
			}
		})
	}
	defer func() {
		for _, s := range subs {
			s.Close(broadcast.ErrClosed)
		}
		readers.Wait()
	}()
	data := []byte("id: x-1\nevent: datastar-patch-elements\ndata: elements <p id=\"n\">1</p>\n\n")
	var (
		f   broadcast.Frame
		res broadcast.Result
	)

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f = broadcast.Frame{ID: uint64(i) + 1, Data: data}
		res.Queued = 0
		got.Add(subscribers)
		g.Broadcast(&f, &res)
		b.StopTimer()
		got.Wait()
		b.StartTimer()
	}
	b.StopTimer()

	if res.Queued != subscribers || len(res.Evicted) != 0 {
		b.Fatalf("last Broadcast queued %d and evicted %d, want %d and 0", res.Queued, len(res.Evicted), subscribers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subscribers, "ns/sub")
}
