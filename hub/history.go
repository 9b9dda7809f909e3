package hub

import (
	"cmp"
	"slices"

	"github.com/hubd-dev/hubd/broadcast"
)

// The history keeps the newest events for replay, within three bounds:
//
//   - per topic (Config.HistoryPerTopic): a topic that would hold more
//     events than that drops its own oldest one;
//   - in total, by count (Config.HistorySize) and by encoded size
//     (Config.HistoryBytes): while either is exceeded, the topic that holds
//     the most events drops its oldest one.
//
// So a topic loses events to the totals only while no other topic holds
// more events than it does: a flood on one topic trims that topic, not the
// quiet ones beside it.
//
// Each topic keeps its own events in a queue, oldest first, and an event
// published to several topics is one entry that each of their queues
// holds; it is gone once the last of them drops it. A topic's trimmed mark
// is the highest ID it dropped: its queue holds exactly its events above
// the mark. Topics are also listed by how many events they hold, so that
// the largest is found in constant time: every step below is O(1), and a
// publish costs amortised O(1) per topic it names.

// entry is one published event kept for replay. Its frame is the very
// frame the subscribers were offered.
type entry struct {
	frame  broadcast.Frame
	topics []string // of its publish (after a restart: those holding it); never modified
	held   int      // how many topics' queues hold it
	id     string   // the ID its publisher gave it (PublishOptions.EventID), if any
}

// queue is one topic's entries in history, oldest first: a ring that
// doubles when full and halves when a quarter full, so that a topic that
// once held many events does not keep their room.
type queue struct {
	ring  []*entry
	start int // ring index of the oldest entry
	n     int // entries held
}

func (q *queue) at(i int) *entry { return q.ring[(q.start+i)%len(q.ring)] }

func (q *queue) push(e *entry) {
	if q.n == len(q.ring) {
		q.resize(max(4, 2*len(q.ring)))
	}
	q.ring[(q.start+q.n)%len(q.ring)] = e
	q.n++
}

func (q *queue) pop() *entry {
	e := q.ring[q.start]
	q.ring[q.start] = nil
	q.start = (q.start + 1) % len(q.ring)
	q.n--
	if len(q.ring) > 4 && q.n <= len(q.ring)/4 {
		q.resize(len(q.ring) / 2)
	}
	return e
}

// resize moves the entries to a ring of size room, at least q.n.
func (q *queue) resize(room int) {
	ring := make([]*entry, room)
	for i := range q.n {
		ring[i] = q.at(i)
	}
	q.ring, q.start = ring, 0
}

// after returns the index of the oldest entry whose ID is above id (n if
// there is none). IDs increase along the queue.
func (q *queue) after(id uint64) int {
	lo, hi := 0, q.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if q.at(mid).frame.ID <= id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// history holds the totals and the topics listed by size; the entries
// themselves are in the topics' queues.
type history struct {
	perTopic  int   // events one topic may hold; 0: no bound
	maxEvents int   // events in all; 0 keeps none
	maxBytes  int64 // encoded bytes in all; 0: no bound
	n         int   // entries held by at least one topic
	bytes     int64 // their encoded size

	// bySize[k] lists the topics holding k events (k >= 1), in the order
	// they came to hold k; largest is the highest k with a topic, 0 when
	// the history is empty.
	bySize  []topicList
	largest int
}

// topicList is a list of topics linked through topic.prev and topic.next.
type topicList struct{ head, tail *topic }

func (l *topicList) append(t *topic) {
	t.prev, t.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
}

func (l *topicList) remove(t *topic) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	t.prev, t.next = nil, nil
}

func newHistory(cfg Config) *history {
	hs := &history{maxEvents: max(cfg.HistorySize, 0), maxBytes: max(cfg.HistoryBytes, 0)}
	if cfg.HistoryPerTopic > 0 {
		hs.perTopic = cfg.HistoryPerTopic
	}
	return hs
}

// over reports whether a total bound is exceeded.
func (hs *history) over() bool {
	return hs.n > hs.maxEvents || hs.maxBytes > 0 && hs.bytes > hs.maxBytes
}

// resized moves t, whose queue held was entries and now holds one more or
// one less, to the list of its new size.
func (hs *history) resized(t *topic, was int) {
	if was > 0 {
		hs.bySize[was].remove(t)
	}
	k := t.events.n
	if k > 0 {
		for len(hs.bySize) <= k { // bySize[0] stays unused
			hs.bySize = append(hs.bySize, topicList{})
		}
		hs.bySize[k].append(t)
	}
	switch {
	case k > hs.largest:
		hs.largest = k
	case was == hs.largest && hs.bySize[was].head == nil:
		hs.largest = k // one less: nothing is left at was, nor above
	}
}

// holdLocked puts e, being published, in t's history, and makes t drop
// its oldest event if it now holds more than its bound. e must then be
// counted with addLocked.
func (h *Hub) holdLocked(t *topic, e *entry) {
	t.events.push(e)
	e.held++
	h.hist.resized(t, t.events.n-1)
	if p := h.hist.perTopic; p > 0 && t.events.n > p {
		h.dropOldestLocked(t)
	}
}

// addLocked counts e, which holdLocked put in its topics' histories, in the
// totals, then trims the history back within them: the topic holding the
// most events (of those holding as many, the one that came to that count
// first) drops its oldest, until both totals are respected, which may take
// e itself if it is larger than the byte bound.
func (h *Hub) addLocked(e *entry) {
	hs := h.hist
	hs.n++
	hs.bytes += int64(len(e.frame.Data))
	for hs.over() && hs.largest > 0 {
		h.dropOldestLocked(hs.bySize[hs.largest].head)
	}
}

// dropOldestLocked removes t's oldest event from its history and marks it
// trimmed there; the entry is gone once no topic holds it. A topic left
// with neither events nor subscribers is forgotten.
func (h *Hub) dropOldestLocked(t *topic) {
	e := t.events.pop()
	h.hist.resized(t, t.events.n+1)
	t.trimmed = max(t.trimmed, e.frame.ID)
	if e.held--; e.held == 0 {
		h.hist.n--
		h.hist.bytes -= int64(len(e.frame.Data))
		h.forgetIDLocked(e)
	}
	h.releaseLocked(t)
}

// replayLocked appends to out the frames of topics' events above last
// that a subscription granted private on private may see, in ID order,
// each once.
func (h *Hub) replayLocked(out [][]byte, topics, private []string, last uint64) [][]byte {
	if len(topics) == 1 { // the common case: one queue, already in order
		q, priv := &h.topics[topics[0]].events, len(private) > 0
		for i := q.after(last); i < q.n; i++ {
			if e := q.at(i); !e.frame.Private || priv {
				out = append(out, e.frame.Data)
			}
		}
		return out
	}
	var es []*entry
	for _, name := range topics {
		q, priv := &h.topics[name].events, slices.Contains(private, name)
		for i := q.after(last); i < q.n; i++ {
			if e := q.at(i); !e.frame.Private || priv {
				es = append(es, e)
			}
		}
	}
	slices.SortFunc(es, byID)
	for _, e := range slices.Compact(es) { // an event of several topics comes once
		out = append(out, e.frame.Data)
	}
	return out
}

func byID(a, b *entry) int { return cmp.Compare(a.frame.ID, b.frame.ID) }

// entriesLocked returns every entry in history, oldest first.
func (h *Hub) entriesLocked() []*entry {
	var es []*entry
	for _, t := range h.topics {
		for i := range t.events.n {
			es = append(es, t.events.at(i))
		}
	}
	slices.SortFunc(es, byID)
	return slices.Compact(es) // an entry that several topics hold, once
}
