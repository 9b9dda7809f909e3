package hub

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/net/html"

	"github.com/hubd-dev/hubd/sse"
)

// Retained state: what a page that subscribes late needs to be current.
//
// A publish with PublishOptions.Retain also updates its topics' retained
// state, as it is delivered (on a cluster node, as the node applies it
// from the log, so every node derives the same state):
//
//   - signals: every retained patch-signals of a topic is merged into one
//     object per topic with JSON Merge Patch (RFC 7396: null removes a
//     key, objects merge key by key, anything else replaces); with
//     onlyIfMissing, only keys the object lacks are set;
//   - elements: the newest retained patch-elements per topic and target
//     (its selector, or else the IDs of its top-level elements) and mode
//     is kept; a retained remove deletes the kept patches of its target
//     and is not kept itself. Scripts are refused (ErrRetainScript).
//
// A subscriber without a Last-Event-ID gets the state first (one
// patch-signals event, then the kept element patches in publish order),
// and one whose replay has a gap gets it right after the MissedSignal.
// Private retained publishes are kept apart: only a subscriber granted a
// topic's private events gets them in its state.
//
// With an event log, each node derives the state from the entries it
// applies, so the bounds are checked against the publishing node's state
// (nodes apply what the log stored without checking again). A node that
// starts follows the log from the newest Config.HistorySize entries, and
// the log's own limits (max age, messages, bytes) drop older events; so
// when the log is also a RetainedStore (see retainedstore.go), the node
// that publishes a retained event, or clears a topic, stores the topics'
// state there once it applied it, and a node that starts loads every
// topic's state from it before following the log. Without one, a topic
// whose retained events are older than what the log holds is not
// retained on a node started since.

// Defaults for the retained state's bounds (Config.RetainedTopicBytes,
// Config.RetainedBytes).
const (
	DefaultRetainedTopicBytes = 64 << 10
	DefaultRetainedBytes      = 16 << 20
)

// Errors of retained publishes. A publish that fails with one of them
// published nothing.
var (
	// ErrRetainedTopicFull: the publish would grow one topic's retained
	// state past Config.RetainedTopicBytes.
	ErrRetainedTopicFull = errors.New("hub: retained state of the topic would exceed its bound")
	// ErrRetainedFull: the publish would grow the retained state of all
	// topics together past Config.RetainedBytes.
	ErrRetainedFull = errors.New("hub: retained state would exceed its total bound")
	// ErrRetainScript: a script cannot be retained (running it again for
	// every late joiner is not state).
	ErrRetainScript = errors.New("hub: a script cannot be retained")
	// ErrRetainTarget: a retained element patch has neither a selector nor
	// top-level elements with an id, so it has no target to be kept by.
	ErrRetainTarget = errors.New("hub: a retained element patch needs a selector or top-level elements with an id")
)

// errRetainSignals: retained signals must be a JSON object (the encoder
// already refuses anything else).
var errRetainSignals = errors.New("hub: retained signals must be a JSON object")

// retainOp is what one encoded event does to the retained state.
type retainOp struct {
	signals []byte // patch-signals: the patch (a JSON object)
	missing bool   // patch-signals with onlyIfMissing
	target  string // patch-elements: the selector, or "#id #id" of its top-level elements
	mode    string // patch-elements: its mode (outer if none)
	data    []byte // patch-elements: the encoded event without an id line
}

// retainOpOf reads an encoded event (without its id line) as the hub
// encodes it, and says what retaining it does.
func retainOpOf(data []byte) (retainOp, error) {
	var typ string
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "event":
			typ = value
		case "data":
			k, v, _ := strings.Cut(value, " ")
			if old, ok := fields[k]; ok {
				v = old + "\n" + v
			}
			fields[k] = v
		}
	}
	switch typ {
	case sse.EventPatchSignals:
		sig := []byte(fields["signals"])
		var obj map[string]any
		if err := json.Unmarshal(sig, &obj); err != nil || obj == nil {
			return retainOp{}, errRetainSignals
		}
		return retainOp{signals: sig, missing: fields["onlyIfMissing"] == "true"}, nil
	case sse.EventPatchElements:
		mode := fields["mode"]
		if mode == "" {
			mode = string(sse.ModeOuter)
		}
		ids, script := topLevel(fields["elements"])
		if script {
			return retainOp{}, ErrRetainScript
		}
		target := fields["selector"]
		if target == "" {
			if len(ids) == 0 {
				return retainOp{}, ErrRetainTarget
			}
			target = "#" + strings.Join(ids, " #")
		}
		return retainOp{target: target, mode: mode, data: slices.Clip(data)}, nil
	}
	return retainOp{}, fmt.Errorf("hub: event %q cannot be retained", typ)
}

