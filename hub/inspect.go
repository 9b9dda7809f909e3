package hub

import (
	"sort"
	"strings"
)

// What the dashboard shows of one topic: its newest events and retained
// element patches, read as subscribers get them, and the reserved topics
// pages follow (a topic view is one).

// RecentEvent is one event of a topic's history.
type RecentEvent struct {
	// Frame is the event as subscribers get it, its id line first. It is
	// shared with the history: the caller must not change it.
	Frame []byte
	// Private: only subscribers granted the topic's private events get it.
	Private bool
}

// Recent returns up to n of topic's newest events in history, newest
// first, with the private ones only if private is true.
func (h *Hub) Recent(topic string, n int, private bool) []RecentEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[topic]
	if t == nil || n <= 0 {
		return nil
	}
	var out []RecentEvent
	for i := t.events.n - 1; i >= 0 && len(out) < n; i-- {
		if e := t.events.at(i); !e.frame.Private || private {
			out = append(out, RecentEvent{Frame: e.frame.Data, Private: e.frame.Private})
		}
	}
	return out
}

// RetainedElements returns topic's public retained element patches, in
// publish order, each an encoded patch-elements event without an id
// line, as a subscriber without Last-Event-ID gets them first. They are
// shared with the retained state: the caller must not change them.
func (h *Hub) RetainedElements(topic string) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.retained.topics[topic]
	if t == nil {
		return nil
	}
	var out [][]byte
	for _, p := range t.elems {
		if !p.private {
			out = append(out, p.data)
		}
	}
	return out
}

// Followed returns the reserved topics (see Reserved) whose names start
// with prefix and that have subscribers on this node, sorted: the hub's
// own pages publish to them only while someone follows them. It costs in
// proportion to the reserved topics, not to all topics.
func (h *Hub) Followed(prefix string) []string {
	h.mu.Lock()
	var out []string
	for name, t := range h.reserved {
		if strings.HasPrefix(name, prefix) && t.group.Len() > 0 {
			out = append(out, name)
		}
	}
	h.mu.Unlock()
	sort.Strings(out)
	return out
}

// Topic describes one topic as Topics does; a topic the hub does not
// track (no subscribers, no history) has only its name.
func (h *Hub) Topic(name string) TopicInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	info := TopicInfo{Name: name}
	if t := h.topics[name]; t != nil {
		info.Subscribers, info.History = t.group.Len(), t.events.n
	}
	return info
}
