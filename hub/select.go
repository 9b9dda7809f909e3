package hub

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/hubd-dev/hubd/broadcast"
)

// MaxOpaqueTopicLength is the longest topic ValidateOpaqueTopic accepts,
// in bytes.
const MaxOpaqueTopicLength = 2048

// ErrEventID is wrapped by the error for a PublishOptions.EventID that
// cannot be used.
var ErrEventID = errors.New("hub: invalid event ID")

// ValidateOpaqueTopic reports whether name can be a topic of a protocol
// whose topics are any string, such as Mercure's IRIs: 1 to
// MaxOpaqueTopicLength bytes of valid UTF-8 without ASCII control
// characters. Every name ValidateTopic accepts, it accepts too. The error
// wraps ErrInvalidTopic.
func ValidateOpaqueTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	case len(name) > MaxOpaqueTopicLength:
		return fmt.Errorf("%w: %.32q... is %d bytes, longer than %d", ErrInvalidTopic, name, len(name), MaxOpaqueTopicLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %q has the control character %q at byte %d", ErrInvalidTopic, name, c, i)
		}
	}
	return nil
}

// Selector chooses, for one subscription, the events beyond those of the
// topics it subscribed to, and the private events it may receive: the
// routing and rights of protocols whose subscribers match topics by
// pattern (such as Mercure's). The hub calls it under its lock, once per
// event at most, so it must be quick: a selector remembers its answers per
// topic rather than evaluating a pattern each time.
type Selector interface {
	// Matches reports whether the subscription follows topic although it
	// did not subscribe to it by name.
	Matches(topic string) bool
	// HasPatterns reports whether Matches can ever be true. Only those
	// subscriptions are offered every event; the others only the events
	// of the topics they named.
	HasPatterns() bool
	// MayRead reports whether the subscription may receive a private
	// event published to topics.
	MayRead(topics []string) bool
	// ReadsPrivate reports whether MayRead can ever be true.
	ReadsPrivate() bool
}

// WithSelector makes sel route the subscription: it gets the events of the
// topics it names (which may then be none, if sel has patterns) and of
// every topic sel.Matches, live and in replay, and a private event only if
// sel.MayRead its topics (WithPrivate is then ignored). Exact topics stay
// indexed: a publish offers an event to the pattern subscriptions and,
// when private, to those that read private events, and to no one else
// beyond its topics' own subscribers.
func WithSelector(sel Selector) SubscribeOption {
	return func(c *subscribeConfig) { c.sel = sel }
}

// WithOpaqueTopics validates the subscription's topics with
// ValidateOpaqueTopic instead of ValidateTopic.
func WithOpaqueTopics() SubscribeOption {
	return func(c *subscribeConfig) { c.opaque = true }
}

// WithoutMissedSignal leaves the MissedSignal frame out of the replay, for
// clients that are not Datastar pages; Subscription.Missed still tells.
func WithoutMissedSignal() SubscribeOption {
	return func(c *subscribeConfig) { c.noMissed = true }
}

// selectLocked lists a new subscription with a selector where offers find
// it.
func (h *Hub) selectLocked(sub *Subscription) {
	switch {
	case sub.sel == nil:
	case sub.sel.HasPatterns():
		h.selected[sub.sub] = sub
		h.matching.clear() // its patterns may match any topic
	case sub.sel.ReadsPrivate():
		h.readers[sub.sub] = sub
	}
}

// maxPatternCache bounds the topics whose matching pattern subscriptions
// the hub remembers; past it, it forgets them all and starts again.
const maxPatternCache = 4096

// patternCache remembers, per topic, the pattern subscriptions (Hub.selected)
// whose patterns match it, so that a public event is offered to them
// without asking every pattern subscription again. It is emptied when a
// pattern subscription comes (it may match any topic); one that leaves
// stays listed, closed, which an offer skips, until as many have left as
// remain.
type patternCache struct {
	topics map[string][]*Subscription
	stale  int // pattern subscriptions gone since the last clear
}

func (c *patternCache) clear() { clear(c.topics); c.stale = 0 }

// left notes that a pattern subscription left, remain staying.
func (c *patternCache) left(remain int) {
	if c.stale++; c.stale > remain {
		c.clear()
	}
}

// matchingLocked returns the pattern subscriptions whose patterns match
// topic, from the cache or, the first time, by asking each.
func (h *Hub) matchingLocked(topic string) []*Subscription {
	c := &h.matching
	if subs, ok := c.topics[topic]; ok {
		return subs
	}
	var subs []*Subscription
	for _, sub := range h.selected {
		if sub.sel.Matches(topic) {
			subs = append(subs, sub)
		}
	}
	if c.topics == nil || len(c.topics) >= maxPatternCache {
		c.topics = make(map[string][]*Subscription)
	}
	c.topics[topic] = subs
	return subs
}