// topLevel returns the id attributes of the top-level elements of an
// HTML fragment, and whether one of them is a script.
func topLevel(fragment string) (ids []string, script bool) {
	z := html.NewTokenizer(strings.NewReader(fragment))
	depth := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ids, script
		case html.StartTagToken, html.SelfClosingTagToken:
			tt := z.Token()
			if depth == 0 {
				if tt.Data == "script" {
					script = true
				}
				for _, a := range tt.Attr {
					if a.Key == "id" && a.Val != "" {
						ids = append(ids, a.Val)
					}
				}
			}
			if tt.Type == html.StartTagToken && !voidElement(tt.Data) {
				depth++
			}
		case html.EndTagToken:
			depth = max(depth-1, 0)
		}
	}
}

func voidElement(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr":
		return true
	}
	return false
}

// retainedPatch is one kept element patch. It is immutable once made, and
// shared by the topics it was published to.
type retainedPatch struct {
	seq     uint64
	target  string
	mode    string
	private bool
	data    []byte
}

// retainedTopic is one topic's retained state. It is copied, not changed,
// by a publish, so that a publish refused for its bounds leaves it as it
// was.
type retainedTopic struct {
	public []byte // merged public signals ("" when none)
	all    []byte // merged public and private signals; nil while no private signals were retained
	elems  []*retainedPatch
	size   int64
}

func (t *retainedTopic) measure() {
	t.size = int64(len(t.public) + len(t.all))
	for _, p := range t.elems {
		t.size += int64(len(p.data) + len(p.target) + len(p.mode))
	}
}

func (t *retainedTopic) empty() bool {
	return noSignals(t.public) && noSignals(t.all) && len(t.elems) == 0
}

func noSignals(obj []byte) bool { return len(obj) == 0 || string(obj) == "{}" }

// retainedState is the retained state of every topic. Guarded by Hub.mu.
type retainedState struct {
	topics map[string]*retainedTopic
	bytes  int64
	// loaded: with a RetainedStore, the log sequence up to which each
	// topic's loaded state includes the log's entries, until the
	// follower passed loadedMax (see retainedstore.go).
	loaded    map[string]uint64
	loadedMax uint64
}

// retainChange is a prepared change of some topics' state.
type retainChange struct {
	next map[string]*retainedTopic
}

// prepare applies ops, published privately or not as events with IDs
// from firstSeq on, to copies of topics' states, and checks the bounds
// (topicMax, totalMax; not positive: none) unless force. It changes
// nothing: commit does.
func (r *retainedState) prepare(topics []string, private bool, ops []retainOp, firstSeq uint64, topicMax, totalMax int64, force bool) (retainChange, error) {
	c := retainChange{next: make(map[string]*retainedTopic, len(topics))}
	patches := make([]*retainedPatch, len(ops))
	for i, op := range ops {
		if op.data != nil && op.mode != string(sse.ModeRemove) {
			patches[i] = &retainedPatch{seq: firstSeq + uint64(i), target: op.target, mode: op.mode, private: private, data: op.data}
		}
	}
	total := r.bytes
	for _, name := range topics {
		t := &retainedTopic{}
		var oldSize int64
		if old := r.topics[name]; old != nil {
			*t = *old
			t.elems = slices.Clone(old.elems)
			oldSize = old.size
			total -= old.size
		}
		for i, op := range ops {
			if err := t.apply(op, private, patches[i]); err != nil {
				return retainChange{}, err
			}
		}
		t.measure()
		total += t.size
		// A topic already over its bound (the bound was lowered) may
		// still shrink.
		if !force && topicMax > 0 && t.size > topicMax && t.size > oldSize {
			return retainChange{}, fmt.Errorf("topic %q: %d bytes, more than the limit of %d (retained-topic-bytes): %w", name, t.size, topicMax, ErrRetainedTopicFull)
		}
		c.next[name] = t
	}
	if !force && totalMax > 0 && total > totalMax && total > r.bytes {
		return retainChange{}, fmt.Errorf("%d bytes in all, more than the limit of %d (retained-bytes): %w", total, totalMax, ErrRetainedFull)
	}
	return c, nil
}

