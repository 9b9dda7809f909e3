package broadcast_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
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

// members names the subscribers of a membership test.
type members map[string]*broadcast.Subscriber

// newMembers returns a fresh subscriber, with room for a few frames, for
// each name.
func newMembers(names ...string) members {
	m := make(members, len(names))
	for _, n := range names {
		m[n] = broadcast.NewSubscriber(4, 0)
	}
	return m
}

// checkGroup fails t unless g holds exactly the subscribers named in all,
// each once, and of them exactly those named in priv as privileged. It
// proves membership through behaviour: Len, Each, and a public and a
// private heartbeat (ID 0, which Offer never deduplicates, so a member held
// twice would get it twice), each of which must reach every intended member
// exactly once and nobody else. The subscribers in m must be empty and have
// room for two frames; they are empty again when checkGroup returns.
func checkGroup(t *testing.T, g *broadcast.Group, m members, all, priv []string) {
	t.Helper()
	if g.Len() != len(all) {
		t.Errorf("Len() = %d, want %d", g.Len(), len(all))
	}
	visits := make(map[*broadcast.Subscriber]int)
	g.Each(func(s *broadcast.Subscriber) { visits[s]++ })
	for name, s := range m {
		want := 0
		if slices.Contains(all, name) {
			want = 1
		}
		if visits[s] != want {
			t.Errorf("Each visited %s %d times, want %d", name, visits[s], want)
		}
	}
	if len(visits) != len(all) {
		t.Errorf("Each visited %d subscribers, want %d", len(visits), len(all))
	}

	for _, private := range []bool{false, true} {
		to := all
		if private {
			to = priv
		}
		var res broadcast.Result
		g.Broadcast(&broadcast.Frame{Private: private}, &res)
		if res.Queued != len(to) || len(res.Evicted) != 0 {
			t.Errorf("Broadcast(private %v) queued %d and evicted %d, want %d and 0", private, res.Queued, len(res.Evicted), len(to))
		}
		for name, s := range m {
			want := 0
			if slices.Contains(to, name) {
				want = 1
			}
			if ids, _ := drain(s); len(ids) != want {
				t.Errorf("Broadcast(private %v): %s got %d frames, want %d", private, name, len(ids), want)
			}
		}
	}
}

