package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// How a follower pulls: each pull asks for up to followBatch messages and
// lasts at most followExpiry; JetStream sends a heartbeat when idle, so
// that a silent server is noticed within two of them.
const (
	followExpiry    = 10 * time.Second
	followHeartbeat = 2 * time.Second
	followBatch     = 256
	// followCreate bounds the creation of a follower's consumer. It needs
	// JetStream's meta leader; right after a server died there may be
	// none for a while, and the request goes unanswered: better to ask
	// again soon than to wait out the API's default timeout.
	followCreate = time.Second
	readBatch    = 256
)

// fatal marks an error that ends Follow instead of a resume.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// errMoved is why a follow starts over at once: the connection came back,
// perhaps on another server, and the pull in flight went to the old one.
var errMoved = errors.New("the NATS connection came back")

// Follow calls fn with every message stored with a sequence above after,
// in stream order, one at a time, each exactly once, and then with every
// message stored later, until ctx ends (it returns ctx.Err()), the Log is
// closed (ErrClosed), fn returns an error (returned as it is), a message
// cannot be read (an error wrapping ErrFormat, naming its sequence) or the
// stream lost events (an error wrapping ErrDamaged: it is gone, its last
// sequence went back, or it claims events it cannot deliver; Append then
// refuses too). It runs in the caller's goroutine, and so does fn.
//
// When the connection breaks or the stream's server restarts, Follow
// resumes after the last sequence it delivered, with no gap and no
// repeat; when the connection comes back, at once. Sequences that it
// skips were removed from the stream by its limits before they were read
// (or deleted by hand); a caller that needs to know compares each Seq
// with the previous one.
func (l *Log) Follow(ctx context.Context, after uint64, fn func(Entry) error) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(l.ctx, cancel)()

	last, wait := after, l.cfg.ReconnectWait
	for {
		from := last
		back := l.reconnected()
		err := l.followOnce(ctx, back, &last, fn)
		switch {
		case l.ctx.Err() != nil:
			return ErrClosed
		case ctx.Err() != nil:
			return ctx.Err()
		}
		var f fatal
		if errors.As(err, &f) {
			return f.err
		}
		if last > from {
			wait = l.cfg.ReconnectWait // it made progress: start the backoff over
		}
		moved := errors.Is(err, errMoved)
		if !moved {
			l.logger.Warn("cluster follow interrupted, resuming", keyAfter, last, keyErr, err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-back: // the connection is back: try it now
				moved = true
			}
			t.Stop()
			wait = min(2*wait, l.cfg.ReconnectMaxWait)
		}
		if moved {
			l.logger.Info("cluster follow resumes on the new connection", keyAfter, last)
		}
	}
}

// followOnce follows from *last+1 with a consumer of its own, pull after
// pull, until a pull fails, a delivery is missing or back is closed,
// moving *last along.
//
// The consumer acknowledges nothing, so a message lost in transit (the
// connection broke while it travelled) is not sent again: the consumer's
// delivery count then skips one, and followOnce stops, to start over
// from *last. Each pull is one Fetch, which its context ends: a pull that
// went to a server that died is given up as soon as the connection is
// back, instead of when it would have expired.
func (l *Log) followOnce(ctx context.Context, back <-chan struct{}, last *uint64, fn func(Entry) error) error {
	create, cancel := context.WithTimeout(ctx, followCreate)
	defer cancel()
	cons, err := l.js.CreateConsumer(create, l.cfg.Stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       *last + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute, // in case dropConsumer's delete is lost
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fatal{l.breakOn(span{1, max(*last, 1)}, "the stream is gone (deleted while this node followed it)")}
	}
	if err != nil {
		return fmt.Errorf("follow from %d: %w", *last+1, err)
	}
	defer l.dropConsumer(cons)
	// A follow starts over after the connection came back, maybe to a
	// server that lost what it held: check before waiting on a pull.
	// A consumer that lags the stream is fine here: it may sit on a
	// replica that has not applied the newest events yet.
	if _, err := l.checkIdle(ctx, cons, *last); err != nil {
		return err
	}
	var delivered uint64 // the consumer's count of messages it sent
	for {
		before := *last
		pull, cancel := context.WithTimeout(ctx, followExpiry)
		err := l.pull(pull, back, cons, &delivered, last, fn)
		cancel()
		if err == nil && *last == before {
			var lags bool
			lags, err = l.checkIdle(ctx, cons, *last)
			if err == nil && lags {
				// A whole pull went by while the stream's leader held an
				// event this consumer never sent: start over with a new
				// consumer rather than wait on this one.
				err = fmt.Errorf("follow after %d: the consumer on server %s sent nothing while the stream holds more", *last, consumerServer(cons))
			}
		}
		if err != nil {
			return err
		}
	}
}

