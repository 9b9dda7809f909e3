package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/hub"
)

var (
	// ErrUnavailable is wrapped by the errors of Open, Append, Read and
	// State when NATS or the stream cannot be reached in time. An Append
	// that fails with it may still have been stored if the connection
	// broke after the message left (its ack was lost): retry with the same
	// idempotency key to have it stored once.
	// It wraps hub.ErrLogUnavailable, so that the hub's callers can tell
	// it without knowing the engine.
	ErrUnavailable = fmt.Errorf("cluster: NATS unavailable: %w", hub.ErrLogUnavailable)
	// ErrClosed is returned by every method of a Log after Close or
	// Shutdown began.
	ErrClosed = errors.New("cluster: log closed")
	// ErrStreamMismatch is wrapped by Open's error when the stream exists
	// with settings other than Config's; the error names each difference.
	ErrStreamMismatch = errors.New("cluster: stream does not fit the settings")
	// ErrBadKey is wrapped by Append's error for an idempotency key that
	// is too long or holds control characters.
	ErrBadKey = errors.New("cluster: bad idempotency key")
)

// MaxKeyLength is the longest idempotency key Append takes, in bytes.
const MaxKeyLength = 256

// Log keys, constant so that log lines can be searched.
const (
	keyErr       = "err"
	keyStream    = "stream"
	keyURL       = "url"
	keyAfter     = "after"
	keyEpoch     = "epoch"
	keyComponent = "component"
	keyLost      = "lost"
	keyOldEpoch  = "old_epoch"
)

// Log is a node's handle on the event log: a JetStream stream that every
// node appends to and follows. All its methods are safe for concurrent
// use. Close it with Close or Shutdown.
type Log struct {
	cfg    Config
	logger *slog.Logger
	srv    *server.Server // the embedded server, or nil
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	epoch  string

	// ctx ends when Shutdown begins; every Follow and Read stops with it.
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex     // guards closed against wg.Add, and back
	closed bool           // Shutdown began
	back   chan struct{}  // closed, and replaced, when the connection comes back
	wg     sync.WaitGroup // running Follow and Read calls
	once   sync.Once      // closes nc and srv

	// The record of what this node last knew of the stream (see record),
	// kept beside the embedded server's store; recPath is "" without one.
	recPath string
	boot    string     // the machine's boot, for the record
	recMu   sync.Mutex // guards rec and its file
	rec     record
	// When the stream's last sequence (ghost) holds no event that can be
	// read, readable is the highest one that can: State says it as Last,
	// so that a follower does not wait for ghost forever.
	ghost, readable atomic.Uint64
	damage          []string // guarded by mu: see Damage
	broken          error    // guarded by mu: why Append refuses, once Follow found a loss

	stats counters

	retained retainedBucket // see retainedstore.go
}

// Open connects to NATS (or starts the embedded server, with JetStream
// storing in cfg.DataDir), creates the stream when it is missing and
// checks that an existing one fits cfg: one that does not is refused with
// an error wrapping ErrStreamMismatch that names every difference. When
// NATS cannot be reached within cfg.ConnectTimeout, the error wraps
// ErrUnavailable; when it refuses the credentials, nats.ErrAuthorization. Once open, the connection is kept up by reconnecting
// forever, with backoff. A nil logger discards.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{cfg: cfg, logger: logger, back: make(chan struct{}), recPath: cfg.recordPath(), boot: bootID()}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if err := l.open(ctx); err != nil {
		l.cancel()
		l.closeConn()
		return nil, err
	}
	if l.recPath != "" {
		l.wg.Add(1)
		go l.keepRecord() // ends when Shutdown cancels l.ctx
	}
	logger.Info("cluster log open", keyStream, cfg.Stream, keyEpoch, l.epoch, keyURL, l.nc.ConnectedUrlRedacted())
	return l, nil
}

// reconnected returns a channel that is closed when the connection next
// comes back after breaking: pulls sent before then went to a server that
// may be gone, and are sent again.
func (l *Log) reconnected() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.back
}

