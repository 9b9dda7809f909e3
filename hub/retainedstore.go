package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RetainedStore is an optional ability of an EventLog (Config.Log), found
// by type assertion: it keeps each topic's retained state apart from the
// log's entries, compacted to the latest, so that the state outlives the
// log's limits (max age, messages, bytes): a node started at any time
// loads every topic's state from it, then applies what the log holds on
// top. The node that publishes a retained event (or clears a topic's
// state) stores its topics' state once it applied the publish.
type RetainedStore interface {
	// LoadRetained calls fn with the record of every topic the store
	// holds, in no particular order, and stops at fn's first error.
	LoadRetained(ctx context.Context, fn func(RetainedRecord) error) error
	// StoreRetained makes rec its topic's record, unless the store holds
	// one of the same Epoch with a Seq of at least rec.Seq (a node that
	// applied more of the log stored it first).
	StoreRetained(ctx context.Context, rec RetainedRecord) error
}

// RetainedRecord is one topic's retained state as a RetainedStore keeps
// it.
type RetainedRecord struct {
	Topic string
	// Epoch and Seq say how far into the log the state goes: it includes
	// every entry of Epoch up to Seq.
	Epoch string
	Seq   uint64
	// State is the hub's encoding of the state; empty when the topic has
	// none (it was cleared).
	State []byte
}

// loadRetained loads the retained state of every topic from l's
// RetainedStore, if it has one, before the hub follows the log: entries
// of the log's epoch up to a topic's record are then not applied to that
// topic again. A record that cannot be read is skipped with a warning.
func (h *Hub) loadRetained(l EventLog) error {
	rs, ok := l.(RetainedStore)
	if !ok {
		return nil
	}
	// No deadline of its own: the store bounds each of its requests, and
	// the time grows with the number of topics.
	ctx := context.Background()
	began := time.Now()
	var saved []snapshotRetained
	at := make(map[string]uint64)
	err := rs.LoadRetained(ctx, func(rec RetainedRecord) error {
		if err := ValidateTopic(rec.Topic); err != nil {
			h.cfg.Logger.Warn("hub: skipping a stored retained state", keyTopic, rec.Topic, keyErr, err)
			return nil
		}
		if rec.Epoch == h.epoch {
			at[rec.Topic] = rec.Seq
		}
		if len(rec.State) == 0 {
			return nil
		}
		var sr snapshotRetained
		err := json.Unmarshal(rec.State, &sr)
		if err == nil {
			sr.Topic = rec.Topic
			err = checkRetained([]snapshotRetained{sr})
		}
		if err != nil {
			h.cfg.Logger.Warn("hub: skipping a stored retained state", keyTopic, rec.Topic, keyErr, err)
			return nil
		}
		saved = append(saved, sr)
		return nil
	})
	if err != nil {
		return fmt.Errorf("hub: load retained state: %w", err)
	}
	h.retained.load(saved)
	h.retained.setLoaded(at)
	h.cfg.Logger.Info("hub: retained state loaded", keyTopics, len(saved), keyTook, time.Since(began))
	return nil
}

// Log keys of the retained store's lines.
const (
	keyTopic  = "topic"  // the topic a line is about
	keyTopics = "topics" // how many topics
	keyTook   = "took"   // how long it took
)

// storeRetained stores the retained state of topics, as this node holds
// it now, in the log's RetainedStore if it has one. Call it once this
// node applied the entry that changed them. A failure is logged: the
// publish itself is stored, and a node started later gets the state from
// the log for as long as the log holds that entry.
func (h *Hub) storeRetained(ctx context.Context, topics []string) {
	rs, ok := h.follow.log.(RetainedStore)
	if !ok {
		return
	}
	// The publish succeeded: its publisher going away must not skip this.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logTimeout)
	defer cancel()
	recs := make([]RetainedRecord, len(topics))
	states := make([]*snapshotRetained, len(topics))
	h.mu.Lock()
	for i, name := range topics {
		recs[i] = RetainedRecord{Topic: name, Epoch: h.epoch, Seq: h.seq}
		if t := h.retained.topics[name]; t != nil {
			sr := t.saved("") // the record names its topic
			states[i] = &sr
		}
	}
	h.mu.Unlock()
	// Encoded without the hub's lock: the state's bytes are never changed
	// in place, only replaced.
	for i, rec := range recs {
		if states[i] != nil {
			rec.State = encodeRetained(states[i])
		}
		if err := rs.StoreRetained(ctx, rec); err != nil {
			h.cfg.Logger.Warn("hub: retained state not stored; nodes started later get it only while the event log holds its events",
				keyTopic, rec.Topic, keySeq, rec.Seq, keyErr, err)
		}
	}
}

// encodeRetained returns a topic's state in the encoding of
// RetainedRecord.
func encodeRetained(sr *snapshotRetained) []byte {
	b, err := json.Marshal(sr)
	if err != nil {
		panic(err) // strings, byte slices and numbers always marshal
	}
	return b
}

// setLoaded notes, for each topic, the log sequence up to which its
// loaded state already includes the log's entries.
func (r *retainedState) setLoaded(at map[string]uint64) {
	r.loaded, r.loadedMax = at, 0
	for _, seq := range at {
		r.loadedMax = max(r.loadedMax, seq)
	}
}

// unloaded returns those of topics whose loaded state does not include
// the entry seq yet (all of them once seq is past every loaded state).
func (r *retainedState) unloaded(topics []string, seq uint64) []string {
	if r.loaded == nil {
		return topics
	}
	if seq > r.loadedMax {
		r.loaded = nil
		return topics
	}
	var out []string
	for _, name := range topics {
		if seq > r.loaded[name] {
			out = append(out, name)
		}
	}
	return out
}
