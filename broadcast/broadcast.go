// Package broadcast fans ready-made frames out to bounded subscriber
// channels without ever blocking the sender.
//
// A Subscriber owns one buffered channel. Offer puts a frame in it when
// there is room; when there is none, the subscriber cannot keep up and is
// evicted: its channel is closed with ErrSlow as the reason, and its reader
// is expected to drop the connection so that the client reconnects and
// catches up from history. The sender never waits for a slow reader.
//
// The types here are not safe for concurrent use on their own: one owner
// (the hub) serializes every Offer, Add, Remove and Close under its lock.
// The reading side only receives from C and, once C is closed, reads Err.
package broadcast

import "errors"

// Reasons a subscriber's channel is closed.
var (
	// ErrSlow means the subscriber's buffer was full when a frame was offered.
	ErrSlow = errors.New("broadcast: subscriber too slow")
	// ErrClosed means the subscriber was closed by its owner (unsubscribed
	// or shut down).
	ErrClosed = errors.New("broadcast: subscriber closed")
)

// Frame is one encoded event (or comment) ready to be written as it is.
// Frames are shared by every subscriber they are offered to and must not be
// modified once offered.
type Frame struct {
	// ID orders the frames of one hub. Offer skips a frame whose ID is not
	// above the last one the subscriber was offered, so a subscriber of
	// several groups gets a frame sent to all of them once. Zero (heartbeats
	// and other control frames) is always offered.
	ID   uint64
	Data []byte
	// Private frames go only to the subscribers a group holds as
	// privileged (see Group.AddPrivileged).
	Private bool
}

// Subscriber is the receiving end of a fan-out: a bounded channel of frames.
type Subscriber struct {
	ch     chan *Frame
	last   uint64
	closed bool
	quiet  uint8 // Quiet's count: calls since a frame was last queued
	err    error
	// Value is free for the owner to attach its own state.
	Value any
}

// NewSubscriber returns a subscriber whose channel holds up to buffer
// frames (at least 1) and that has already seen every frame up to lastID.
func NewSubscriber(buffer int, lastID uint64) *Subscriber {
	return &Subscriber{ch: make(chan *Frame, max(buffer, 1)), last: lastID}
}

// C returns the channel to receive frames from. It is closed when the
// subscriber is evicted or closed; Err then says why.
func (s *Subscriber) C() <-chan *Frame { return s.ch }

// Err returns why C was closed. It may be called only after C is seen
// closed (or by the owner under its lock).
func (s *Subscriber) Err() error { return s.err }

// Closed reports whether the subscriber's channel is closed. Owner only.
func (s *Subscriber) Closed() bool { return s.closed }

// Offer hands f to the subscriber without blocking. It returns true if the
// frame was queued, false if it was skipped (already seen, or the
// subscriber is closed) or caused an eviction; evicted tells the latter.
func (s *Subscriber) Offer(f *Frame) (queued, evicted bool) {
	if s.closed || (f.ID != 0 && f.ID <= s.last) {
		return false, false
	}
	if f.ID != 0 {
		s.last = f.ID
	}
	select {
	case s.ch <- f:
		s.quiet = 0
		return true, false
	default:
		s.Close(ErrSlow)
		return false, true
	}
}

// Quiet counts one tick of a clock and reports whether no frame was
// queued for the subscriber during the last n ticks (n at least 1); the
// count then starts over. A hub's heartbeat clock ticks twice per
// interval and asks Quiet(2) before offering a heartbeat: an idle
// subscriber gets one every interval, one that events keep busy gets
// none (their writes do a heartbeat's work), and none goes longer than
// the interval without a write. A closed subscriber is never quiet.
func (s *Subscriber) Quiet(n uint8) bool {
	if s.closed {
		return false
	}
	if s.quiet++; s.quiet < n {
		return false
	}
	s.quiet = 0
	return true
}

// Close closes the subscriber's channel with reason, once. Frames already
// queued stay readable before the close is seen. Owner only.
func (s *Subscriber) Close(reason error) {
	if s.closed {
		return
	}
	s.closed, s.err = true, reason
	close(s.ch)
}