// apply changes t (a copy) by one op.
func (t *retainedTopic) apply(op retainOp, private bool, p *retainedPatch) error {
	if op.signals != nil {
		var err error
		if private {
			base := t.all
			if base == nil {
				base = t.public
			}
			t.all, err = mergeJSON(base, op.signals, op.missing)
		} else {
			t.public, err = mergeJSON(t.public, op.signals, op.missing)
			if err == nil && t.all != nil {
				t.all, err = mergeJSON(t.all, op.signals, op.missing)
			}
		}
		return err
	}
	remove := op.mode == string(sse.ModeRemove)
	t.elems = slices.DeleteFunc(t.elems, func(q *retainedPatch) bool {
		if q.target != op.target {
			return false
		}
		if remove {
			// A public remove clears the target for everyone; a private
			// one only what was private.
			return !private || q.private
		}
		return q.mode == op.mode && q.private == private
	})
	if p != nil {
		t.elems = append(t.elems, p)
	}
	return nil
}

// commit makes c the state.
func (r *retainedState) commit(c retainChange) {
	if r.topics == nil {
		r.topics = make(map[string]*retainedTopic)
	}
	for name, t := range c.next {
		if old := r.topics[name]; old != nil {
			r.bytes -= old.size
		}
		if t.empty() {
			delete(r.topics, name)
			continue
		}
		r.topics[name] = t
		r.bytes += t.size
	}
}

// clear forgets a topic's state, reporting whether it had any.
func (r *retainedState) clear(name string) bool {
	t := r.topics[name]
	if t == nil {
		return false
	}
	r.bytes -= t.size
	delete(r.topics, name)
	return true
}

// frames returns the state of topics as a subscriber granted the private
// events of private sees it: one patch-signals event with the topics'
// signals merged, in topic order, then their kept element patches in
// publish order, each once. The frames have no id line.
func (r *retainedState) frames(topics, private []string) [][]byte {
	var signals []byte
	var elems []*retainedPatch
	for _, name := range topics {
		t := r.topics[name]
		if t == nil {
			continue
		}
		granted := slices.Contains(private, name)
		sig := t.public
		if granted && t.all != nil {
			sig = t.all
		}
		if len(sig) > 0 {
			if signals == nil {
				signals = sig
			} else if merged, err := mergeJSON(signals, sig, false); err == nil {
				signals = merged
			}
		}
		for _, p := range t.elems {
			if (!p.private || granted) && !slices.ContainsFunc(elems, func(q *retainedPatch) bool { return q.seq == p.seq }) {
				elems = append(elems, p)
			}
		}
	}
	var out [][]byte
	if !noSignals(signals) {
		e, err := sse.PatchSignals{Signals: signals}.Event()
		if err == nil {
			if b, err := sse.AppendEvent(nil, &e); err == nil {
				out = append(out, b)
			}
		}
	}
	slices.SortFunc(elems, func(a, b *retainedPatch) int { return cmp.Compare(a.seq, b.seq) })
	for _, p := range elems {
		out = append(out, p.data)
	}
	return out
}

// mergeJSON returns target (a JSON object, or empty for none) merged with
// patch (a JSON object) by RFC 7396, or with missing only the keys target
// lacks, re-encoded.
func mergeJSON(target, patch []byte, missing bool) ([]byte, error) {
	t := map[string]any{}
	if len(target) > 0 {
		if err := decodeJSON(target, &t); err != nil {
			return nil, err
		}
	}
	var p map[string]any
	if err := decodeJSON(patch, &p); err != nil || p == nil {
		return nil, errRetainSignals
	}
	mergeInto(t, p, missing)
	return json.Marshal(t)
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers stay as they were written
	return d.Decode(v)
}