// checkIdle is called when a follow starts and after a pull that
// delivered nothing: it checks that the stream did not lose events this
// follower is behind or has delivered already. A loss is an error
// wrapping ErrDamaged, in a fatal: this node stops, instead of waiting
// forever for events that are gone or handing out IDs that named other
// events (Append refuses from then on); a restart gives what remains a
// new epoch. Nothing is decided when the stream cannot be asked: the next
// pull tells.
//
// The stream's state comes from its leader, but a consumer answers from
// the server that holds it, which may be a replica a little behind the
// leader. So when the consumer has nothing to send while the leader says
// there is more, the leader is asked for the first event after last: if
// it has one, nothing is lost and lags is true (the consumer is behind);
// only if it has none is that a loss.
func (l *Log) checkIdle(ctx context.Context, cons jetstream.Consumer, last uint64) (lags bool, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return false, nil
	}
	ci, err := cons.Info(ctx) // after the stream's: an event stored in between is pending
	if err != nil {
		return false, nil
	}
	st := info.State
	var lost span
	var why string
	switch {
	case st.LastSeq < last:
		lost = span{st.LastSeq + 1, last}
		why = fmt.Sprintf("the stream's last sequence went back from %d to %d: new events would take IDs that named others", last, st.LastSeq)
	case st.LastSeq > last && st.Msgs > 0 && ci.NumPending == 0 && st.LastSeq != l.ghost.Load():
		// The leader answers with the first event from last+1 on, if any.
		_, err := l.stream.GetMsg(ctx, last+1, jetstream.WithGetMsgSubject(streamSubject(l.cfg.SubjectPrefix)))
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return false, nil // undecided: the next pull tells
		}
		lost = span{last + 1, st.LastSeq}
		why = fmt.Sprintf("the stream says it holds up to sequence %d but has nothing to deliver after %d", st.LastSeq, last)
	default:
		return false, nil
	}
	return false, fatal{l.breakOn(lost, why)}
}

// consumerServer names the server that holds cons, for a log line.
func consumerServer(cons jetstream.Consumer) string {
	if c := cons.CachedInfo().Cluster; c != nil && c.Leader != "" {
		return c.Leader
	}
	return "(unknown)"
}

// breakOn records a loss found while the Log runs and makes Append refuse
// from then on; it returns the error that says so.
func (l *Log) breakOn(lost span, why string) error {
	err := fmt.Errorf("%w: stream %q: sequences %s lost: %s (restart to serve what remains under a new epoch)", ErrDamaged, l.cfg.Stream, lost, why)
	l.mu.Lock()
	if l.broken == nil {
		l.broken = err
	}
	l.mu.Unlock()
	l.noteDamage("while running: "+err.Error(), lost.To-lost.From+1)
	return err
}

