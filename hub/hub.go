// Package hub keeps topics, their subscribers and their history. A publish
// is validated and encoded once, given the next event ID, appended to the
// history and offered to every subscriber of its topics without blocking. A
// subscribe registers the client and takes its replay from history in one
// atomic step, so that nothing published meanwhile is lost or repeated.
//
// With an event log (Config.Log, an EventLog such as package cluster's),
// several hubs behave as one: a publish is stored in the log, each hub
// follows the log and delivers its events exactly as above, in the log's
// order, and event IDs are the log's, so that they mean the same on every
// hub. Without one, everything stays in memory.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubd-dev/hubd/broadcast"
	"github.com/hubd-dev/hubd/heartbeat"
	"github.com/hubd-dev/hubd/sse"
)

// Defaults for Config's zero values.
const (
	DefaultHistorySize     = 10_000
	DefaultHistoryBytes    = 64 << 20
	DefaultHistoryPerTopic = 1000
	DefaultClientBuffer    = 64
	DefaultMaxLogReplay    = 10_000
)

// MissedSignal is the signal a subscriber's page receives, set to true,
// when it reconnects with a Last-Event-ID whose following events are no
// longer all in the history, or that this run of the hub cannot place (an
// ID of another run, such as one before a crash and restart). The events
// the history still holds follow it. The leading underscore keeps it out
// of the signals Datastar sends back.
const MissedSignal = "_hubdMissed"

// Errors of the hub.
var (
	ErrClosed   = errors.New("hub: closed")
	ErrNoEvents = errors.New("hub: no events to publish")
	ErrNoTopics = errors.New("hub: no topics")
	// ErrShutdown is the reason a subscription's channel is closed when the
	// hub shuts down.
	ErrShutdown = errors.New("hub: shutting down")
	// ErrNodeID is wrapped by the error for a node ID that ValidateNodeID
	// refuses.
	ErrNodeID = errors.New("hub: invalid node ID")
)

// MaxNodeIDLen is the longest node ID ValidateNodeID accepts.
const MaxNodeIDLen = 64

// ValidateNodeID returns nil if id can name a node: 1 to MaxNodeIDLen
// ASCII letters, digits, '.', '_' and '-' (a UUID qualifies), so that it is
// safe in logs, metrics labels, headers and stream subjects. Otherwise the
// error wraps ErrNodeID and says what is wrong.
func ValidateNodeID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrNodeID)
	case len(id) > MaxNodeIDLen:
		return fmt.Errorf("%w: %q is %d bytes, more than %d", ErrNodeID, id, len(id), MaxNodeIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has %q at byte %d; use only letters, digits, '.', '_' and '-'", ErrNodeID, id, c, i)
		}
	}
	return nil
}

// Config sets up a Hub. Its zero value is usable.
type Config struct {
	// HistorySize is how many of the newest events are kept for replay
	// (DefaultHistorySize if zero; negative keeps none). While it or
	// HistoryBytes is exceeded, the topic holding the most events drops its
	// oldest one: a topic loses events to these totals only while no other
	// topic holds more events than it does.
	HistorySize int
	// HistoryBytes bounds the history's encoded size (DefaultHistoryBytes
	// if zero; negative means no byte bound).
	HistoryBytes int64
	// HistoryPerTopic is how many of one topic's newest events are kept
	// at most (DefaultHistoryPerTopic if zero; negative means no bound per
	// topic, only the totals): a topic that would hold more drops its own
	// oldest event, however quiet the others are. An event published to
	// several topics counts for each of them.
	HistoryPerTopic int
	// ClientBuffer is how many frames may wait for one subscriber before it
	// counts as too slow and is evicted (DefaultClientBuffer if zero). A
	// frame is one event, or all the events of one Publish on a hub
	// without an event log; with one, each event is a frame.
	ClientBuffer int
	// Heartbeat is the interval between heartbeat frames
	// (heartbeat.DefaultInterval if zero).
	Heartbeat time.Duration
	// Logger receives the hub's rare logs; nil discards them.
	Logger *slog.Logger
	// NodeID names this node among the nodes sharing an event log, and in
	// what it reports about itself (see ValidateNodeID for what it may
	// hold). Empty leaves the node unnamed, which is fine for a hub on its
	// own; cmd/hubd always gives one.
	NodeID string
	// Log, if set, is the event log the nodes of a cluster share (see
	// EventLog): event IDs are then the log's epoch and sequences, a
	// publish is stored in the log and delivered by each node as it
	// follows the log, and a client's replay older than the history in
	// memory is read from the log. Nil keeps everything in memory, in this
	// process. The hub does not close it.
	Log EventLog
	// MaxLogReplay, with Log, bounds how many events one Subscribe reads
	// from the log (DefaultMaxLogReplay if zero; negative reads none), and
	// HistoryBytes, when positive, their size: a client further behind
	// gets the MissedSignal and the newest events, as when the history in
	// memory no longer holds what it missed. So a reconnect never holds
	// more than that in memory, however much the log keeps.
	MaxLogReplay int
	// RetainedTopicBytes bounds one topic's retained state, in bytes
	// (DefaultRetainedTopicBytes if zero; negative: no bound), and
	// RetainedBytes that of all topics together (DefaultRetainedBytes if
	// zero; negative: no bound). A retained publish that would exceed
	// either fails, publishing nothing. See retained.go.
	RetainedTopicBytes, RetainedBytes int64
	// IdempotencyWindow, without Log, is how long a publish's
	// IdempotencyKey is remembered (DefaultIdempotencyWindow if zero;
	// negative remembers none). With Log, the log's duplicate window
	// applies instead.
	IdempotencyWindow time.Duration
	// IdempotencyKeys, without Log, bounds how many keys are remembered
	// (DefaultIdempotencyKeys if zero; negative remembers none): past it the
	// oldest are forgotten first.
	IdempotencyKeys int
	// Version is the version of hubd this node runs, as it tells about
	// itself (NodeInfo); empty if unknown.
	Version string
}

