package hub

import (
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/sse"
)

// PresenceSignal is the signal that carries subscriber counts to the
// subscriptions that asked for them (WithPresence): an object from topic
// name to the number of subscribers of that topic, such as
// {"_hubdPresence": {"demo/chat": 2}}. Each frame names one topic; as a
// Datastar signal patch it merges into what the page already holds. The
// leading underscore keeps it out of the signals Datastar sends back.
const PresenceSignal = "_hubdPresence"

// PresenceInterval is the shortest time between two presence frames of
// one topic: changes that come faster are coalesced, and the latest count
// is sent when the interval is over.
const PresenceInterval = time.Second

// PresenceSharer is an optional ability of an EventLog (Config.Log): it
// shares each node's subscriber counts with the other nodes of the
// cluster, so that presence counts every node's subscribers. The hub
// finds it by type assertion.
type PresenceSharer interface {
	// SharePresence starts sharing until stop is called. It publishes
	// this node's counts by topic, as local returns them, regularly, and
	// calls remote with the sum by topic of every other live node's counts
	// each time that sum changes (a node that stops publishing drops out
	// after a while). It must not call local or remote after stop has
	// returned; remote's argument is its caller's to keep.
	SharePresence(local func() map[string]int, remote func(map[string]int)) (stop func(), err error)
}

// WithPresence makes the subscription receive its topics' subscriber
// counts as the PresenceSignal: in Replay, after everything else, one
// frame per topic with its count at subscribe time, then on C a frame each
// time a topic's count changes, at most once per PresenceInterval per
// topic. The frames carry no ID and are never kept in history.
func WithPresence() SubscribeOption {
	return func(c *subscribeConfig) { c.presence = true }
}

// presence is the hub's presence state; everything in it is guarded by
// Hub.mu, except wg.
type presence struct {
	topics map[string]*presenceTopic // topics with at least one presence subscriber
	remote map[string]int            // other nodes' subscribers by topic (with a PresenceSharer)
	stop   func()                    // stops the PresenceSharer, or nil
	wg     sync.WaitGroup            // pending timers' callbacks
}

// presenceTopic is one topic's presence subscribers and throttle.
type presenceTopic struct {
	name     string
	watchers broadcast.Group
	sent     int         // the count last broadcast to watchers
	at       time.Time   // when it was
	timer    *time.Timer // set while a change waits for the interval to end
}

// startPresence shares presence through l if it can.
func (h *Hub) startPresence(l EventLog) error {
	ps, ok := l.(PresenceSharer)
	if !ok {
		return nil
	}
	stop, err := ps.SharePresence(h.localPresence, h.setRemotePresence)
	if err != nil {
		return err
	}
	h.pres.stop = stop
	return nil
}

// stopPresence stops the sharing and every pending timer, and waits for
// timers already firing. Call it without h.mu, after draining is set.
func (h *Hub) stopPresence() {
	if h.pres.stop != nil {
		h.pres.stop()
	}
	h.mu.Lock()
	for _, pt := range h.pres.topics {
		h.stopTimerLocked(pt)
	}
	h.mu.Unlock()
	h.pres.wg.Wait()
}

// Presence returns how many clients subscribe to topic: on this node, and
// with a PresenceSharer also on the cluster's other live nodes.
func (h *Hub) Presence(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.countLocked(topic)
}

func (h *Hub) countLocked(name string) int {
	n := h.pres.remote[name]
	if t := h.topics[name]; t != nil {
		n += t.group.Len()
	}
	return n
}

// localPresence returns this node's subscribers by topic, for a
// PresenceSharer.
func (h *Hub) localPresence() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int)
	for name, t := range h.topics {
		if n := t.group.Len(); n > 0 {
			out[name] = n
		}
	}
	return out
}

// setRemotePresence takes the other nodes' subscribers by topic from a
// PresenceSharer.
func (h *Hub) setRemotePresence(counts map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.pres.remote
	h.pres.remote = maps.Clone(counts)
	for name, n := range counts {
		if old[name] != n {
			h.presenceChangedLocked(name)
		}
	}
	for name := range old {
		if _, ok := counts[name]; !ok {
			h.presenceChangedLocked(name)
		}
	}
}

// presenceChangedLocked notes that topic name's count may have changed:
// its presence subscribers get the count now, or when the topic's
// interval is over if a frame went out less than PresenceInterval ago.
func (h *Hub) presenceChangedLocked(name string) {
	pt := h.pres.topics[name]
	if pt == nil || pt.timer != nil || h.draining {
		return
	}
	now := time.Now()
	if wait := pt.at.Add(PresenceInterval).Sub(now); wait > 0 {
		h.pres.wg.Add(1)
		pt.timer = time.AfterFunc(wait, func() {
			defer h.pres.wg.Done()
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.pres.topics[name] != pt || pt.timer == nil || h.draining {
				return // stopped meanwhile
			}
			pt.timer = nil
			h.sendPresenceLocked(pt, time.Now())
		})
		return
	}
	h.sendPresenceLocked(pt, now)
}

// sendPresenceLocked offers pt's watchers the topic's count, unless they
// had it already.
func (h *Hub) sendPresenceLocked(pt *presenceTopic, now time.Time) {
	n := h.countLocked(pt.name)
	if n == pt.sent {
		return
	}
	pt.sent, pt.at = n, now
	var res broadcast.Result
	pt.watchers.Broadcast(&broadcast.Frame{Data: presenceFrame(pt.name, n)}, &res)
	h.settleLocked(&res)
}

// stopTimerLocked cancels pt's pending frame, if any.
func (h *Hub) stopTimerLocked(pt *presenceTopic) {
	if pt.timer != nil && pt.timer.Stop() {
		h.pres.wg.Done()
	}
	pt.timer = nil
}

// watchLocked makes sub a presence subscriber of its topics and appends
// each topic's current count to its replay.
func (h *Hub) watchLocked(sub *Subscription) {
	if h.pres.topics == nil {
		h.pres.topics = make(map[string]*presenceTopic)
	}
	for _, name := range sub.Topics {
		n := h.countLocked(name)
		pt := h.pres.topics[name]
		if pt == nil {
			pt = &presenceTopic{name: name, sent: n}
			h.pres.topics[name] = pt
		}
		pt.watchers.Add(sub.sub)
		sub.Replay = append(sub.Replay, presenceFrame(name, n))
	}
}

// unwatchLocked takes sub out of its topics' presence subscribers; a
// topic left without any forgets its presence state.
func (h *Hub) unwatchLocked(sub *Subscription) {
	for _, name := range sub.Topics {
		pt := h.pres.topics[name]
		if pt == nil {
			continue
		}
		pt.watchers.Remove(sub.sub)
		if pt.watchers.Len() == 0 {
			h.stopTimerLocked(pt)
			delete(h.pres.topics, name)
		}
	}
}

// presenceFrame encodes the PresenceSignal patch for topic's count n.
func presenceFrame(topic string, n int) []byte {
	signals, err := json.Marshal(map[string]map[string]int{PresenceSignal: {topic: n}})
	if err != nil {
		panic(err) // a map of strings to ints always marshals
	}
	e, err := sse.PatchSignals{Signals: signals}.Event()
	if err == nil {
		var b []byte
		if b, err = sse.AppendEvent(nil, &e); err == nil {
			return b
		}
	}
	panic(err) // a valid topic makes a valid event
}