// offerSelectedLocked offers f, an event of topics, to the subscriptions
// with a selector that take it and that the topics' groups did not reach:
// those whose patterns match one of topics, and for a private event those
// of its topics that may read it. A subscription reached twice takes it
// once (broadcast skips an ID it has seen).
func (h *Hub) offerSelectedLocked(f *broadcast.Frame, topics []string, res *broadcast.Result) {
	offer := func(sub *Subscription) {
		queued, evicted := sub.sub.Offer(f)
		if queued {
			res.Queued++
		}
		if evicted {
			res.Evicted = append(res.Evicted, sub.sub)
		}
	}
	if !f.Private {
		// A public event goes to every pattern subscription that matches
		// one of its topics: the cache has them.
		for _, t := range topics {
			for _, sub := range h.matchingLocked(t) {
				offer(sub)
			}
		}
		return
	}
	// A private one is rarer, and needs the subscription's own rights.
	for _, sub := range h.selected {
		if selects(sub.sel, sub.Topics, topics, true) {
			offer(sub)
		}
	}
	for _, sub := range h.readers {
		if selects(sub.sel, sub.Topics, topics, true) {
			offer(sub)
		}
	}
}

// selects reports whether a subscription with sel that named own gets an
// event of topics.
func selects(sel Selector, own, topics []string, private bool) bool {
	follows := slices.ContainsFunc(topics, func(t string) bool { return slices.Contains(own, t) })
	if !follows && sel.HasPatterns() {
		follows = slices.ContainsFunc(topics, sel.Matches)
	}
	return follows && (!private || sel.MayRead(topics))
}

// floorAllLocked is the highest trimmed mark of every topic: the history
// in memory holds every event above it.
func (h *Hub) floorAllLocked() uint64 {
	floor := h.forgotten
	for _, t := range h.topics {
		floor = max(floor, t.trimmed)
	}
	return floor
}

// missedSelectedLocked reports whether a subscription with patterns may
// have missed events after last that history no longer holds: a topic its
// patterns match trimmed one, or a topic no longer tracked did (whose name
// is not known any more, so it counts).
func (h *Hub) missedSelectedLocked(sub *Subscription, last uint64) bool {
	if !sub.sel.HasPatterns() {
		return false
	}
	if last < h.forgotten {
		return true
	}
	for name, t := range h.topics {
		if last < t.trimmed && sub.sel.Matches(name) {
			return true
		}
	}
	return false
}

// replaySelectedLocked appends to out the frames of the events above last
// that sub, which has a selector, gets: those of its topics and, with
// patterns, of every topic they match; private ones only if it may read
// them. In ID order, each once.
func (h *Hub) replaySelectedLocked(out [][]byte, sub *Subscription, last uint64) [][]byte {
	var es []*entry
	add := func(t *topic) {
		q := &t.events
		for i := q.after(last); i < q.n; i++ {
			if e := q.at(i); selects(sub.sel, sub.Topics, e.topics, e.frame.Private) {
				es = append(es, e)
			}
		}
	}
	if sub.sel.HasPatterns() {
		for _, t := range h.topics {
			add(t)
		}
	} else {
		for _, name := range sub.Topics {
			add(h.topics[name])
		}
	}
	slices.SortFunc(es, byID)
	for _, e := range slices.Compact(es) {
		out = append(out, e.frame.Data)
	}
	return out
}

// rememberIDLocked makes e's publisher-given ID, if it has one, name it,
// unless an older event in history bears the same ID.
func (h *Hub) rememberIDLocked(e *entry) {
	if e.id == "" {
		return
	}
	if _, taken := h.ids[e.id]; !taken {
		h.ids[e.id] = e.frame.ID
	}
}

// forgetIDLocked forgets the publisher-given ID of e, which left history.
func (h *Hub) forgetIDLocked(e *entry) {
	if e.id != "" && h.ids[e.id] == e.frame.ID {
		delete(h.ids, e.id)
	}
}

// eventIDIn returns the value of the id line among the field lines that
// open an encoded event (before its first data line), "" if there is none.
func eventIDIn(event []byte) string {
	for len(event) > 0 {
		line, rest, _ := bytes.Cut(event, []byte("\n"))
		if id, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
			return string(id)
		}
		if len(line) == 0 || bytes.HasPrefix(line, []byte("data")) {
			return ""
		}
		event = rest
	}
	return ""
}
