package hub

import (
	"context"
	"slices"
	"time"
)

// Defaults of the idempotency window on a single node (without an event
// log, whose own duplicate window applies instead).
const (
	// DefaultIdempotencyWindow is how long a hub without an event log
	// remembers a publish's IdempotencyKey (Config.IdempotencyWindow).
	DefaultIdempotencyWindow = 2 * time.Minute
	// DefaultIdempotencyKeys is how many keys it remembers at most
	// (Config.IdempotencyKeys); past it the oldest are forgotten first.
	DefaultIdempotencyKeys = 100_000
)

// idempotency remembers, for a hub without an event log, what each recent
// publish that carried an IdempotencyKey answered, so that a retry with the
// same key answers the same and publishes nothing. Keys are forgotten
// after window, and the oldest first once more than max are held: memory
// stays bounded however many keys publishers send. It is guarded by the
// hub's mu, under which the check and the publish happen as one step, so
// that two concurrent publishes with one key publish once.
type idempotency struct {
	window time.Duration
	max    int
	byKey  map[string]Published
	order  []remembered // oldest first; keys expire in this order
	head   int          // order[:head] is forgotten
}

type remembered struct {
	key string
	at  time.Time
}

func newIdempotency(window time.Duration, max int) *idempotency {
	return &idempotency{window: window, max: max, byKey: make(map[string]Published)}
}

// lookup returns the answer remembered for key at now, if any.
func (c *idempotency) lookup(key string, now time.Time) (Published, bool) {
	c.expire(now)
	p, ok := c.byKey[key]
	return p, ok
}

// remember keeps p as key's answer from now on. p is copied, so that the
// caller may hand its own slices out.
func (c *idempotency) remember(key string, p Published, now time.Time) {
	if c.max <= 0 || c.window <= 0 {
		return
	}
	c.byKey[key] = clonePublished(p)
	c.order = append(c.order, remembered{key: key, at: now})
	for len(c.byKey) > c.max {
		c.forgetOldest()
	}
}

// expire forgets the keys older than the window.
func (c *idempotency) expire(now time.Time) {
	for c.head < len(c.order) && now.Sub(c.order[c.head].at) >= c.window {
		c.forgetOldest()
	}
}

func (c *idempotency) forgetOldest() {
	delete(c.byKey, c.order[c.head].key)
	c.order[c.head] = remembered{}
	c.head++
	if c.head > 1024 && c.head*2 > len(c.order) {
		// Reclaim the forgotten front once it is most of the slice.
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
}

// clonePublished returns p with its own slices, for a caller to keep.
func clonePublished(p Published) Published {
	p.IDs, p.Topics = slices.Clone(p.IDs), slices.Clone(p.Topics)
	return p
}

// KeyedAppender is an optional ability of an EventLog (Config.Log), found
// by type assertion: it tells a publish under a new IdempotencyKey from
// one under a key used before, and recalls what the first one stored, so
// that in a cluster a repeated key answers the first publish's result,
// its topics included, as a single hub does. Without it, the log's
// duplicate window still stores each event once, but the answer names
// the repeated publish's own topics.
type KeyedAppender interface {
	// AppendKeyed stores m, the first of events entries of one publish
	// under key, as Append does under the key key+"#0". When that key was
	// stored within the engine's duplicate window, it stores nothing and
	// returns, as first, what the first publish under key stored (first
	// is nil when the log no longer holds it, or when the key is new).
	AppendKeyed(ctx context.Context, m LogMessage, key string, events int) (seq uint64, first *FirstPublish, err error)
}

// FirstPublish is what the first publish under an IdempotencyKey stored,
// as a KeyedAppender recalls it.
type FirstPublish struct {
	// Topics and Private are the first publish's.
	Topics  []string
	Private bool
	// Events is how many events it had; Seqs the sequences of those the
	// log stored and still holds, in order (at least the first). Fewer
	// Seqs than Events: it failed part of the way, and a retry stores
	// the rest.
	Events int
	Seqs   []uint64
}

// appendFirst stores m, the first of events entries of a publish under
// key, through the log's KeyedAppender if it has one (first then tells a
// repeated key), or else as Append does under key+"#0".
func (h *Hub) appendFirst(ctx context.Context, m LogMessage, key string, events int) (seq uint64, first *FirstPublish, err error) {
	if ka, ok := h.follow.log.(KeyedAppender); ok {
		return ka.AppendKeyed(ctx, m, key, events)
	}
	seq, err = h.follow.log.Append(ctx, m, key+"#0")
	return seq, nil, err
}

// retry reports whether a publish to topics, as private or not, under
// the key of f completes f: f went to the same topics, alike, and failed
// part of the way. Otherwise the publish answers f and stores nothing.
func (f *FirstPublish) retry(topics []string, private bool) bool {
	return len(f.Seqs) < f.Events && f.Private == private && slices.Equal(f.Topics, topics)
}

// answerFirst is the answer to a publish under a key that first stored
// f: its IDs and topics, and the subscribers this node offered its first
// event to once it applied them.
func (h *Hub) answerFirst(ctx context.Context, f *FirstPublish) Published {
	out := Published{Topics: slices.Clone(f.Topics), IDs: make([]string, len(f.Seqs))}
	for i, seq := range f.Seqs {
		out.IDs[i] = h.EventID(seq)
	}
	if h.awaitApplied(ctx, f.Seqs[len(f.Seqs)-1]) {
		h.mu.Lock()
		if o := h.follow.offered[f.Seqs[0]%offers]; o.seq == f.Seqs[0] {
			out.Subscribers = o.subs
		}
		h.mu.Unlock()
	}
	return out
}
