package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hubd-dev/hubd/broadcast"
)

// EventLog is the shared, ordered log of events that the nodes of a
// cluster append to and follow (Config.Log). The hub needs only this; the
// JetStream engine (package cluster) implements it, and another engine
// (Redis Streams, say) could. Every method is safe for concurrent use.
type EventLog interface {
	// Epoch names the log's life: event IDs are "EPOCH-SEQ". It must not
	// be empty nor hold '-', CR, LF or NUL, and must not change while the
	// log lives.
	Epoch() string
	// Append stores m as one entry and returns its sequence once it is
	// stored durably. With a non-empty idempotencyKey, a retry of the same
	// key (within the engine's window) is not stored again and returns the
	// first one's sequence. When the log cannot be reached its error wraps
	// ErrLogUnavailable; the entry may then have been stored all the same,
	// which a retry with the same key resolves.
	Append(ctx context.Context, m LogMessage, idempotencyKey string) (seq uint64, err error)
	// Follow calls fn with every entry above after, in sequence order, each
	// once, then with every later one, until ctx ends, the log is closed,
	// fn fails or the log finds it lost events (an error wrapping
	// ErrLogDamaged); it rides out broken connections by itself. Sequences may
	// skip numbers (entries removed by the log's limits).
	Follow(ctx context.Context, after uint64, fn func(LogEntry) error) error
	// Read calls fn, in order, with every stored entry above after and at
	// most upto that names one of topics (all when topics is empty).
	Read(ctx context.Context, topics []string, after, upto uint64, fn func(LogEntry) error) error
	// State says which sequences the log holds.
	State(ctx context.Context) (LogState, error)
}

// LogStatser is an optional ability of an EventLog: its counters, for
// metrics. Hub.LogStats finds it by type assertion.
type LogStatser interface {
	Stats() LogStats
}

// LogMessage is one event as the log stores it.
type LogMessage struct {
	// Topics the event goes to: at least one, none empty, in order.
	Topics []string
	// Private events reach only subscribers granted private access to one
	// of Topics.
	Private bool
	// Retain keeps the event in its topics' retained state (see
	// PublishOptions.Retain) as each node applies it.
	Retain bool
	// ClearRetained, with no Data, is not an event: it clears the
	// retained state of Topics as each node applies it (Hub.ClearRetained).
	ClearRetained bool
	// Data is the event as the hub encodes it, without its id line
	// ("event: ...\ndata: ...\n\n"). Every node writes "id: EPOCH-SEQ\n"
	// in front, so every node sends the very bytes a single node would.
	Data []byte
}

// LogEntry is a stored LogMessage, as Follow and Read deliver it.
type LogEntry struct {
	LogMessage
	// Seq is the entry's sequence: the event ID's number on every node.
	Seq uint64
	// Time is when the log stored it.
	Time time.Time
}

// LogState is what the log holds.
type LogState struct {
	// First is the lowest sequence held (Last+1 when it holds nothing):
	// a client that last saw a sequence below First-1 missed events.
	First uint64
	// Last is the highest sequence ever stored.
	Last uint64
	// Msgs and Bytes are how much it holds.
	Msgs, Bytes uint64
}

// LogStats are an event log's counters since it was opened (see
// LogStatser).
type LogStats struct {
	// Connected reports whether the log's connection is up now.
	Connected bool
	// Reconnects counts reconnections.
	Reconnects uint64
	// Appends counts acknowledged appends, Duplicates among them those
	// recognised by their idempotency key.
	Appends, Duplicates uint64
	// Unavailable counts appends that failed with ErrLogUnavailable.
	Unavailable uint64
	// AppendLatency is the total time acknowledged appends waited;
	// LastAppendLatency and MaxAppendLatency the latest and the longest.
	AppendLatency, LastAppendLatency, MaxAppendLatency time.Duration
	// LastSeq is the highest sequence this node knows of.
	LastSeq uint64
	// Followed is the highest sequence Follow delivered; Pending how many
	// entries the log held after it then.
	Followed, Pending uint64
	// Reads counts Read calls, ReadEntries the entries they delivered.
	Reads, ReadEntries uint64
	// Lost counts the events the log found lost from its store (at open
	// or while following); Damage describes each loss, oldest first.
	Lost   uint64
	Damage []string
}

// ErrLogUnavailable is wrapped by the error of a publish, or of a
// subscribe that needed to read older events, when the event log cannot
// be reached: nothing was lost, try again later. An EventLog's errors wrap
// it for that case.
var ErrLogUnavailable = errors.New("hub: event log unavailable")

// ErrLogDamaged is wrapped by the error with which an EventLog's Follow or
// Append says that the log lost events it once held while this node ran:
// the node stops following, answers /readyz with 503 and refuses
// publishes until it is restarted (see FollowErr).
var ErrLogDamaged = errors.New("hub: event log lost events")

