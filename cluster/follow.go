package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// How a follower pulls: JetStream sends a heartbeat when idle, so that a
// silent server is noticed within two of them.
const (
	followExpiry    = 10 * time.Second
	followHeartbeat = 2 * time.Second
	readBatch       = 256
)

// fatal marks an error that ends Follow instead of a resume.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// Follow calls fn with every message stored with a sequence above after,
// in stream order, one at a time, each exactly once, and then with every
// message stored later, until ctx ends (it returns ctx.Err()), the Log is
// closed (ErrClosed), fn returns an error (returned as it is) or a message
// cannot be read (an error wrapping ErrFormat, naming its sequence). It
// runs in the caller's goroutine, and so does fn.
//
// When the connection breaks or the stream's server restarts, Follow
// resumes after the last sequence it delivered, with no gap and no
// repeat. Sequences that it skips were removed from the stream by its
// limits before they were read (or deleted by hand); a caller that needs
// to know compares each Seq with the previous one.
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
		err := l.followOnce(ctx, &last, fn)
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
		l.logger.Warn("cluster follow interrupted, resuming", keyAfter, last, keyErr, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, l.cfg.ReconnectMaxWait)
	}
}

// followOnce follows with one ordered consumer from *last+1 until it
// fails, moving *last along.
func (l *Log) followOnce(ctx context.Context, last *uint64, fn func(Entry) error) error {
	cons, err := l.js.OrderedConsumer(ctx, l.cfg.Stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   *last + 1,
		// One try per reset: on failure Follow starts over from *last,
		// under its own backoff that ctx can cut short.
		MaxResetAttempts: 1,
	})
	if err != nil {
		return fmt.Errorf("follow from %d: %w", *last+1, err)
	}
	it, err := cons.Messages(jetstream.PullExpiry(followExpiry), jetstream.PullHeartbeat(followHeartbeat))
	if err != nil {
		return fmt.Errorf("follow from %d: %w", *last+1, err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)() // Next then returns
	for {
		msg, err := it.Next()
		if err != nil {
			return fmt.Errorf("follow after %d: %w", *last, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("follow after %d: %w", *last, err)
		}
		seq := meta.Sequence.Stream
		if seq <= *last {
			continue // delivered already, before a reset
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
		InactiveThreshold: time.Minute, // in case the delete below is lost
		FilterSubjects:    filterSubjects(l.cfg.SubjectPrefix, want),
	}
	cons, err := l.js.CreateConsumer(ctx, l.cfg.Stream, cfg)
	if err != nil {
		return l.readErr(ctx, after, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = l.js.DeleteConsumer(dctx, l.cfg.Stream, cons.CachedInfo().Name)
	}()
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