func TestGroupMembership(t *testing.T) {
	t.Parallel()
	type op struct {
		do   string // "add", "priv" (AddPrivileged) or "remove"
		name string
	}
	tests := []struct {
		name      string
		ops       []op
		all, priv []string
	}{
		{"zero group is empty", nil, nil, nil},
		{"remove from the zero group", []op{{"remove", "a"}}, nil, nil},
		{"add", []op{{"add", "a"}, {"add", "b"}}, []string{"a", "b"}, nil},
		{"add again is idempotent", []op{{"add", "a"}, {"add", "b"}, {"add", "a"}, {"add", "a"}}, []string{"a", "b"}, nil},
		{"add privileged again is idempotent", []op{{"priv", "a"}, {"priv", "a"}, {"add", "b"}}, []string{"a", "b"}, []string{"a"}},
		{"add keeps a member privileged", []op{{"priv", "a"}, {"add", "a"}}, []string{"a"}, []string{"a"}},
		{"add privileged makes a member privileged", []op{{"add", "a"}, {"add", "b"}, {"priv", "a"}}, []string{"a", "b"}, []string{"a"}},
		{"remove a non-member", []op{{"add", "a"}, {"priv", "b"}, {"remove", "c"}}, []string{"a", "b"}, []string{"b"}},
		{"remove twice", []op{{"add", "a"}, {"add", "b"}, {"remove", "a"}, {"remove", "a"}}, []string{"b"}, nil},
		{"remove the first", []op{{"add", "a"}, {"add", "b"}, {"add", "c"}, {"remove", "a"}}, []string{"b", "c"}, nil},
		{"remove the middle", []op{{"add", "a"}, {"add", "b"}, {"add", "c"}, {"remove", "b"}}, []string{"a", "c"}, nil},
		{"remove the last", []op{{"add", "a"}, {"add", "b"}, {"add", "c"}, {"remove", "c"}}, []string{"a", "b"}, nil},
		{"remove all, then add", []op{{"add", "a"}, {"priv", "b"}, {"remove", "b"}, {"remove", "a"}, {"priv", "a"}}, []string{"a"}, []string{"a"}},
		{
			"privileged: remove the first",
			[]op{{"priv", "a"}, {"add", "x"}, {"priv", "b"}, {"priv", "c"}, {"remove", "a"}},
			[]string{"x", "b", "c"}, []string{"b", "c"},
		},
		{
			"privileged: remove the middle",
			[]op{{"priv", "a"}, {"add", "x"}, {"priv", "b"}, {"priv", "c"}, {"remove", "b"}},
			[]string{"a", "x", "c"}, []string{"a", "c"},
		},
		{
			"privileged: remove the last",
			[]op{{"priv", "a"}, {"add", "x"}, {"priv", "b"}, {"priv", "c"}, {"remove", "c"}},
			[]string{"a", "x", "b"}, []string{"a", "b"},
		},
		{
			// The privileged were made so in another order than they
			// joined, so their places in the group and among the
			// privileged differ.
			"privileged: upgraded out of order, then removals",
			[]op{{"add", "a"}, {"add", "b"}, {"add", "c"}, {"add", "d"}, {"priv", "d"}, {"priv", "b"}, {"priv", "a"}, {"remove", "b"}, {"remove", "c"}, {"remove", "d"}},
			[]string{"a"}, []string{"a"},
		},
		{
			"plain member removed before privileged ones",
			[]op{{"add", "x"}, {"priv", "a"}, {"priv", "b"}, {"add", "y"}, {"remove", "x"}, {"remove", "a"}},
			[]string{"b", "y"}, []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMembers("a", "b", "c", "d", "x", "y")
			var g broadcast.Group
			for _, o := range tt.ops {
				switch o.do {
				case "add":
					g.Add(m[o.name])
				case "priv":
					g.AddPrivileged(m[o.name])
				case "remove":
					g.Remove(m[o.name])
				default:
					t.Fatalf("unknown op %q", o.do)
				}
			}
			checkGroup(t, &g, m, tt.all, tt.priv)
		})
	}
}

// TestGroupMatchesModel runs a long seeded sequence of Add, AddPrivileged
// and Remove against a Group and against two plain sets, and checks after
// every step that the group holds what the sets do.
func TestGroupMatchesModel(t *testing.T) {
	t.Parallel()
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	m := newMembers(names...)
	all, priv := make(map[string]bool), make(map[string]bool)
	var g broadcast.Group
	rng := rand.New(rand.NewPCG(13, 1))
	for step := range 600 {
		name := names[rng.IntN(len(names))]
		var what string
		switch rng.IntN(3) {
		case 0:
			what = "Add"
			g.Add(m[name])
			all[name] = true
		case 1:
			what = "AddPrivileged"
			g.AddPrivileged(m[name])
			all[name], priv[name] = true, true
		default:
			what = "Remove"
			g.Remove(m[name])
			delete(all, name)
			delete(priv, name)
		}
		t.Run(fmt.Sprintf("%d %s(%s)", step, what, name), func(t *testing.T) {
			checkGroup(t, &g, m, slices.Sorted(maps.Keys(all)), slices.Sorted(maps.Keys(priv)))
		})
	}
}