// Validate returns every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.ClientBuffer < 0 {
		errs = append(errs, fmt.Errorf("client buffer %d: must not be negative", c.ClientBuffer))
	}
	if c.Heartbeat < 0 {
		errs = append(errs, fmt.Errorf("heartbeat %v: must not be negative", c.Heartbeat))
	}
	if c.NodeID != "" {
		if err := ValidateNodeID(c.NodeID); err != nil {
			errs = append(errs, fmt.Errorf("node ID: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.HistorySize == 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistoryBytes == 0 {
		c.HistoryBytes = DefaultHistoryBytes
	}
	if c.HistoryPerTopic == 0 {
		c.HistoryPerTopic = DefaultHistoryPerTopic
	}
	if c.ClientBuffer == 0 {
		c.ClientBuffer = DefaultClientBuffer
	}
	if c.MaxLogReplay == 0 {
		c.MaxLogReplay = DefaultMaxLogReplay
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = heartbeat.DefaultInterval
	}
	if c.IdempotencyWindow == 0 {
		c.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if c.IdempotencyKeys == 0 {
		c.IdempotencyKeys = DefaultIdempotencyKeys
	}
	if c.RetainedTopicBytes == 0 {
		c.RetainedTopicBytes = DefaultRetainedTopicBytes
	}
	if c.RetainedBytes == 0 {
		c.RetainedBytes = DefaultRetainedBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Hub is the in-memory event hub. All its methods are safe for concurrent
// use.
type Hub struct {
	cfg    Config
	epoch  string // distinguishes the event IDs of this run from others'
	idPre  int    // room to leave before an encoded event for its id line
	ticker *heartbeat.Ticker
	beat   *broadcast.Frame

	mu        sync.Mutex // guards everything below; never held while writing to a network
	seq       uint64     // ID of the newest event
	topics    map[string]*topic
	reserved  map[string]*topic // the topics whose names are Reserved, also in topics (see Followed)
	clients   map[*broadcast.Subscriber]*Subscription
	hist      *history
	forgotten uint64 // highest trimmed ID of topics no longer tracked
	draining  bool
	idem      *idempotency // remembered IdempotencyKeys, without an event log

	retained retainedState // guarded by mu; see retained.go

	// Subscriptions with a Selector (see select.go): those with patterns,
	// offered every event, and those that only read private events of
	// their exact topics, offered every private event.
	selected, readers map[*broadcast.Subscriber]*Subscription
	matching          patternCache      // per topic, the selected subscriptions whose patterns match it
	ids               map[string]uint64 // publisher-given event IDs in history: the first event bearing each

	active sync.WaitGroup // open subscriptions

	follow *follower // with Config.Log only; see log.go
	pres   presence  // see presence.go

	started time.Time // when New made the hub (NodeInfo.Started)
	nodes   nodes     // the cluster's other nodes; see nodes.go

	stats counters
}

// topic is one topic's subscribers and history (see history.go).
type topic struct {
	name    string
	group   broadcast.Group
	events  queue  // its events in history, oldest first
	trimmed uint64 // highest ID of this topic pushed out of history
	// neighbours in the history's list of topics holding as many events
	prev, next *topic
}

// New starts a hub and its heartbeat ticker. Stop it with Shutdown.
func New(cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hub config: %w", err)
	}
	cfg = cfg.withDefaults()
	epoch := strconv.FormatInt(time.Now().UnixMilli(), 36)
	h := &Hub{
		cfg:     cfg,
		epoch:   epoch,
		idPre:   idRoom(epoch),
		beat:    &broadcast.Frame{Data: heartbeat.Frame},
		topics:  make(map[string]*topic),
		clients: make(map[*broadcast.Subscriber]*Subscription),
		hist:    newHistory(cfg),
		idem:    newIdempotency(cfg.IdempotencyWindow, cfg.IdempotencyKeys),

		selected: make(map[*broadcast.Subscriber]*Subscription),
		readers:  make(map[*broadcast.Subscriber]*Subscription),
		ids:      make(map[string]uint64),
		started:  time.Now(),
	}
	if cfg.Log != nil {
		if err := h.startFollowing(cfg.Log); err != nil {
			return nil, err
		}
		if err := h.startPresence(cfg.Log); err != nil {
			_ = h.stopFollowing(context.Background())
			return nil, fmt.Errorf("share presence: %w", err)
		}
		if err := h.startNodes(cfg.Log); err != nil {
			h.stopPresence()
			_ = h.stopFollowing(context.Background())
			return nil, fmt.Errorf("share node info: %w", err)
		}
	}
	// The clock ticks twice per interval: see tick.
	h.ticker = heartbeat.Start(max(cfg.Heartbeat/2, 1), func(time.Time) { h.tick() })
	return h, nil
}

// Epoch returns the prefix of this run's event IDs: with an event log,
// the log's epoch, the same on every node.
func (h *Hub) Epoch() string { return h.epoch }

// NodeID returns the node ID the hub was configured with (Config.NodeID),
// or "" if it was given none. It never changes while the hub runs.
func (h *Hub) NodeID() string { return h.cfg.NodeID }

// idRoom is the room an event needs in front for its id line,
// "id: EPOCH-SEQ\n", with SEQ of up to 20 digits.
func idRoom(epoch string) int { return len("id: ") + len(epoch) + 1 + 20 + 1 }

// EventID returns the event ID string of sequence number seq.
func (h *Hub) EventID(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

// parseEventID returns the sequence number of an ID of this run; ok is
// false for an ID of another run or one that is not an event ID at all.
func (h *Hub) parseEventID(id string) (seq uint64, ok bool) {
	epoch, n, found := strings.Cut(id, "-")
	if !found || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// Published says what a publish did.
type Published struct {
	IDs         []string // the event IDs, in order
	Topics      []string
	Subscribers int // subscribers the events were offered to
}

// Publish delivers events, in order and atomically, to every subscriber of
// topics: each event is encoded once, gets the next event ID (any ID it
// carries is replaced) and is kept in the history. A subscriber of several
// of the topics gets each event once. When any topic or event is invalid,
// nothing is published and the error names it. Publish never waits for a
// subscriber: one whose buffer is full is evicted. Without an event log,
// the events of one Publish reach each subscriber as one frame, which
// takes one place in its buffer (Config.ClientBuffer).
func (h *Hub) Publish(topics []string, events ...sse.Eventer) (Published, error) {
	return h.publish(context.Background(), topics, PublishOptions{}, events)
}

// PublishPrivate publishes as Publish does, but its events reach (live and
// in replay) only the subscribers that were granted private access to one
// of topics when they subscribed (see WithPrivate).
func (h *Hub) PublishPrivate(topics []string, events ...sse.Eventer) (Published, error) {
	return h.publish(context.Background(), topics, PublishOptions{Private: true}, events)
}

// PublishOptions are the options of PublishContext. The zero value
// publishes as Publish does.
type PublishOptions struct {
	// Private publishes as PublishPrivate does.
	Private bool
	// IdempotencyKey makes a retry of the same publish answer the first
	// one's result and publish nothing. Without an event log, the hub
	// remembers each key's answer for Config.IdempotencyWindow (at most
	// Config.IdempotencyKeys keys): a publish with a remembered key answers
	// that (IDs, Topics and Subscribers as the first publish had them),
	// whatever its topics and events, and delivers nothing. A batch is one
	// unit. With an event log (Config.Log), a retry within the log's
	// duplicate window stores its events once and answers the same IDs:
	// event i is stored under the key IdempotencyKey + "#" + i. When the
	// log recalls keys (a KeyedAppender), a publish under a used key
	// answers the first publish's IDs and Topics and stores nothing, as on
	// a single node, unless the first one failed part of the way and this
	// one has its topics: it then stores the rest. Keys are the caller's:
	// one that serves several publishers scopes them.
	IdempotencyKey string
	// EventID, with one event, is the ID its subscribers see and may send
	// back as Last-Event-ID, instead of the hub's own (which the event
	// still carries first, so that replay and history work as for any
	// event): a publisher-given ID, as the Mercure protocol has them. It
	// is answered in Published.IDs. While the event is in history, a
	// Subscribe with it as lastEventID replays what came after it; when
	// several events bear it, the first one counts (a later one is not
	// found once the first has left history). It must not hold CR, LF or
	// NUL.
	EventID string
	// OpaqueTopics validates topics with ValidateOpaqueTopic instead of
	// ValidateTopic: for protocols whose topics are IRIs or any string.
	OpaqueTopics bool
	// Retain also keeps the events in their topics' retained state, for
	// subscribers that come later (see retained.go). A script cannot be
	// retained; a publish that would exceed the retained bounds fails with
	// ErrRetainedTopicFull or ErrRetainedFull and publishes nothing.
	Retain bool
}

// PublishContext publishes as Publish does, with options. Without an
// event log ctx is not used: a publish never waits. With one (Config.Log),
// each event is stored in the log as one entry (a batch of N events is N
// entries, which other nodes' events may come between), and
// PublishContext returns once the log stored them all and this node
// delivered them, so that the answer's Subscribers count holds and a
// subscribe to this node after it sees the events. It waits for the log
// at most until ctx ends; an error wrapping ErrLogUnavailable means the
// log could not be reached: the events from the one it names on were not
// stored (retry with the same IdempotencyKey). If this node is slow to
// deliver stored events, it answers after a few seconds with the IDs and
// a Subscribers count of 0.
func (h *Hub) PublishContext(ctx context.Context, topics []string, opts PublishOptions, events ...sse.Eventer) (Published, error) {
	return h.publish(ctx, topics, opts, events)
}

func (h *Hub) publish(ctx context.Context, topics []string, opts PublishOptions, events []sse.Eventer) (Published, error) {
	topics, err := cleanTopics(topics, opts.OpaqueTopics)
	if err != nil {
		return Published{}, err
	}
	if len(events) == 0 {
		return Published{}, ErrNoEvents
	}
	if opts.EventID != "" && len(events) != 1 {
		return Published{}, fmt.Errorf("%w: an event ID is given for %d events; give it to one", ErrEventID, len(events))
	}
	// Encode outside the lock, leaving room in front for the id line.
	bufs := make([][]byte, len(events))
	if err := encode(bufs, events, h.idPre, opts.EventID); err != nil {
		return Published{}, err
	}
	ops, err := h.retainOpsFor(opts, bufs)
	if err != nil {
		return Published{}, err
	}
	if h.follow != nil {
		return h.publishLog(ctx, topics, opts, bufs, ops)
	}
	private := opts.Private
	out := Published{IDs: make([]string, len(events)), Topics: topics}
	var res broadcast.Result

	h.mu.Lock()
	if opts.IdempotencyKey != "" {
		if first, ok := h.idem.lookup(opts.IdempotencyKey, time.Now()); ok {
			h.mu.Unlock()
			return clonePublished(first), nil
		}
	}
	retain, err := h.prepareRetainLocked(topics, private, ops, h.seq+1)
	if err != nil {
		h.mu.Unlock()
		return Published{}, err
	}
	h.retained.commit(retain)
	if len(bufs) == 1 {
		h.seq++
		out.IDs[0] = h.EventID(h.seq)
		e := h.newEntry(bufs[0], h.seq, private, topics)
		if opts.EventID != "" {
			out.IDs[0], e.id = opts.EventID, opts.EventID
		}
		h.deliverLocked(e, &res)
	} else {
		h.deliverBatchLocked(bufs, topics, private, out.IDs, &res)
	}
	out.Subscribers = res.Queued + len(res.Evicted)
	if opts.IdempotencyKey != "" {
		h.idem.remember(opts.IdempotencyKey, out, time.Now())
	}
	h.mu.Unlock()

	h.stats.publishes.Add(1)
	h.stats.events.Add(uint64(len(events)))
	return out, nil
}

// deliverLocked offers e to every subscriber of its topics, keeps it in
// their history and evicts the subscribers too slow to take it; res is
// reset first and then tells who took it. A local publish and the
// follower's apply both deliver through it.
func (h *Hub) deliverLocked(e *entry, res *broadcast.Result) {
	h.offerLocked(&e.frame, e.topics, res)
	h.keepLocked(e)
	h.settleLocked(res)
}

// deliverBatchLocked delivers the events of one local publish, encoded in
// bufs with room for their ID lines, as deliverLocked would, with one
// difference: each event gets its ID and its own entry in the history
// (for replay and Last-Event-ID), but subscribers are offered the whole
// batch as one frame. A batch then takes one place in a subscriber's
// buffer however many events it has, instead of evicting every
// subscriber when it has more events than the buffer holds. A subscriber
// cannot have seen part of a batch: it is published under the lock that
// subscribing takes for its replay. ids gets the events' IDs.
func (h *Hub) deliverBatchLocked(bufs [][]byte, topics []string, private bool, ids []string, res *broadcast.Result) {
	size := 0
	for _, buf := range bufs {
		size += len(buf)
	}
	data := make([]byte, 0, size)
	for i, buf := range bufs {
		h.seq++
		ids[i] = h.EventID(h.seq)
		e := h.newEntry(buf, h.seq, private, topics)
		h.keepLocked(e)
		data = append(data, e.frame.Data...)
	}
	h.offerLocked(&broadcast.Frame{ID: h.seq, Data: data, Private: private}, topics, res)
	h.settleLocked(res)
}

// newEntry makes the event encoded in buf, with room for its id line in
// front (see encode), the history entry seq of topics.
func (h *Hub) newEntry(buf []byte, seq uint64, private bool, topics []string) *entry {
	return &entry{frame: broadcast.Frame{ID: seq, Data: h.putID(buf, seq), Private: private}, topics: topics}
}

// offerLocked offers f to every subscriber of topics, creating no topic;
// res is reset first and then tells who took it. The caller settles res.
func (h *Hub) offerLocked(f *broadcast.Frame, topics []string, res *broadcast.Result) {
	res.Queued, res.Evicted = 0, res.Evicted[:0]
	for _, name := range topics {
		if t := h.topics[name]; t != nil {
			t.group.Broadcast(f, res)
		}
	}
	if f.ID != 0 && (len(h.selected) > 0 || f.Private && len(h.readers) > 0) {
		h.offerSelectedLocked(f, topics, res)
	}
}

// keepLocked keeps e in the history of its topics and the hub's.
func (h *Hub) keepLocked(e *entry) {
	h.rememberIDLocked(e)
	for _, name := range e.topics {
		h.holdLocked(h.topicLocked(name), e)
	}
	h.addLocked(e)
}

// PublishTransient offers events to the subscribers of topics as
// Publish does, but without IDs and without keeping them in history: for
// state that only matters now, such as the hub's own statistics. A client
// that reconnects does not get them again, and its Last-Event-ID is not
// moved by them.
func (h *Hub) PublishTransient(topics []string, events ...sse.Eventer) (offered int, err error) {
	topics, err = cleanTopics(topics, false)
	if err != nil {
		return 0, err
	}
	bufs := make([][]byte, len(events))
	if err := encode(bufs, events, 0, ""); err != nil {
		return 0, err
	}
	var res broadcast.Result
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, buf := range bufs {
		h.offerLocked(&broadcast.Frame{Data: buf}, topics, &res)
		offered = max(offered, res.Queued+len(res.Evicted))
		h.settleLocked(&res)
	}
	return offered, nil
}

// encode encodes each event into bufs without its ID (the first one with
// id, if not empty), after room bytes left for the id line, each in a
// buffer of its exact size; the error names the event at fault. bufs is the
// caller's, so that for a few events it can stay on the caller's stack.
func encode(bufs [][]byte, events []sse.Eventer, room int, id string) error {
	for i, ev := range events {
		e, err := ev.Event()
		if err == nil {
			e.ID = ""
			if i == 0 {
				e.ID = id
			}
			bufs[i], err = sse.AppendEvent(make([]byte, room, room+e.EncodedLen()), &e)
		}
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	return nil
}

// Subscribers returns how many clients follow topic.
func (h *Hub) Subscribers(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[topic]; t != nil {
		return t.group.Len()
	}
	return 0
}

// putID writes "id: EPOCH-SEQ\n" right before the event encoded at
// buf[h.idPre:] and returns the frame.
func (h *Hub) putID(buf []byte, seq uint64) []byte {
	var tmp [64]byte
	line := append(tmp[:0], "id: "...)
	line = append(line, h.epoch...)
	line = append(line, '-')
	line = strconv.AppendUint(line, seq, 10)
	line = append(line, '\n')
	start := h.idPre - len(line)
	copy(buf[start:], line)
	return buf[start:]
}

// cleanTopics validates names (with ValidateOpaqueTopic if opaque) and
// drops repeats, keeping the first order.
func cleanTopics(names []string, opaque bool) ([]string, error) {
	if len(names) == 0 {
		return nil, ErrNoTopics
	}
	validate := ValidateTopic
	if opaque {
		validate = ValidateOpaqueTopic
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if err := validate(n); err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (h *Hub) topicLocked(name string) *topic {
	t := h.topics[name]
	if t == nil {
		t = &topic{name: name, trimmed: h.forgotten}
		h.topics[name] = t
		if Reserved(name) {
			if h.reserved == nil {
				h.reserved = make(map[string]*topic)
			}
			h.reserved[name] = t
		}
	}
	return t
}

// releaseLocked forgets a topic that has neither subscribers nor history,
// keeping its trimmed mark in h.forgotten for gap detection.
func (h *Hub) releaseLocked(t *topic) {
	if t.events.n == 0 && t.group.Len() == 0 {
		h.forgotten = max(h.forgotten, t.trimmed)
		delete(h.topics, t.name)
		delete(h.reserved, t.name)
	}
}

// settleLocked counts the frames a broadcast queued and evicts the
// subscribers it found too slow: every broadcast ends with it.
func (h *Hub) settleLocked(res *broadcast.Result) {
	h.stats.queued.Add(uint64(res.Queued))
	for _, s := range res.Evicted {
		h.evictLocked(s)
	}
}

// evictLocked removes a subscriber that broadcast closed as too slow.
func (h *Hub) evictLocked(s *broadcast.Subscriber) {
	if sub := h.clients[s]; sub != nil {
		h.removeLocked(sub)
	}
	h.stats.evictions.Add(1)
}

func (h *Hub) removeLocked(sub *Subscription) {
	delete(h.clients, sub.sub)
	if _, ok := h.selected[sub.sub]; ok {
		delete(h.selected, sub.sub)
		h.matching.left(len(h.selected))
	}
	delete(h.readers, sub.sub)
	if sub.presence {
		h.unwatchLocked(sub)
	}
	for _, name := range sub.Topics {
		if t := h.topics[name]; t != nil {
			t.group.Remove(sub.sub)
			h.releaseLocked(t)
		}
		h.presenceChangedLocked(name)
	}
}

// Beat offers the heartbeat frame to every client now. A client whose
// buffer is full is evicted.
func (h *Hub) Beat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s, sub := range h.clients {
		h.beatLocked(s, sub)
	}
}

// tick is the heartbeat clock's, twice per Config.Heartbeat: it offers
// the heartbeat frame to each client that had nothing queued during the
// last two ticks (broadcast.Subscriber.Quiet). So an idle stream gets a
// heartbeat every interval, as a proxy between it and the client needs,
// and no stream is silent for longer; a stream that events keep writing
// gets none, since its writes already find a client that has gone. (At 5
// events a second to 10,000 subscribers, a heartbeat round for all of
// them lay across a publish's fan-out every 15 s: docs/performance.md.)
func (h *Hub) tick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s, sub := range h.clients {
		if s.Quiet(2) {
			h.beatLocked(s, sub)
		}
	}
}

// beatLocked offers the heartbeat frame to s, evicting it when its buffer
// is full.
func (h *Hub) beatLocked(s *broadcast.Subscriber, sub *Subscription) {
	if _, evicted := s.Offer(h.beat); evicted {
		h.removeLocked(sub)
		h.stats.evictions.Add(1)
	}
}

// Subscription is one client's registration with the hub.
type Subscription struct {
	hub *Hub
	sub *broadcast.Subscriber
	// Topics are the subscribed topics, validated and without repeats.
	Topics []string
	// Replay holds the frames to write before anything from C, in order:
	// a missed-events signal if there is a gap, the events from history
	// after the client's Last-Event-ID (all of history when the ID cannot
	// be placed), and a frame that sets the client's last event ID to the
	// newest event at subscribe time.
	Replay [][]byte
	// Missed reports that events after the client's Last-Event-ID can no
	// longer all be replayed, or that the ID is not one this run can place.
	Missed bool
	// Private are the topics whose private events this subscription gets.
	Private  []string
	sel      Selector // see WithSelector
	presence bool     // see WithPresence
	once     sync.Once
}

// SubscribeOption changes how Subscribe registers a client.
type SubscribeOption func(*subscribeConfig)

type subscribeConfig struct {
	private  func(topic string) bool // nil: no private events
	presence bool                    // see WithPresence
	sel      Selector                // see WithSelector
	opaque   bool                    // see WithOpaqueTopics
	noMissed bool                    // see WithoutMissedSignal
}

// WithPrivate grants the subscription the private events of each of its
// topics for which allowed returns true.
func WithPrivate(allowed func(topic string) bool) SubscribeOption {
	return func(c *subscribeConfig) { c.private = allowed }
}

// C returns the channel of live frames. It is closed when the hub evicts
// the subscription or shuts down; Err then says why.
func (s *Subscription) C() <-chan *broadcast.Frame { return s.sub.C() }

// Err returns why C was closed: broadcast.ErrSlow, ErrShutdown,
// broadcast.ErrClosed after Close, or End's reason. Call it only once C
// is closed.
func (s *Subscription) Err() error { return s.sub.Err() }

// Close unsubscribes. It is idempotent and safe to call at any time.
func (s *Subscription) Close() { s.End(broadcast.ErrClosed) }

// End unsubscribes as Close does, from any goroutine, and closes C with
// reason, which Err then returns (unless C was closed before, by an
// eviction or a shutdown: the first reason stays). Whoever drains C sees
// the stream end as after an eviction: web cuts the connection so that
// the client comes back and is authorized again.
func (s *Subscription) End(reason error) {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		if h.clients[s.sub] == s {
			h.removeLocked(s)
		}
		s.sub.Close(reason)
		h.mu.Unlock()
		h.active.Done()
	})
}

// Beat offers the heartbeat frame to s alone, as the ticker's Beat does to
// every client, so that its stream writes now: a write is what tells a
// client that has gone from one that only stopped sending. A subscription
// whose buffer is full is evicted, as by Beat; a closed one is left alone.
func (s *Subscription) Beat() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients[s.sub] != s {
		return
	}
	h.beatLocked(s.sub, s)
}

// Subscribe registers a client for topics. lastEventID is the ID of the
// last event the client received ("" for a new client): the subscription's
// Replay then holds every later event of its topics, and C every event
// published after Subscribe returns, with no gap and no repeat.
//
// When lastEventID is not one this run can place (an ID of another epoch,
// as after a restart that kept no history file; one past the newest event;
// or not an event ID at all), Replay starts with the MissedSignal frame and
// then holds the whole history of the topics, private events filtered as in
// any replay, so that what was published since the restart still arrives.
// The same holds when events after lastEventID were trimmed from history:
// by a topic's own bound (Config.HistoryPerTopic) or by the totals. A
// client of several topics is also told so when one of them dropped an
// event that another of them still holds and replays: the marks are kept
// per topic, and err on the side of telling.
//
// With an event log (Config.Log), an ID of the log's epoch that is older
// than the history in memory is not a gap: the events between it and the
// history are read from the log (outside the lock, so that publishes go
// on), and only an ID older than the log still holds gets the
// MissedSignal, then what the log and the history hold. An ID ahead of
// this hub (another hub delivered it first) is waited for. Subscribe then
// fails with an error wrapping ErrLogUnavailable if the log cannot be
// read within a few seconds. At most Config.MaxLogReplay events are read
// from the log; a client further behind gets the MissedSignal first.
func (h *Hub) Subscribe(topics []string, lastEventID string, opts ...SubscribeOption) (*Subscription, error) {
	return h.SubscribeContext(context.Background(), topics, lastEventID, opts...)
}

// SubscribeContext subscribes as Subscribe does, but with an event log
// (Config.Log) waits for the log, or for this node to apply the client's
// Last-Event-ID, only until ctx ends (and never more than a few seconds):
// pass the request's context, so that a client that goes away stops the
// wait. It then fails with an error wrapping ctx.Err(). Without a log it
// never waits, and ctx is not used.
func (h *Hub) SubscribeContext(ctx context.Context, topics []string, lastEventID string, opts ...SubscribeOption) (*Subscription, error) {
	var c subscribeConfig
	for _, o := range opts {
		o(&c)
	}
	if len(topics) > 0 || c.sel == nil || !c.sel.HasPatterns() {
		var err error
		if topics, err = cleanTopics(topics, c.opaque); err != nil {
			return nil, err
		}
	}
	last, known := uint64(0), false
	if lastEventID != "" {
		last, known = h.parseEventID(lastEventID)
	}

	var private []string // decided outside the lock
	if c.private != nil && c.sel == nil {
		for _, t := range topics {
			if c.private(t) {
				private = append(private, t)
			}
		}
	}

	h.mu.Lock()
	if seq, ok := h.ids[lastEventID]; ok && lastEventID != "" {
		last, known = seq, true // a publisher's ID, which wins over a look-alike of the hub's
	}
	var logged logReplay
	if h.follow != nil && lastEventID != "" && known {
		// With an event log, the ID may be ahead of this node (another
		// node delivered it first), or older than the history in memory:
		// wait for it, or read what memory lacks from the log, and then
		// take the rest from memory under the lock, as without a log.
		if last > h.seq {
			h.mu.Unlock()
			known = h.awaitSeq(ctx, last)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("subscribe: wait for event %s: %w", lastEventID, err)
			}
			h.mu.Lock()
		}
		for known && !h.draining {
			floor, read := h.floorLocked(topics), topics
			if c.sel != nil && c.sel.HasPatterns() {
				floor, read = h.floorAllLocked(), nil
			}
			if last >= floor {
				break
			}
			h.mu.Unlock()
			if err := h.readLog(ctx, &logged, read, private, c.sel, last, floor); err != nil {
				return nil, err
			}
			last = floor
			h.mu.Lock()
		}
	}
	defer h.mu.Unlock()
	if h.draining {
		return nil, ErrClosed
	}
	sub := &Subscription{hub: h, Topics: topics, Private: private, sel: c.sel, sub: broadcast.NewSubscriber(h.cfg.ClientBuffer, h.seq)}
	for _, name := range topics {
		if slices.Contains(sub.Private, name) {
			h.topicLocked(name).group.AddPrivileged(sub.sub)
		} else {
			h.topicLocked(name).group.Add(sub.sub)
		}
	}
	h.clients[sub.sub] = sub
	h.selectLocked(sub)
	h.active.Add(1)
	for _, name := range topics {
		h.presenceChangedLocked(name)
	}

	if lastEventID != "" {
		if !known || last > h.seq {
			// An ID this run cannot place (another run's after a crash, one
			// past the newest event, or no event ID at all): the client may
			// have missed anything, so it gets all that history holds.
			sub.Missed, last = true, 0
		}
		for _, name := range topics {
			if last < h.topics[name].trimmed {
				sub.Missed = true
			}
		}
		sub.Missed = sub.Missed || logged.missed
		if sub.sel != nil {
			sub.Missed = sub.Missed || h.missedSelectedLocked(sub, last)
			sub.Replay = h.replaySelectedLocked(logged.frames, sub, last)
		} else {
			sub.Replay = h.replayLocked(logged.frames, topics, sub.Private, last)
		}
		h.stats.replayed.Add(uint64(len(sub.Replay)))
		if sub.Missed && !c.noMissed {
			sub.Replay = slices.Insert(sub.Replay, 0, missedFrame)
		}
	}
	h.addRetainedLocked(sub, lastEventID == "")
	sub.Replay = append(sub.Replay, []byte("id: "+h.EventID(h.seq)+"\n\n"))
	if c.presence {
		sub.presence = true
		h.watchLocked(sub)
	}
	return sub, nil
}

var missedFrame = func() []byte {
	e, err := sse.PatchSignals{Signals: []byte(`{"` + MissedSignal + `":true}`)}.Event()
	if err != nil {
		panic(err)
	}
	b, err := sse.AppendEvent(nil, &e)
	if err != nil {
		panic(err)
	}
	return b
}()

// Shutdown stops new subscriptions, closes every subscription's channel
// with ErrShutdown (their handlers then abort the connections so that
// clients reconnect), stops the heartbeat, and waits until every
// subscription is closed or ctx ends. Publishes still work while it runs;
// with an event log they are stored, and Shutdown stops following the
// log, so that they answer with a Subscribers count of 0.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	for s := range h.clients {
		s.Close(ErrShutdown)
	}
	h.mu.Unlock()
	h.ticker.Stop()
	h.stopPresence()
	h.stopNodes()
	if err := h.stopFollowing(ctx); err != nil {
		return err
	}

	done := make(chan struct{})
	go func() { // ends when the last subscription closes, even after ctx ends
		h.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