func (l *Log) open(ctx context.Context) error {
	opts := []nats.Option{
		nats.Name(l.cfg.Name),
		nats.Timeout(l.cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(l.reconnectDelay),
		// No buffering while disconnected: a publish then fails at once
		// (Append says ErrUnavailable) instead of going out later, after
		// its caller was told it failed.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			l.logger.Warn("NATS disconnected", keyErr, err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.logger.Info("NATS reconnected", keyURL, nc.ConnectedUrlRedacted())
			l.mu.Lock()
			close(l.back)
			l.back = make(chan struct{})
			l.mu.Unlock()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			l.logger.Warn("NATS error", keyErr, err)
		}),
	}
	servers := l.cfg.URLs
	if l.cfg.Embedded() {
		srv, err := startEmbedded(l.cfg, l.logger)
		if err != nil {
			return err
		}
		l.srv = srv
		servers = ""
		if l.cfg.EmbeddedListen == "" {
			opts = append(opts, nats.InProcessServer(srv))
		} else {
			servers = srv.ClientURL()
		}
	}
	switch {
	case l.cfg.CredsFile != "":
		opts = append(opts, nats.UserCredentials(l.cfg.CredsFile))
	case l.cfg.User != "":
		opts = append(opts, nats.UserInfo(l.cfg.User, l.cfg.Password))
	case l.cfg.Token != "":
		opts = append(opts, nats.Token(l.cfg.Token))
	}
	if l.cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(l.cfg.CAFile))
	}
	if l.cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(l.cfg.CertFile, l.cfg.KeyFile))
	}
	nc, err := nats.Connect(servers, opts...)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked):
		// Refused for who we are: trying again will not help.
		return fmt.Errorf("connect to %s: %w", redactedURLs(l.cfg), err)
	case err != nil:
		return fmt.Errorf("connect to %s: %w: %w", redactedURLs(l.cfg), ErrUnavailable, err)
	}
	l.nc = nc
	if l.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ConnectTimeout)
	defer cancel()
	return l.ensureStream(ctx)
}

// reconnectDelay is the wait before the next round of reconnect tries:
// ReconnectWait doubled per round up to ReconnectMaxWait, less up to a
// quarter at random so that nodes do not come back in step.
func (l *Log) reconnectDelay(attempts int) time.Duration {
	d := l.cfg.ReconnectWait << min(attempts, 20)
	if d <= 0 || d > l.cfg.ReconnectMaxWait {
		d = l.cfg.ReconnectMaxWait
	}
	return d - rand.N(d/4+1)
}

// redactedURLs names the servers in errors without their passwords.
func redactedURLs(c Config) string {
	if c.Embedded() {
		return Embedded
	}
	var out []string
	for s := range strings.SplitSeq(c.URLs, ",") {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil {
			s = u.Redacted()
		}
		out = append(out, s)
	}
	return strconv.Quote(strings.Join(out, ","))
}

// streamConfig is the stream cfg asks for.
func (c Config) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              c.Stream,
		Description:       "hubd event log",
		Subjects:          []string{streamSubject(c.SubjectPrefix)},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          c.Replicas,
		MaxAge:            c.MaxAge,
		MaxMsgs:           c.MaxMsgs,
		MaxBytes:          c.MaxBytes,
		MaxMsgsPerSubject: -1,
		Duplicates:        c.DuplicateWindow,
	}
}

func (l *Log) ensureStream(ctx context.Context) error {
	want := l.cfg.streamConfig()
	rec, err := loadRecord(l.recPath)
	if err != nil {
		return err
	}
	created := false
	s, err := l.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = l.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another node created it first, maybe otherwise.
			s, err = l.js.Stream(ctx, want.Name)
		} else if err == nil {
			created = true
			l.logger.Info("cluster stream created", keyStream, want.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("stream %q: %w", want.Name, unavailable(err))
	}
	info := s.CachedInfo()
	if err := fits(info.Config, want); err != nil {
		return err
	}
	l.stream = s
	return l.check(ctx, info, rec, created)
}

