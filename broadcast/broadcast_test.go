package broadcast_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/hubd-dev/hubd/broadcast"
)

// drain receives every frame queued in s and reports whether C was seen
// closed. It never blocks.
func drain(s *broadcast.Subscriber) (ids []uint64, closed bool) {
	for {
		select {
		case f, ok := <-s.C():
			if !ok {
				return ids, true
			}
			ids = append(ids, f.ID)
		default:
			return ids, false
		}
	}
}

func TestNewSubscriberBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		buffer int
		want   int
	}{
		{"positive", 5, 5},
		{"zero holds one", 0, 1},
		{"negative holds one", -3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cap(broadcast.NewSubscriber(tt.buffer, 0).C()); got != tt.want {
				t.Errorf("cap(C) = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestOfferEvictsWhenFull(t *testing.T) {
	t.Parallel()
	for _, buffer := range []int{1, 3} {
		t.Run(fmt.Sprintf("buffer %d", buffer), func(t *testing.T) {
			t.Parallel()
			s := broadcast.NewSubscriber(buffer, 0)
			var want []uint64
			for id := uint64(1); id <= uint64(buffer); id++ {
				queued, evicted := s.Offer(&broadcast.Frame{ID: id})
				if !queued || evicted {
					t.Fatalf("Offer(%d) = %v, %v; want queued", id, queued, evicted)
				}
				want = append(want, id)
			}
			if s.Closed() {
				t.Fatal("Closed() before the buffer overflowed")
			}

			queued, evicted := s.Offer(&broadcast.Frame{ID: uint64(buffer) + 1})
			if queued || !evicted {
				t.Fatalf("Offer to a full subscriber = %v, %v; want evicted", queued, evicted)
			}
			if !s.Closed() {
				t.Error("Closed() = false after eviction")
			}
			// Further offers are skipped, not evictions again.
			if queued, evicted := s.Offer(&broadcast.Frame{ID: 0}); queued || evicted {
				t.Errorf("Offer after eviction = %v, %v; want skipped", queued, evicted)
			}

			ids, closed := drain(s)
			if !slices.Equal(ids, want) {
				t.Errorf("frames read before the close = %v, want %v", ids, want)
			}
			if !closed {
				t.Fatal("C not closed after eviction")
			}
			if err := s.Err(); !errors.Is(err, broadcast.ErrSlow) {
				t.Errorf("Err() = %v, want ErrSlow", err)
			}
		})
	}
}

func TestOfferDedup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lastID uint64
		offer  []uint64
		want   []uint64 // IDs read from C, in order
	}{
		{"new subscriber takes everything above 0", 0, []uint64{1, 2, 3}, []uint64{1, 2, 3}},
		{"ID at or below the start is skipped", 5, []uint64{3, 5, 6}, []uint64{6}},
		{"repeat of the last ID is skipped", 0, []uint64{4, 4, 5, 5}, []uint64{4, 5}},
		{"older ID after a newer one is skipped", 0, []uint64{7, 2, 8}, []uint64{7, 8}},
		{"ID 0 is always offered", 9, []uint64{0, 3, 0, 10, 0}, []uint64{0, 0, 10, 0}},
		{"ID 0 does not move the mark", 2, []uint64{0, 3}, []uint64{0, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := broadcast.NewSubscriber(len(tt.offer), tt.lastID)
			for _, id := range tt.offer {
				if _, evicted := s.Offer(&broadcast.Frame{ID: id}); evicted {
					t.Fatalf("Offer(%d) evicted", id)
				}
			}
			ids, closed := drain(s)
			if closed {
				t.Fatal("C closed")
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("frames = %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestOfferReportsSkip(t *testing.T) {
	t.Parallel()
	s := broadcast.NewSubscriber(4, 5)
	tests := []struct {
		name       string
		id         uint64
		wantQueued bool
	}{
		{"below the mark", 4, false},
		{"at the mark", 5, false},
		{"above the mark", 6, true},
		{"again", 6, false},
		{"heartbeat", 0, true},
	}
	for _, tt := range tests { // sequential: each case depends on the last
		t.Run(tt.name, func(t *testing.T) {
			queued, evicted := s.Offer(&broadcast.Frame{ID: tt.id})
			if queued != tt.wantQueued || evicted {
				t.Errorf("Offer(%d) = %v, %v; want %v, false", tt.id, queued, evicted, tt.wantQueued)
			}
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	first := errors.New("first reason")
	s := broadcast.NewSubscriber(4, 0)
	s.Offer(&broadcast.Frame{ID: 1})
	s.Offer(&broadcast.Frame{ID: 2})

	s.Close(first)
	s.Close(broadcast.ErrClosed) // must neither panic nor change the reason
	s.Close(nil)

	if !s.Closed() {
		t.Error("Closed() = false")
	}
	if queued, evicted := s.Offer(&broadcast.Frame{ID: 3}); queued || evicted {
		t.Errorf("Offer after Close = %v, %v; want skipped", queued, evicted)
	}
	ids, closed := drain(s)
	if !slices.Equal(ids, []uint64{1, 2}) || !closed {
		t.Errorf("read %v, closed %v; want [1 2] then closed", ids, closed)
	}
	if s.Err() != first {
		t.Errorf("Err() = %v, want the first reason", s.Err())
	}
}

func TestCloseAfterEvictionKeepsErrSlow(t *testing.T) {
	t.Parallel()
	s := broadcast.NewSubscriber(1, 0)
	s.Offer(&broadcast.Frame{ID: 1})
	s.Offer(&broadcast.Frame{ID: 2})
	s.Close(broadcast.ErrClosed)
	if !errors.Is(s.Err(), broadcast.ErrSlow) {
		t.Errorf("Err() = %v, want ErrSlow", s.Err())
	}
}

func TestGroupMembership(t *testing.T) {
	t.Parallel()
	var g broadcast.Group // the zero Group is usable
	if g.Len() != 0 {
		t.Fatalf("zero Group Len() = %d", g.Len())
	}
	g.Remove(broadcast.NewSubscriber(1, 0)) // removing from an empty group is a no-op
	var res broadcast.Result
	g.Broadcast(&broadcast.Frame{ID: 1}, &res) // broadcasting to it too
	if res.Queued != 0 || len(res.Evicted) != 0 {
		t.Fatalf("Broadcast to empty group = %+v", res)
	}

	a, b, c := broadcast.NewSubscriber(1, 0), broadcast.NewSubscriber(1, 0), broadcast.NewSubscriber(1, 0)
	steps := []struct {
		name string
		do   func()
		want []*broadcast.Subscriber
	}{
		{"add a", func() { g.Add(a) }, []*broadcast.Subscriber{a}},
		{"add b and c", func() { g.Add(b); g.Add(c) }, []*broadcast.Subscriber{a, b, c}},
		{"add a again", func() { g.Add(a) }, []*broadcast.Subscriber{a, b, c}},
		{"remove b", func() { g.Remove(b) }, []*broadcast.Subscriber{a, c}},
		{"remove b again", func() { g.Remove(b) }, []*broadcast.Subscriber{a, c}},
		{"remove all", func() { g.Remove(a); g.Remove(c) }, nil},
	}
	for _, st := range steps { // sequential: the steps share g
		t.Run(st.name, func(t *testing.T) {
			st.do()
			if g.Len() != len(st.want) {
				t.Errorf("Len() = %d, want %d", g.Len(), len(st.want))
			}
			var got []*broadcast.Subscriber
			g.Each(func(s *broadcast.Subscriber) { got = append(got, s) })
			if len(got) != len(st.want) {
				t.Fatalf("Each visited %d subscribers, want %d", len(got), len(st.want))
			}
			for _, s := range st.want {
				if !slices.Contains(got, s) {
					t.Errorf("Each did not visit a member")
				}
			}
		})
	}
}

func TestGroupBroadcast(t *testing.T) {
	t.Parallel()
	var g broadcast.Group
	fresh := []*broadcast.Subscriber{broadcast.NewSubscriber(2, 0), broadcast.NewSubscriber(2, 0), broadcast.NewSubscriber(2, 0)}
	full := []*broadcast.Subscriber{broadcast.NewSubscriber(1, 0), broadcast.NewSubscriber(1, 0)}
	seen := broadcast.NewSubscriber(2, 10) // has already seen the frame
	closed := broadcast.NewSubscriber(2, 0)
	closed.Close(broadcast.ErrClosed)
	for _, s := range full {
		s.Offer(&broadcast.Frame{ID: 1})
	}
	for _, s := range append(append(slices.Clone(fresh), full...), seen, closed) {
		g.Add(s)
	}

	f := &broadcast.Frame{ID: 5, Data: []byte("data: x\n\n")}
	var res broadcast.Result
	g.Broadcast(f, &res)

	if res.Queued != len(fresh) {
		t.Errorf("Queued = %d, want %d", res.Queued, len(fresh))
	}
	if len(res.Evicted) != len(full) {
		t.Fatalf("Evicted %d subscribers, want %d", len(res.Evicted), len(full))
	}
	for _, s := range full {
		if !slices.Contains(res.Evicted, s) {
			t.Error("a full subscriber is not in Evicted")
		}
		if !errors.Is(s.Err(), broadcast.ErrSlow) {
			t.Errorf("evicted Err() = %v, want ErrSlow", s.Err())
		}
	}
	// Evicted subscribers leave the group; skipped and closed ones stay
	// (removing a closed subscriber is its owner's job).
	if want := len(fresh) + 2; g.Len() != want {
		t.Errorf("Len() after Broadcast = %d, want %d", g.Len(), want)
	}
	g.Each(func(s *broadcast.Subscriber) {
		if slices.Contains(full, s) {
			t.Error("an evicted subscriber is still in the group")
		}
	})
	for _, s := range fresh {
		select {
		case got := <-s.C():
			if got != f {
				t.Error("subscriber got a different frame than the one broadcast")
			}
		default:
			t.Error("a subscriber with room did not get the frame")
		}
	}
	if ids, _ := drain(seen); len(ids) != 0 {
		t.Errorf("subscriber that had seen ID 5 got %v", ids)
	}

	// A frame with ID 0 reaches everyone still in the group.
	res = broadcast.Result{}
	g.Broadcast(&broadcast.Frame{ID: 0}, &res)
	if want := len(fresh) + 1; res.Queued != want || len(res.Evicted) != 0 {
		t.Errorf("heartbeat Broadcast = Queued %d, Evicted %d; want %d, 0", res.Queued, len(res.Evicted), want)
	}
}

func TestGroupBroadcastDoesNotAllocate(t *testing.T) {
	var g broadcast.Group
	subs := make([]*broadcast.Subscriber, 100)
	for i := range subs {
		subs[i] = broadcast.NewSubscriber(1, 0)
		g.Add(subs[i])
	}
	f := &broadcast.Frame{}
	var res broadcast.Result
	allocs := testing.AllocsPerRun(100, func() {
		g.Broadcast(f, &res)
		for _, s := range subs {
			<-s.C()
		}
	})
	if allocs != 0 {
		t.Errorf("Broadcast to %d subscribers allocates %v times, want 0", len(subs), allocs)
	}
}