// mergeInto merges patch into target in place (RFC 7396 for an object
// patch); with missing it only adds keys target lacks, recursively.
func mergeInto(target, patch map[string]any, missing bool) {
	for k, v := range patch {
		old, had := target[k]
		if v == nil {
			if !missing {
				delete(target, k)
			}
			continue
		}
		po, patchIsObj := v.(map[string]any)
		if !patchIsObj {
			if !missing || !had {
				target[k] = v
			}
			continue
		}
		to, targetIsObj := old.(map[string]any)
		if !targetIsObj {
			if missing && had {
				continue
			}
			to = map[string]any{}
		}
		mergeInto(to, po, missing)
		target[k] = to
	}
}

// retainOps returns the retain ops of encoded events (each after room
// bytes), or an error naming the event that cannot be retained.
func retainOps(bufs [][]byte, room int) ([]retainOp, error) {
	ops := make([]retainOp, len(bufs))
	for i, b := range bufs {
		op, err := retainOpOf(b[room:])
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		ops[i] = op
	}
	return ops, nil
}

// ClearRetained forgets topic's retained state: later subscribers get
// none until the next retained publish. With an event log the clearing is
// stored in the log, so that every node forgets it, in the log's order
// with publishes; ctx bounds the wait for the log as for PublishContext.
// cleared reports whether this node held any state for the topic.
func (h *Hub) ClearRetained(ctx context.Context, topic string) (cleared bool, err error) {
	if err := ValidateTopic(topic); err != nil {
		return false, err
	}
	if h.follow != nil {
		h.mu.Lock()
		cleared = h.retained.topics[topic] != nil
		h.mu.Unlock()
		seq, err := h.follow.log.Append(ctx, LogMessage{Topics: []string{topic}, ClearRetained: true}, "")
		if err != nil {
			return false, fmt.Errorf("clear retained state of %q: %w", topic, err)
		}
		if h.awaitApplied(ctx, seq) {
			h.storeRetained(ctx, []string{topic})
		}
		return cleared, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retained.clear(topic), nil
}

// RetainedStats returns how many topics hold retained state, and its
// size in bytes, as counted against the bounds.
func (h *Hub) RetainedStats() (topics int, size int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.retained.topics), h.retained.bytes
}

// RetainedSignals returns a copy of topic's merged public retained
// signals, a JSON object, or nil when it holds none. A back end (such as
// the counter demo) reads its state back from the hub with it, so that the
// state survives a restart and is the same on every node of a cluster.
func (h *Hub) RetainedSignals(topic string) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.retained.topics[topic]
	if t == nil || noSignals(t.public) {
		return nil
	}
	return bytes.Clone(t.public)
}

// retainOpsFor returns the retain ops of a publish's encoded events, nil
// when it does not ask to retain.
func (h *Hub) retainOpsFor(opts PublishOptions, bufs [][]byte) ([]retainOp, error) {
	if !opts.Retain {
		return nil, nil
	}
	return retainOps(bufs, h.idPre)
}

// prepareRetainLocked prepares the change of a local publish whose events
// get IDs from firstSeq on, within the bounds; with no ops it changes
// nothing.
func (h *Hub) prepareRetainLocked(topics []string, private bool, ops []retainOp, firstSeq uint64) (retainChange, error) {
	if ops == nil {
		return retainChange{}, nil
	}
	return h.retained.prepare(topics, private, ops, firstSeq, h.cfg.RetainedTopicBytes, h.cfg.RetainedBytes, false)
}

// checkRetainLog refuses, before anything is stored in the event log, a
// retained publish whose ops (from retainOpsFor) would exceed the bounds
// given this node's state. Nodes apply what the log stores without
// checking again, so that they all derive the same state.
func (h *Hub) checkRetainLog(topics []string, private bool, ops []retainOp) error {
	if ops == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.prepareRetainLocked(topics, private, ops, h.seq+1)
	return err
}