// check compares the stream with what this node last recorded of it and
// sets the epoch: the stream's own, or a new one when events were lost,
// so that no ID handed out before names another event now. With
// DamageRefuse a loss is an error wrapping ErrDamaged instead.
func (l *Log) check(ctx context.Context, info *jetstream.StreamInfo, rec *record, created bool) error {
	d, err := l.inspect(ctx, info, rec, created)
	if err != nil {
		return err
	}
	gen := generation(info.Config)
	if rec != nil && rec.Created.Equal(info.Created) {
		gen = max(gen, rec.Generation)
	}
	if d.tail {
		l.readable.Store(d.readable)
		l.ghost.Store(info.State.LastSeq)
	}
	if len(d.causes) > 0 {
		old := epochOf(info.Config.Name, info.Created, gen)
		if rec != nil {
			old = rec.Epoch
		}
		if l.cfg.OnDamage == DamageRefuse {
			return fmt.Errorf("%w: stream %q (epoch %s): %s", ErrDamaged, l.cfg.Stream, old, d)
		}
		gen++
		if err := l.keepGeneration(ctx, info, gen); err != nil {
			return err // serving under the old epoch could hand out its IDs again
		}
		l.epoch = epochOf(info.Config.Name, info.Created, gen)
		l.noteDamage(fmt.Sprintf("at start: %s; epoch %s replaced by %s", d, old, l.epoch), d.count())
		l.logger.Error("cluster event log damaged: serving what remains under a new epoch; clients resuming from an older ID are told they missed events",
			keyStream, l.cfg.Stream, keyLost, d.String(), keyEpoch, l.epoch, keyOldEpoch, old)
	} else {
		l.epoch = epochOf(info.Config.Name, info.Created, gen)
	}
	if l.recPath == "" {
		return nil
	}
	l.rec = record{
		Stream: l.cfg.Stream, Created: info.Created, Generation: gen, Epoch: l.epoch,
		Last: info.State.LastSeq, Deleted: uint64(info.State.NumDeleted), Ghost: l.ghost.Load(),
		Boot: l.boot, Running: true,
	}
	return l.rec.save(l.recPath)
}

// noteDamage keeps a loss for Damage and the metrics.
func (l *Log) noteDamage(what string, events uint64) {
	l.mu.Lock()
	l.damage = append(l.damage, what)
	l.mu.Unlock()
	l.stats.lost.Add(events)
}

// Damage describes each loss of events the Log found, at Open or while it
// followed the stream, oldest first; nil when it found none.
func (l *Log) Damage() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.damage)
}

