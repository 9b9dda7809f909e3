package hub

import (
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