// applyRetainedLocked applies a log entry that clears or updates the
// retained state of topics.
func (h *Hub) applyRetainedLocked(topics []string, e LogEntry) {
	if topics = h.retained.unloaded(topics, e.Seq); len(topics) == 0 {
		return // the loaded state includes it
	}
	if e.ClearRetained {
		for _, name := range topics {
			h.retained.clear(name)
		}
		return
	}
	// A copy: the state outlives the entry, whose bytes are the log's.
	op, err := retainOpOf(bytes.Clone(e.Data))
	if err == nil {
		var c retainChange
		c, err = h.retained.prepare(topics, e.Private, []retainOp{op}, e.Seq, 0, 0, true)
		h.retained.commit(c)
	}
	if err != nil {
		h.cfg.Logger.Warn("hub: not retaining an event log entry", keySeq, e.Seq, keyErr, err)
	}
}

// addRetainedLocked adds the retained state of sub's topics to its
// replay: all of it for a fresh subscriber, and after the MissedSignal
// for one whose replay has a gap, so that its page is current again.
func (h *Hub) addRetainedLocked(sub *Subscription, fresh bool) {
	if len(h.retained.topics) == 0 || !fresh && !sub.Missed {
		return
	}
	state := h.retained.frames(sub.Topics, sub.Private)
	if fresh {
		sub.Replay = append(state, sub.Replay...)
		return
	}
	// The MissedSignal frame is first.
	sub.Replay = slices.Insert(sub.Replay, 1, state...)
}

// save returns the state for a snapshot, topics in name order.
func (r *retainedState) save() []snapshotRetained {
	out := make([]snapshotRetained, 0, len(r.topics))
	for name, t := range r.topics {
		out = append(out, t.saved(name))
	}
	slices.SortFunc(out, func(a, b snapshotRetained) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// saved returns t, the state of topic name, as a snapshot keeps it.
func (t *retainedTopic) saved(name string) snapshotRetained {
	sr := snapshotRetained{Topic: name, Public: t.public, All: t.all}
	for _, p := range t.elems {
		sr.Elements = append(sr.Elements, snapshotPatch{Seq: p.seq, Target: p.target, Mode: p.mode, Private: p.private, Data: p.data})
	}
	return sr
}

// load restores a state that checkRetained accepted.
func (r *retainedState) load(saved []snapshotRetained) {
	c := retainChange{next: make(map[string]*retainedTopic, len(saved))}
	for _, sr := range saved {
		t := &retainedTopic{public: sr.Public, all: sr.All}
		for _, p := range sr.Elements {
			t.elems = append(t.elems, &retainedPatch{seq: p.Seq, target: p.Target, mode: p.Mode, private: p.Private, data: p.Data})
		}
		t.measure()
		c.next[sr.Topic] = t
	}
	r.commit(c)
}

// checkRetained refuses a snapshot's retained state that SaveHistory
// could not have written, naming what is wrong.
func checkRetained(saved []snapshotRetained) error {
	seen := map[string]bool{}
	for i, sr := range saved {
		if err := ValidateTopic(sr.Topic); err != nil || seen[sr.Topic] {
			return fmt.Errorf("%w: retained state %d: topic %q is invalid or repeated", ErrSnapshot, i, sr.Topic)
		}
		seen[sr.Topic] = true
		for _, sig := range [][]byte{sr.Public, sr.All} {
			var obj map[string]any
			if sig != nil && (json.Unmarshal(sig, &obj) != nil || obj == nil) {
				return fmt.Errorf("%w: retained signals of topic %q are not a JSON object", ErrSnapshot, sr.Topic)
			}
		}
		for j, p := range sr.Elements {
			op, err := retainOpOf(p.Data)
			if err != nil || op.data == nil || op.target != p.Target || op.mode != p.Mode {
				return fmt.Errorf("%w: retained element patch %d of topic %q does not match its target %q and mode %q", ErrSnapshot, j, sr.Topic, p.Target, p.Mode)
			}
		}
	}
	return nil
}
