package hub

import (
	"sort"
	"sync/atomic"
)

// counters are the hub's running totals, updated without the lock.
type counters struct {
	publishes atomic.Uint64
	events    atomic.Uint64
	queued    atomic.Uint64
	evictions atomic.Uint64
	pruned    atomic.Uint64
	replayed  atomic.Uint64
	written   atomic.Uint64
}

// Stats is a snapshot of the hub's state and running totals.
type Stats struct {
	Clients      int    // open subscriptions
	Topics       int    // topics with subscribers or history
	Publishes    uint64 // successful Publish calls
	Events       uint64 // events published
	Deliveries   uint64 // frames queued for subscribers
	Evictions    uint64 // subscribers evicted for a full buffer
	Pruned       uint64 // subscribers dropped because they were gone: a write failed or timed out, or the client hung up
	Replayed     uint64 // events replayed from history
	BytesWritten uint64 // bytes written to subscribers
	HistoryLen   int    // events in the history
	HistoryBytes int64  // encoded size of the history
	LastID       string // ID of the newest event
	// Lag is, with an event log that keeps counters, how many events
	// the log is known to hold beyond the newest one this node applied.
	Lag uint64
}

// Stats returns a snapshot of the hub.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	st := Stats{
		Clients:      len(h.clients),
		Topics:       len(h.topics),
		HistoryLen:   h.hist.n,
		HistoryBytes: h.hist.bytes,
		LastID:       h.EventID(h.seq),
	}
	applied := h.seq
	h.mu.Unlock()
	if ls, ok := h.LogStats(); ok && ls.LastSeq > applied {
		st.Lag = ls.LastSeq - applied
	}
	st.Publishes = h.stats.publishes.Load()
	st.Events = h.stats.events.Load()
	st.Deliveries = h.stats.queued.Load()
	st.Evictions = h.stats.evictions.Load()
	st.Pruned = h.stats.pruned.Load()
	st.Replayed = h.stats.replayed.Load()
	st.BytesWritten = h.stats.written.Load()
	return st
}

// TopicInfo describes one topic.
type TopicInfo struct {
	Name        string `json:"name"`
	Subscribers int    `json:"subscribers"`
	History     int    `json:"history"` // events of the topic in history
}

// Topics lists the topics with subscribers or history, most subscribed
// first, at most limit of them (all if limit <= 0).
func (h *Hub) Topics(limit int) []TopicInfo {
	h.mu.Lock()
	out := make([]TopicInfo, 0, len(h.topics))
	for name, t := range h.topics {
		out = append(out, TopicInfo{Name: name, Subscribers: t.group.Len(), History: t.events.n})
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subscribers != out[j].Subscribers {
			return out[i].Subscribers > out[j].Subscribers
		}
		return out[i].Name < out[j].Name
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// RecordWrite counts bytes written to a subscriber; the HTTP layer calls it.
func (h *Hub) RecordWrite(n int) { h.stats.written.Add(uint64(n)) }

// RecordPrune counts a subscriber dropped because it was gone (a write to
// it failed or timed out, or it hung up); the HTTP layer calls it.
func (h *Hub) RecordPrune() { h.stats.pruned.Add(1) }
