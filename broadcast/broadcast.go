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
		return true, false
	default:
		s.Close(ErrSlow)
		return false, true
	}
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
// subscribers of one topic.
type Group struct {
	subs map[*Subscriber]struct{}
	priv map[*Subscriber]struct{} // the members that also get private frames
}

// Add puts s in the group.
func (g *Group) Add(s *Subscriber) {
	if g.subs == nil {
		g.subs = make(map[*Subscriber]struct{})
	}
	g.subs[s] = struct{}{}
}

// AddPrivileged puts s in the group, to receive its private frames too.
func (g *Group) AddPrivileged(s *Subscriber) {
	g.Add(s)
	if g.priv == nil {
		g.priv = make(map[*Subscriber]struct{})
	}
	g.priv[s] = struct{}{}
}

// Remove takes s out of the group.
func (g *Group) Remove(s *Subscriber) {
	delete(g.subs, s)
	delete(g.priv, s)
}

// Len returns the number of subscribers in the group.
func (g *Group) Len() int { return len(g.subs) }

// Each calls fn for every subscriber of the group.
func (g *Group) Each(fn func(*Subscriber)) {
	for s := range g.subs {
		fn(s)
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
	to := g.subs
	if f.Private {
		to = g.priv
	}
	for s := range to {
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