// fits returns nil when the stream config have keeps events as want
// does, or an error wrapping ErrStreamMismatch naming each difference.
func fits(have, want jetstream.StreamConfig) error {
	var diffs []error
	differ := func(field string, h, w any) {
		diffs = append(diffs, fmt.Errorf("%s is %v, the settings want %v", field, h, w))
	}
	if fmt.Sprint(have.Subjects) != fmt.Sprint(want.Subjects) {
		differ("subjects", have.Subjects, want.Subjects)
	}
	if have.Retention != want.Retention {
		differ("retention", have.Retention, want.Retention)
	}
	if have.Discard != want.Discard {
		differ("discard", have.Discard, want.Discard)
	}
	if have.Storage != want.Storage {
		differ("storage", have.Storage, want.Storage)
	}
	if have.Replicas != want.Replicas {
		differ("replicas", have.Replicas, want.Replicas)
	}
	if have.MaxAge != want.MaxAge {
		differ("max age", limit(have.MaxAge), limit(want.MaxAge))
	}
	if have.MaxMsgs != want.MaxMsgs {
		differ("max msgs", limit(have.MaxMsgs), limit(want.MaxMsgs))
	}
	if have.MaxBytes != want.MaxBytes {
		differ("max bytes", limit(have.MaxBytes), limit(want.MaxBytes))
	}
	if have.MaxMsgsPerSubject > 0 {
		differ("max msgs per subject", have.MaxMsgsPerSubject, "none")
	}
	if have.Duplicates != want.Duplicates {
		differ("duplicate window", have.Duplicates, want.Duplicates)
	}
	if have.Sealed {
		differ("sealed", have.Sealed, false)
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: stream %q: %w", ErrStreamMismatch, want.Name, errors.Join(diffs...))
}

// limit prints a stream limit, "none" for JetStream's no-limit values.
func limit[T int64 | time.Duration](v T) any {
	if v <= 0 {
		return "none"
	}
	return v
}

// Epoch returns the name of the stream's life, stable until the stream
// is deleted and created again or Open finds that it lost events: hub
// event IDs are "EPOCH-SEQ", SEQ being the stream sequence.
func (l *Log) Epoch() string { return l.epoch }

// Append stores m as one stream message and returns its sequence, once
// JetStream has acknowledged that it stored it (on Replicas servers).
// With a non-empty idempotency key, a retry of the same key within the
// duplicate window is not stored again: it returns the sequence the first
// one got. Append never drops a message silently: when NATS cannot be
// reached, the connection is down or no ack comes within
// Config.PublishTimeout, it returns an error wrapping ErrUnavailable; a
// message without topics wraps ErrNoTopics, a bad key ErrBadKey.
func (l *Log) Append(ctx context.Context, m Message, key string) (uint64, error) {
	ack, err := l.append(ctx, m, key, nil)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// append is Append, with headers of its own for the message (hdr may be
// nil), answering the stream's ack.
func (l *Log) append(ctx context.Context, m Message, key string, hdr nats.Header) (*jetstream.PubAck, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	payload, err := encodeMessage(m)
	if err != nil {
		return nil, err
	}
	if l.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if err := l.brokenErr(); err != nil {
		return nil, err
	}
	if s := l.nc.Status(); s != nats.CONNECTED {
		l.stats.unavailable.Add(1)
		return nil, fmt.Errorf("append: %w: connection %s", ErrUnavailable, s)
	}
	if hdr == nil {
		hdr = nats.Header{}
	}
	hdr.Set(formatHeader, messageVersion(m))
	msg := &nats.Msg{
		Subject: subject(l.cfg.SubjectPrefix, m.Topics),
		Header:  hdr,
		Data:    payload,
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(l.cfg.Stream)}
	if key != "" {
		opts = append(opts, jetstream.WithMsgID(key))
	}
	pctx, cancel := context.WithTimeout(ctx, l.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	known := l.stats.lastSeq.Load() // stored before this event was sent
	ack, err := l.js.PublishMsg(pctx, msg, opts...)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("append: %w", ctx.Err())
		case l.ctx.Err() != nil:
			return nil, ErrClosed
		}
		err = unavailable(err)
		if errors.Is(err, ErrUnavailable) {
			l.stats.unavailable.Add(1)
		}
		return nil, fmt.Errorf("append: %w", err)
	}
	if ack.Sequence <= known && !ack.Duplicate {
		// The stream held sequence known before this event was sent, so
		// it went back: the ID would name two events.
		return nil, fmt.Errorf("append: %w", l.breakOn(span{ack.Sequence, known}, fmt.Sprintf("a new event was stored as %d, but the stream had reached %d before", ack.Sequence, known)))
	}
	l.stats.appended(time.Since(start), ack.Sequence, ack.Duplicate)
	return ack, nil
}

// unavailable wraps err in ErrUnavailable unless the server refused the
// request for what it is (an API error other than 503, a payload too
// large): those would fail the same way again.
func unavailable(err error) error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, ErrUnavailable):
		return err
	case errors.As(err, &api) && api.Code != 503:
		return err
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, jetstream.ErrInvalidStreamName):
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func checkKey(key string) error {
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrBadKey, len(key), MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < ' ' || key[i] == 0x7f {
			return fmt.Errorf("%w: %q holds a control character", ErrBadKey, key)
		}
	}
	return nil
}

// State is what the stream holds: see hub.LogState.
type State = hub.LogState

// Log is the event log a hub needs (hub.Config.Log), and keeps counters
// for its metrics.
var (
	_ hub.EventLog   = (*Log)(nil)
	_ hub.LogStatser = (*Log)(nil)
)

// State asks the stream what it holds.
func (l *Log) State(ctx context.Context) (State, error) {
	if l.ctx.Err() != nil {
		return State{}, ErrClosed
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return State{}, fmt.Errorf("stream %q state: %w", l.cfg.Stream, unavailable(err))
	}
	st := State{First: info.State.FirstSeq, Last: info.State.LastSeq, Msgs: info.State.Msgs, Bytes: info.State.Bytes}
	if g := l.ghost.Load(); g != 0 && st.Last == g {
		st.Last = l.readable.Load() // the last sequence holds nothing to follow
	}
	if st.Msgs == 0 {
		st.First = st.Last + 1
	}
	l.stats.seen(st.Last)
	return st, nil
}