// Group is a set of subscribers that receive the same frames, such as the
// subscribers of one topic. The zero Group is empty and ready to use.
//
// The members are kept in dense slices, so that Broadcast walks an array
// of pointers rather than a map; index gives each member's place in them,
// so that Remove takes O(1) by moving the last member into the hole.
type Group struct {
	all   []*Subscriber         // every member
	priv  []*Subscriber         // the members that also get private frames
	index map[*Subscriber]place // where each member sits in all and priv
}

// place is a member's position in Group.all and, if it is privileged, in
// Group.priv; priv is -1 for a member that is not.
type place struct{ all, priv int }

// Add puts s in the group. Adding a member again changes nothing: a
// privileged member stays privileged.
func (g *Group) Add(s *Subscriber) { g.add(s) }

// AddPrivileged puts s in the group, to receive its private frames too.
// A member added before by Add becomes privileged; adding a privileged
// member again changes nothing.
func (g *Group) AddPrivileged(s *Subscriber) {
	p := g.add(s)
	if p.priv >= 0 {
		return
	}
	p.priv = len(g.priv)
	g.priv = append(g.priv, s)
	g.index[s] = p
}

// add puts s in all if it is not a member yet and returns its place.
func (g *Group) add(s *Subscriber) place {
	if p, ok := g.index[s]; ok {
		return p
	}
	if g.index == nil {
		g.index = make(map[*Subscriber]place)
	}
	p := place{all: len(g.all), priv: -1}
	g.all = append(g.all, s)
	g.index[s] = p
	return p
}

// Remove takes s out of the group; removing a subscriber that is not a
// member does nothing. The member that was last in the group takes s's
// place, so that members before s keep theirs: Broadcast and Each rely on
// this to let a member be removed while they visit it.
func (g *Group) Remove(s *Subscriber) {
	p, ok := g.index[s]
	if !ok {
		return
	}
	delete(g.index, s)
	var moved *Subscriber
	if g.all, moved = cut(g.all, p.all); moved != nil {
		q := g.index[moved]
		q.all = p.all
		g.index[moved] = q
	}
	if p.priv < 0 {
		return
	}
	if g.priv, moved = cut(g.priv, p.priv); moved != nil {
		q := g.index[moved]
		q.priv = p.priv
		g.index[moved] = q
	}
}

// cut removes subs[i] by moving the last element into its place and
// returns the shortened slice and the element it moved (nil if subs[i] was
// the last). The vacated slot is cleared so that the backing array does
// not keep a removed subscriber reachable.
func cut(subs []*Subscriber, i int) (rest []*Subscriber, moved *Subscriber) {
	last := len(subs) - 1
	if i != last {
		moved = subs[last]
		subs[i] = moved
	}
	subs[last] = nil
	return subs[:last], moved
}

// Len returns the number of subscribers in the group.
func (g *Group) Len() int { return len(g.all) }

// Each calls fn once for every subscriber of the group, in no particular
// order. fn may remove the subscriber it is given from the group, but must
// not otherwise add or remove members while Each runs.
func (g *Group) Each(fn func(*Subscriber)) {
	for i := len(g.all) - 1; i >= 0; i-- { // from the end: see Remove
		fn(g.all[i])
	}
}

// Result counts what one Broadcast did.
type Result struct {
	Queued  int           // subscribers that got the frame
	Evicted []*Subscriber // subscribers closed with ErrSlow by this frame
}

// Broadcast offers f to every subscriber of the group, or if f is private
// to its privileged subscribers only. Evicted subscribers are appended to
// res.Evicted and removed from the group; removing them from other groups
// is the owner's job.
func (g *Group) Broadcast(f *Frame, res *Result) {
	to := g.all
	if f.Private {
		to = g.priv
	}
	// From the end: removing an evicted member moves the last one into its
	// place, and that one has already been offered f. Members before i keep
	// their places, so each member is offered f exactly once.
	for i := len(to) - 1; i >= 0; i-- {
		s := to[i]
		queued, evicted := s.Offer(f)
		if queued {
			res.Queued++
		}
		if evicted {
			res.Evicted = append(res.Evicted, s)
			g.Remove(s)
		}
	}
}
