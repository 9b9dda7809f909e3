package hub

import "github.com/hubd-dev/hubd/broadcast"

// entry is one published event kept for replay.
type entry struct {
	frame  *broadcast.Frame
	topics []string // shared by the events of one publish; never modified
}

// history is a ring of the newest events, bounded by count and bytes.
// Every event the hub publishes is appended, so the entries' IDs are
// consecutive: the entry with sequence number s is at s - first.
type history struct {
	ring     []entry
	start    int    // ring index of the oldest entry
	n        int    // entries held
	first    uint64 // sequence number of the oldest entry (next one when empty)
	bytes    int64
	maxBytes int64
}

func newHistory(maxEvents int, maxBytes int64) *history {
	return &history{ring: make([]entry, max(maxEvents, 0)), first: 1, maxBytes: maxBytes}
}

func (h *history) at(i int) *entry { return &h.ring[(h.start+i)%len(h.ring)] }

// push appends e and returns the entries pushed out to respect the bounds,
// oldest first, through drop.
func (h *history) push(e entry, drop func(seq uint64, e entry)) {
	if len(h.ring) == 0 {
		h.first = e.frame.ID + 1
		drop(e.frame.ID, e)
		return
	}
	if h.n == len(h.ring) {
		h.popOldest(drop)
	}
	*h.at(h.n) = e
	h.n++
	h.bytes += int64(len(e.frame.Data))
	for h.n > 0 && h.maxBytes > 0 && h.bytes > h.maxBytes {
		h.popOldest(drop)
	}
}

func (h *history) popOldest(drop func(seq uint64, e entry)) {
	old := h.at(0)
	e := *old
	*old = entry{}
	h.start = (h.start + 1) % len(h.ring)
	h.n--
	h.bytes -= int64(len(e.frame.Data))
	seq := h.first
	h.first++
	drop(seq, e)
}

// since calls fn for every entry with a sequence number above seq, oldest
// first.
func (h *history) since(seq uint64, fn func(e *entry)) {
	i := 0
	if seq >= h.first {
		i = int(seq - h.first + 1)
	}
	for ; i < h.n; i++ {
		fn(h.at(i))
	}
}