// Stats are the Log's counters for metrics, all since Open: see
// hub.LogStats for what each means here.
type Stats = hub.LogStats

type counters struct {
	appends, duplicates, unavailable atomic.Uint64
	latency, lastLatency, maxLatency atomic.Int64
	lastSeq, followed, pending       atomic.Uint64
	reads, readEntries               atomic.Uint64
	lost                             atomic.Uint64
}

func (c *counters) appended(d time.Duration, seq uint64, dup bool) {
	c.appends.Add(1)
	if dup {
		c.duplicates.Add(1)
	}
	c.latency.Add(int64(d))
	c.lastLatency.Store(int64(d))
	storeMax(&c.maxLatency, int64(d))
	c.seen(seq)
}

func (c *counters) seen(seq uint64) {
	for {
		old := c.lastSeq.Load()
		if seq <= old || c.lastSeq.CompareAndSwap(old, seq) {
			return
		}
	}
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// Stats returns the Log's counters.
func (l *Log) Stats() Stats {
	c := &l.stats
	return Stats{
		Connected:         l.nc.Status() == nats.CONNECTED,
		Reconnects:        l.nc.Stats().Reconnects,
		Appends:           c.appends.Load(),
		Duplicates:        c.duplicates.Load(),
		Unavailable:       c.unavailable.Load(),
		AppendLatency:     time.Duration(c.latency.Load()),
		LastAppendLatency: time.Duration(c.lastLatency.Load()),
		MaxAppendLatency:  time.Duration(c.maxLatency.Load()),
		LastSeq:           c.lastSeq.Load(),
		Followed:          c.followed.Load(),
		Pending:           c.pending.Load(),
		Reads:             c.reads.Load(),
		ReadEntries:       c.readEntries.Load(),
		Lost:              c.lost.Load(),
		Damage:            l.Damage(),
	}
}

// enter registers a Follow or Read call, unless the Log is closed.
func (l *Log) enter() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.wg.Add(1)
	return nil
}

// Shutdown stops every Follow and Read (they return ErrClosed), waits
// for them until ctx ends, then closes the NATS connection and stops the
// embedded server. It returns ctx.Err() if the calls did not return in
// time (the connection is closed all the same). Appends after it began
// return ErrClosed. Calling it again waits again.
func (l *Log) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()

	done := make(chan struct{})
	go func() { // ends when the last Follow or Read returns, even after ctx ends
		l.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
		l.writeRecord(true)
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.closeConn()
	return err
}

// keepRecord writes the highest sequence this node knows of into the
// record every recordEvery, until the Log is shut down. Shutdown waits
// for it (l.wg).
func (l *Log) keepRecord() {
	defer l.wg.Done()
	t := time.NewTicker(recordEvery)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			l.writeRecord(false)
		}
	}
}

// writeRecord saves the record when the stream went past its Last; at
// the end (Shutdown) also with the stream's count of missing sequences.
func (l *Log) writeRecord(end bool) {
	if l.recPath == "" {
		return
	}
	l.recMu.Lock()
	defer l.recMu.Unlock()
	r := l.rec
	r.Last = max(r.Last, l.stats.lastSeq.Load())
	if end {
		r.Running = false
	}
	if end && l.brokenErr() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if info, err := l.stream.Info(ctx); err == nil {
			r.Last = max(r.Last, info.State.LastSeq)
			r.Deleted = uint64(info.State.NumDeleted)
		}
		cancel()
	}
	if r == l.rec {
		return
	}
	if err := r.save(l.recPath); err != nil {
		l.logger.Warn("cluster: keeping the record of the stream", keyErr, err)
		return
	}
	l.rec = r
}

// brokenErr is why Append refuses, or nil.
func (l *Log) brokenErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken
}

// Close is Shutdown without a time limit.
func (l *Log) Close() error { return l.Shutdown(context.Background()) }

// closeConn closes the connection and stops the embedded server, once.
func (l *Log) closeConn() {
	l.once.Do(func() {
		if l.nc != nil {
			l.nc.Close()
		}
		if l.srv != nil {
			l.srv.Shutdown()
			l.srv.WaitForShutdown()
		}
	})
}