// pull makes one pull and hands its messages to fn. It returns nil when
// the pull ended by itself (it had its batch, or expired), so that the
// next one is made.
func (l *Log) pull(ctx context.Context, back <-chan struct{}, cons jetstream.Consumer, delivered, last *uint64, fn func(Entry) error) error {
	batch, err := cons.Fetch(followBatch, jetstream.FetchContext(ctx), jetstream.FetchHeartbeat(followHeartbeat))
	if err != nil {
		return fmt.Errorf("follow after %d: %w", *last, err)
	}
	msgs := batch.Messages()
	for {
		var msg jetstream.Msg
		select {
		case <-back:
			return errMoved
		case msg = <-msgs:
		}
		if msg == nil { // the pull is over
			err := batch.Error()
			if err == nil || errors.Is(err, context.DeadlineExceeded) && context.Cause(ctx) == context.DeadlineExceeded {
				return nil // expired: the server's answer and our own deadline race
			}
			return fmt.Errorf("follow after %d: %w", *last, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("follow after %d: %w", *last, err)
		}
		if meta.Sequence.Consumer != *delivered+1 {
			return fmt.Errorf("follow after %d: delivery %d came after %d: one was lost in transit", *last, meta.Sequence.Consumer, *delivered)
		}
		*delivered = meta.Sequence.Consumer
		seq := meta.Sequence.Stream
		if seq <= *last {
			continue // not expected from a consumer of its own
		}
		m, err := decodeMessage(msg.Headers().Get(formatHeader), msg.Data())
		if err != nil {
			return fatal{fmt.Errorf("follow: message %d: %w", seq, err)}
		}
		if err := fn(Entry{LogMessage: m, Seq: seq, Time: meta.Timestamp}); err != nil {
			return fatal{err}
		}
		*last = seq
		l.stats.followed.Store(seq)
		l.stats.pending.Store(meta.NumPending)
		l.stats.seen(seq + meta.NumPending)
	}
}

// Read calls fn, in stream order, with every stored message whose
// sequence is above after and at most upto and that names one of topics
// (every message when topics is empty), and returns once it has passed
// upto or the end of the stream. It is for replaying events older than a
// node keeps in memory: use State to tell what the stream still holds.
//
// Cost: one short-lived consumer on the server, and a round trip per 256
// messages. The server filters by subject, so events to one topic not
// asked for never travel; events to several topics all travel and are
// filtered here.
func (l *Log) Read(ctx context.Context, topics []string, after, upto uint64, fn func(Entry) error) error {
	if upto <= after {
		return nil
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(l.ctx, cancel)()
	l.stats.reads.Add(1)

	want := slices.Clone(topics)
	slices.Sort(want)
	want = slices.Compact(want)
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute, // in case dropConsumer's delete is lost
		FilterSubjects:    filterSubjects(l.cfg.SubjectPrefix, want),
	}
	cons, err := l.js.CreateConsumer(ctx, l.cfg.Stream, cfg)
	if err != nil {
		return l.readErr(ctx, after, err)
	}
	defer l.dropConsumer(cons)
	if cons.CachedInfo().NumPending == 0 {
		return nil
	}
	for {
		batch, err := cons.FetchNoWait(readBatch)
		if err != nil {
			return l.readErr(ctx, after, err)
		}
		n, done := 0, false
		for msg := range batch.Messages() {
			n++
			if done {
				continue // the rest of the batch is beyond upto
			}
			meta, err := msg.Metadata()
			if err != nil {
				return l.readErr(ctx, after, err)
			}
			seq := meta.Sequence.Stream
			if seq > upto {
				done = true
				continue
			}
			done = seq == upto || meta.NumPending == 0
			m, err := decodeMessage(msg.Headers().Get(formatHeader), msg.Data())
			if err != nil {
				return fmt.Errorf("read: message %d: %w", seq, err)
			}
			if len(want) > 0 && !namesAny(m.Topics, want) {
				continue
			}
			l.stats.readEntries.Add(1)
			if err := fn(Entry{LogMessage: m, Seq: seq, Time: meta.Timestamp}); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil {
			return l.readErr(ctx, after, err)
		}
		if done || n < readBatch {
			return nil
		}
	}
}

// dropConsumer deletes a consumer of Follow or Read on the side, within a
// second: when its server is gone the delete waits out that second, and
// the caller must not (the next pull, or a subscriber's replay). Its
// inactivity threshold removes a consumer whose delete was lost. The
// caller's own count in l.wg (enter) keeps the WaitGroup above 0 for the
// Add, and Shutdown waits for the delete.
func (l *Log) dropConsumer(cons jetstream.Consumer) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.js.DeleteConsumer(ctx, l.cfg.Stream, cons.CachedInfo().Name)
	}()
}

func (l *Log) readErr(ctx context.Context, after uint64, err error) error {
	switch {
	case l.ctx.Err() != nil:
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("read after %d: %w", after, unavailable(err))
}

// namesAny reports whether topics holds one of want (sorted).
func namesAny(topics, want []string) bool {
	for _, t := range topics {
		if _, ok := slices.BinarySearch(want, t); ok {
			return true
		}
	}
	return false
}