// logTimeout bounds how long the hub waits on the log: to read the log's
// state at New, and, within the caller's context, for a Subscribe to read
// older events or to wait for an event this node has not applied yet.
const logTimeout = 10 * time.Second

// applyWait bounds how long a publish, once its events are stored, waits
// for this node to apply them (see PublishContext).
const applyWait = 10 * time.Second

// offers is how many of the newest applied sequences remember how many
// subscribers their event was offered to, for the publish answer.
const offers = 4096

type offer struct {
	seq  uint64
	subs int
}

// follower is the state of a hub with an event log; nil without one.
type follower struct {
	log    EventLog
	cancel context.CancelFunc
	done   chan struct{} // closed when the follow goroutine returns; it closes it
	// caughtUp is closed (by the follow goroutine) once the hub applied
	// every entry the log held at New.
	caughtUp chan struct{}
	target   uint64 // the log's Last at New

	// Guarded by Hub.mu:
	progress chan struct{} // closed and cleared when h.seq moves, if anyone waits
	offered  [offers]offer
	err      error // why Follow stopped, if it did
}

// startFollowing sets up h to take its events from the log: the epoch is
// the log's, and the newest events (up to the history's bound) are applied
// in the background before the hub counts as caught up (CaughtUp). Events
// older than those are read from the log when a client needs them.
func (h *Hub) startFollowing(l EventLog) error {
	epoch := l.Epoch()
	if epoch == "" || len(epoch) > 32 || strings.ContainsAny(epoch, "-\r\n\x00") {
		return fmt.Errorf("hub: event log epoch %q: want 1 to 32 bytes without '-', CR, LF or NUL", epoch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
	st, err := l.State(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("hub: event log state: %w", err)
	}
	start := st.Last
	if n := uint64(max(h.cfg.HistorySize, 0)); start > n {
		start -= n
	} else {
		start = 0
	}
	if st.First > 0 {
		start = max(start, st.First-1)
	}
	start = min(start, st.Last)
	h.epoch, h.idPre = epoch, idRoom(epoch)
	h.seq, h.forgotten = start, start // older events are the log's to replay
	if err := h.loadRetained(l); err != nil {
		return err
	}

	f := &follower{log: l, done: make(chan struct{}), caughtUp: make(chan struct{}), target: st.Last}
	if start >= st.Last {
		close(f.caughtUp)
	}
	var fctx context.Context
	fctx, f.cancel = context.WithCancel(context.Background())
	h.follow = f
	go h.runFollow(fctx, start) // ends when Shutdown cancels fctx
	return nil
}

// runFollow applies the log's entries after start until ctx ends. It
// closes f.done when it returns.
func (h *Hub) runFollow(ctx context.Context, start uint64) {
	f := h.follow
	defer close(f.done)
	err := f.log.Follow(ctx, start, h.apply)
	if ctx.Err() != nil {
		return
	}
	// The log refused to go on (an entry it cannot read, or it was
	// closed): this node no longer gets events.
	h.mu.Lock()
	f.err = err
	h.wakeLocked()
	h.mu.Unlock()
	h.cfg.Logger.Error("hub: following the event log stopped; this node gets no more events", keyErr, err)
}

// Log keys.
const (
	keyErr = "err"
	keySeq = "seq"
)

// apply is the follower's fn: it delivers one entry of the log as a
// single hub delivers a publish, under the lock: its ID is its sequence,
// its frame is the stored bytes with the id line in front, offered to
// every subscriber of its topics and kept in the history.
func (h *Hub) apply(e LogEntry) error {
	topics, err := cleanTopics(e.Topics, true)
	if err != nil {
		// Another node could not have appended it; skip it rather than stop.
		h.cfg.Logger.Warn("hub: skipping an event log entry with bad topics", keySeq, e.Seq, keyErr, err)
		topics = nil
	}
	var data []byte
	if topics != nil && !e.ClearRetained {
		data = h.logFrame(e) // outside the lock
	}
	var res broadcast.Result

	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.follow
	if e.Seq <= h.seq {
		return nil // applied already
	}
	h.seq = e.Seq
	if topics != nil && (e.Retain || e.ClearRetained) {
		h.applyRetainedLocked(topics, e)
	}
	if topics != nil && !e.ClearRetained {
		h.deliverLocked(&entry{frame: broadcast.Frame{ID: e.Seq, Data: data, Private: e.Private}, topics: topics, id: eventIDIn(e.Data)}, &res)
	}
	f.offered[e.Seq%offers] = offer{seq: e.Seq, subs: res.Queued + len(res.Evicted)}
	h.wakeLocked()
	if e.Seq >= f.target {
		select {
		case <-f.caughtUp:
		default:
			close(f.caughtUp)
		}
	}
	return nil
}

// logFrame returns the frame of a log entry: its stored bytes with the
// id line of its sequence in front.
func (h *Hub) logFrame(e LogEntry) []byte {
	buf := make([]byte, h.idPre, h.idPre+len(e.Data))
	return h.putID(append(buf, e.Data...), e.Seq)
}

// wakeLocked wakes whoever waits for h.seq to move.
func (h *Hub) wakeLocked() {
	if f := h.follow; f.progress != nil {
		close(f.progress)
		f.progress = nil
	}
}

// awaitApplied waits until this node applied seq, ctx ends, the follower
// stopped, or applyWait passed. ok reports the first.
func (h *Hub) awaitApplied(ctx context.Context, seq uint64) (ok bool) {
	f := h.follow
	timer := time.NewTimer(applyWait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		if h.seq >= seq {
			h.mu.Unlock()
			return true
		}
		if f.err != nil {
			h.mu.Unlock()
			return false
		}
		if f.progress == nil {
			f.progress = make(chan struct{})
		}
		wait := f.progress
		h.mu.Unlock()
		select {
		case <-wait:
		case <-f.done:
			return false
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		}
	}
}

// CaughtUp reports whether the hub has applied every event its log held
// when it started and still follows the log (always true without a log).
// A node that has not is not ready to serve: its subscribers would wait
// for their replay, or never get new events.
func (h *Hub) CaughtUp() bool {
	if h.follow == nil {
		return true
	}
	select {
	case <-h.follow.caughtUp:
	default:
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.follow.err == nil
}

// FollowErr returns why the hub stopped following its log, or nil while
// it follows (and without a log). A node whose following stopped gets no
// new events and refuses publishes: it must be restarted.
func (h *Hub) FollowErr() error {
	if h.follow == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.follow.err
}

// WaitCaughtUp waits until CaughtUp (nil), the hub stops following its
// log (FollowErr, or ErrClosed after Shutdown) or ctx ends (ctx.Err()).
func (h *Hub) WaitCaughtUp(ctx context.Context) error {
	if h.follow == nil {
		return nil
	}
	select {
	case <-h.follow.caughtUp:
		return h.FollowErr()
	case <-h.follow.done:
		if err := h.FollowErr(); err != nil {
			return err
		}
		select {
		case <-h.follow.caughtUp:
			return nil
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LogStats returns the event log's counters, and false when the hub has no
// log or its log keeps none (see LogStatser).
func (h *Hub) LogStats() (LogStats, bool) {
	if h.follow == nil {
		return LogStats{}, false
	}
	s, ok := h.follow.log.(LogStatser)
	if !ok {
		return LogStats{}, false
	}
	return s.Stats(), true
}

// Clustered reports whether the hub takes its events from an event log.
func (h *Hub) Clustered() bool { return h.follow != nil }

// publishLog stores each event in the log, one entry per event, and
// answers once this node applied them: the follower, not the publisher,
// delivers them, in the log's order, on every node alike. ops are the
// publish's retain ops (retainOpsFor), nil when it does not retain.
func (h *Hub) publishLog(ctx context.Context, topics []string, opts PublishOptions, bufs [][]byte, ops []retainOp) (Published, error) {
	out := Published{IDs: make([]string, len(bufs)), Topics: topics}
	if err := h.checkRetainLog(topics, opts.Private, ops); err != nil {
		return Published{}, err
	}
	if err := h.FollowErr(); errors.Is(err, ErrLogDamaged) {
		// Its events would be stored where this node no longer follows,
		// maybe under an ID that named another event.
		return Published{}, fmt.Errorf("publish: this node stopped following the event log: %w", err)
	}
	var first, last uint64
	for i, buf := range bufs {
		m := LogMessage{Topics: topics, Private: opts.Private, Retain: opts.Retain, Data: buf[h.idPre:]}
		var seq uint64
		var err error
		if opts.IdempotencyKey != "" && i == 0 {
			var prior *FirstPublish
			seq, prior, err = h.appendFirst(ctx, m, opts.IdempotencyKey, len(bufs))
			if err == nil && prior != nil && !prior.retry(topics, opts.Private) {
				// The key's publish is whole, or this is not it: answer
				// it, store nothing.
				return h.answerFirst(ctx, prior), nil
			}
		} else {
			key := ""
			if opts.IdempotencyKey != "" {
				key = opts.IdempotencyKey + "#" + strconv.Itoa(i)
			}
			seq, err = h.follow.log.Append(ctx, m, key)
		}
		if err != nil {
			if i > 0 {
				return Published{}, fmt.Errorf("publish event %d of %d (the ones before it are stored; retry with the same idempotency key to store the rest once): %w", i, len(bufs), err)
			}
			return Published{}, fmt.Errorf("publish: %w", err)
		}
		if i == 0 {
			first = seq
		}
		last = max(last, seq)
		out.IDs[i] = h.EventID(seq)
		if opts.EventID != "" {
			out.IDs[i] = opts.EventID
		}
	}
	h.stats.publishes.Add(1)
	h.stats.events.Add(uint64(len(bufs)))
	// The events are stored: from here on the publish succeeded. Waiting
	// for this node to apply them gives the subscriber count and lets the
	// publisher read its own writes from this node.
	if h.awaitApplied(ctx, last) {
		h.mu.Lock()
		if o := h.follow.offered[first%offers]; o.seq == first {
			out.Subscribers = o.subs
		}
		h.mu.Unlock()
		if ops != nil {
			h.storeRetained(ctx, topics)
		}
	} else if ops != nil {
		h.cfg.Logger.Warn("hub: retained state not stored: this node has not applied the publish yet; nodes started later get it only while the event log holds its events",
			keySeq, last)
	}
	return out, nil
}

// logReplay is what Subscribe reads from the log, outside the lock, for a
// client whose Last-Event-ID is older than the history in memory.
type logReplay struct {
	frames [][]byte
	bytes  int64 // the frames' total size
	// missed: the log no longer holds every event after the ID, or more
	// of them were read than Config.MaxLogReplay and HistoryBytes allow.
	missed bool
}

// keep adds frame to r, dropping the oldest frames while r holds more
// than maxFrames frames or (with maxBytes > 0) more than maxBytes bytes: the
// client is then told it missed events, and gets the newest ones. So a
// replay read from the log never holds more in memory than the bounds.
func (r *logReplay) keep(frame []byte, maxFrames int, maxBytes int64) {
	r.frames = append(r.frames, frame)
	r.bytes += int64(len(frame))
	for len(r.frames) > 0 && (len(r.frames) > maxFrames || maxBytes > 0 && r.bytes > maxBytes) {
		r.bytes -= int64(len(r.frames[0]))
		r.frames[0] = nil
		r.frames = r.frames[1:]
		r.missed = true
	}
}

// floorLocked is the highest trimmed mark of topics: the history in memory
// holds every event of topics above it.
func (h *Hub) floorLocked(topics []string) uint64 {
	floor := h.forgotten
	for _, name := range topics {
		if t := h.topics[name]; t != nil {
			floor = max(floor, t.trimmed)
		}
	}
	return floor
}

// readLog reads from the log, into r, the events of topics after last
// and up to upto that the subscription may see, as frames, within the
// bounds of r.keep. When the log no longer holds all of them, it says so
// and reads what it holds. It waits at most until ctx ends or logTimeout.
func (h *Hub) readLog(ctx context.Context, r *logReplay, topics, private []string, sel Selector, last, upto uint64) error {
	ctx, cancel := context.WithTimeout(ctx, logTimeout)
	defer cancel()
	l := h.follow.log
	st, err := l.State(ctx)
	if err != nil {
		return fmt.Errorf("subscribe: read older events: %w", err)
	}
	if st.First > 0 && last < st.First-1 {
		r.missed, last = true, st.First-1
	}
	if last >= upto {
		return nil
	}
	limit := max(h.cfg.MaxLogReplay, 0)
	err = l.Read(ctx, topics, last, upto, func(e LogEntry) error {
		switch {
		case e.ClearRetained:
			return nil
		case sel != nil:
			if !selects(sel, topics, e.Topics, e.Private) {
				return nil
			}
		case e.Private && !grants(private, e.Topics):
			return nil
		}
		r.keep(h.logFrame(e), limit, h.cfg.HistoryBytes)
		return nil
	})
	if err != nil {
		return fmt.Errorf("subscribe: read older events: %w", err)
	}
	return nil
}

// grants reports whether one of topics is in private.
func grants(private, topics []string) bool {
	return slices.ContainsFunc(topics, func(t string) bool { return slices.Contains(private, t) })
}

// awaitSeq waits, for a Subscribe whose Last-Event-ID is ahead of this
// node (another node applied it first), until this node applied it too,
// at most until ctx ends or logTimeout. It reports false when the log
// does not hold seq at all, or the wait ended first.
func (h *Hub) awaitSeq(ctx context.Context, seq uint64) bool {
	ctx, cancel := context.WithTimeout(ctx, logTimeout)
	defer cancel()
	st, err := h.follow.log.State(ctx)
	if err != nil || seq > st.Last {
		return false
	}
	return h.awaitApplied(ctx, seq)
}

// stopFollowing stops the follow goroutine and waits for it until ctx
// ends.
func (h *Hub) stopFollowing(ctx context.Context) error {
	if h.follow == nil {
		return nil
	}
	h.follow.cancel()
	select {
	case <-h.follow.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