// TestGroupBroadcastEvictions evicts members during a Broadcast, at the
// start, the end and the middle of the order they joined in, one or
// several in one frame, and checks that every other member is offered the
// frame exactly once, that every evicted one is reported once, and that
// the group afterwards holds exactly the survivors with their privileges.
func TestGroupBroadcastEvictions(t *testing.T) {
	t.Parallel()
	// a to f join in that order; b, d and f are privileged.
	names := []string{"a", "b", "c", "d", "e", "f"}
	privileged := []string{"b", "d", "f"}
	tests := []struct {
		name    string
		full    []string // members whose buffers are full, so the frame evicts them
		private bool
	}{
		{"none", nil, false},
		{"first", []string{"a"}, false},
		{"last", []string{"f"}, false},
		{"middle", []string{"c"}, false},
		{"first and last", []string{"a", "f"}, false},
		{"two neighbours", []string{"c", "d"}, false},
		{"every other", []string{"a", "c", "e"}, false},
		{"all but one", []string{"a", "b", "c", "e", "f"}, false},
		{"all", names, false},
		{"private: first privileged", []string{"b"}, true},
		{"private: last privileged", []string{"f"}, true},
		{"private: middle privileged", []string{"d"}, true},
		{"private: two", []string{"b", "f"}, true},
		{"private: all privileged", privileged, true},
		{"private: full but not privileged, so not offered", []string{"a", "c"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := make(members)
			var g broadcast.Group
			for _, n := range names {
				// Room for two frames: the one broadcast below and the
				// next from checkGroup are read before the one after.
				m[n] = broadcast.NewSubscriber(2, 0)
				if slices.Contains(privileged, n) {
					g.AddPrivileged(m[n])
				} else {
					g.Add(m[n])
				}
			}
			for _, n := range tt.full {
				m[n].Offer(&broadcast.Frame{})
				m[n].Offer(&broadcast.Frame{})
			}

			// ID 0, which Offer never skips as seen: a member offered the
			// frame twice would read it twice.
			f := &broadcast.Frame{Private: tt.private}
			var res broadcast.Result
			g.Broadcast(f, &res)

			offered := names
			if tt.private {
				offered = privileged
			}
			var evicted, survivors, survivingPriv []string
			for _, n := range names {
				gone := slices.Contains(tt.full, n) && slices.Contains(offered, n)
				switch {
				case gone:
					evicted = append(evicted, n)
				case slices.Contains(privileged, n):
					survivors, survivingPriv = append(survivors, n), append(survivingPriv, n)
				default:
					survivors = append(survivors, n)
				}
			}
			if want := len(offered) - len(evicted); res.Queued != want {
				t.Errorf("Queued = %d, want %d", res.Queued, want)
			}
			var gotEvicted []string
			for _, s := range res.Evicted {
				for n := range m {
					if m[n] == s {
						gotEvicted = append(gotEvicted, n)
					}
				}
			}
			slices.Sort(gotEvicted)
			if !slices.Equal(gotEvicted, evicted) {
				t.Errorf("Evicted = %v, want %v", gotEvicted, evicted)
			}
			for _, n := range evicted {
				if !errors.Is(m[n].Err(), broadcast.ErrSlow) {
					t.Errorf("%s: Err() = %v, want ErrSlow", n, m[n].Err())
				}
			}
			for _, n := range names {
				ids, _ := drain(m[n])
				var want []uint64
				switch {
				case slices.Contains(tt.full, n):
					want = []uint64{0, 0} // what filled it; the frame was never queued
				case slices.Contains(offered, n):
					want = []uint64{0} // the frame, once
				}
				if !slices.Equal(ids, want) {
					t.Errorf("%s read %v, want %v", n, ids, want)
				}
			}
			// Members that were full but not offered the frame stay, now
			// drained; the group must hold exactly the survivors.
			checkGroup(t, &g, m, survivors, survivingPriv)
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

// TestQuiet checks the count Quiet keeps: a subscriber is quiet once n
// calls went by with nothing queued, the count starts over then and at
// every queued frame (a skipped or refused one does not count), and a
// closed subscriber is never quiet.
func TestQuiet(t *testing.T) {
	s := broadcast.NewSubscriber(4, 0)
	calls := func(n int) (quiet []bool) {
		for range n {
			quiet = append(quiet, s.Quiet(2))
		}
		return quiet
	}
	if got := calls(4); !slices.Equal(got, []bool{false, true, false, true}) {
		t.Errorf("idle: Quiet(2) = %v, want every second call true", got)
	}
	s.Quiet(2)
	s.Offer(&broadcast.Frame{ID: 1})
	if got := calls(2); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("after a queued frame: %v, want the count started over", got)
	}
	s.Quiet(2)
	s.Offer(&broadcast.Frame{ID: 1}) // seen already: skipped, not queued
	if got := s.Quiet(2); !got {
		t.Error("a skipped frame started the count over")
	}
	s.Close(broadcast.ErrClosed)
	if got := calls(3); slices.Contains(got, true) {
		t.Errorf("closed: %v, want never quiet", got)
	}
}
