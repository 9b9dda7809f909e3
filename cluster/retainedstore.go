package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/hub"
)

// Retained state outside the stream. The stream's limits (max age,
// messages, bytes) drop the events that built a topic's retained state;
// so each topic's state is also kept in the JetStream key-value bucket
// STREAM_retained ("HUBD_retained" by default), one key per topic, with a
// history of one value (only the latest state is kept) and no limits of
// its own. The bucket is made when a node first needs it, with the
// stream's replicas. A value is "EPOCH SEQ\n" followed by the hub's
// encoding of the state (nothing once the state was cleared).

var _ hub.RetainedStore = (*Log)(nil)

// retainedBucket is the Log's handle on the bucket, made on first use.
type retainedBucket struct {
	mu sync.Mutex
	kv jetstream.KeyValue
}

// storeTries bounds how often StoreRetained tries again when another
// node changed the key between its read and its write.
const storeTries = 10

// retainedBucketName names the bucket of retained state of the stream.
func (c Config) retainedBucketName() string { return c.Stream + "_retained" }

// bucket returns the bucket, making it if it does not exist.
func (l *Log) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	b := &l.retained
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	name := l.cfg.retainedBucketName()
	kv, err := l.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = l.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      name,
			Description: "hubd retained state by topic",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    l.cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = l.js.KeyValue(ctx, name) // another node made it first
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", name, unavailable(err))
	}
	b.kv = kv
	return kv, nil
}

// retainedKey is topic's key: key-value keys allow fewer characters than
// topics do.
func retainedKey(topic string) string { return base64.RawURLEncoding.EncodeToString([]byte(topic)) }

func encodeRecord(rec hub.RetainedRecord) []byte {
	b := fmt.Appendf(nil, "%s %d\n", rec.Epoch, rec.Seq)
	return append(b, rec.State...)
}

// decodeRecord reads the value of topic's key.
func decodeRecord(topic string, value []byte) (hub.RetainedRecord, error) {
	head, state, ok := strings.Cut(string(value), "\n")
	epoch, seq, ok2 := strings.Cut(head, " ")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || !ok2 || err != nil {
		return hub.RetainedRecord{}, fmt.Errorf("%w: retained state of %q: bad head %.40q", ErrFormat, topic, head)
	}
	return hub.RetainedRecord{Topic: topic, Epoch: epoch, Seq: n, State: []byte(state)}, nil
}

// LoadRetained calls fn with every topic's record in the bucket. It reads
// them one by one with single-message gets, needing no consumer (and so
// no permission to create one), each bounded by Config.PublishTimeout
// within ctx. A record it cannot read is an error.
func (l *Log) LoadRetained(ctx context.Context, fn func(hub.RetainedRecord) error) error {
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	if _, err := l.bucket(ctx); err != nil {
		return err
	}
	name := l.cfg.retainedBucketName()
	s, err := l.js.Stream(ctx, "KV_"+name)
	if err != nil {
		return fmt.Errorf("bucket %q: %w", name, unavailable(err))
	}
	prefix := "$KV." + name + "."
	for seq := uint64(1); ; {
		gctx, cancel := context.WithTimeout(ctx, l.cfg.PublishTimeout)
		raw, err := s.GetMsg(gctx, seq, jetstream.WithGetMsgSubject(prefix+">"))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bucket %q: %w", name, unavailable(err))
		}
		seq = raw.Sequence + 1
		if op := raw.Header.Get("KV-Operation"); op != "" {
			continue // a delete or purge marker
		}
		topic, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(raw.Subject, prefix))
		if err != nil {
			return fmt.Errorf("%w: bucket %q: key %q is no topic", ErrFormat, name, raw.Subject)
		}
		rec, err := decodeRecord(string(topic), raw.Data)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// StoreRetained makes rec its topic's record, unless the bucket holds one
// of the same epoch and at least rec's sequence: read, compare, then
// write on the condition that the key did not change meanwhile, again
// when it did.
func (l *Log) StoreRetained(ctx context.Context, rec hub.RetainedRecord) error {
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	kv, err := l.bucket(ctx)
	if err != nil {
		return err
	}
	key, value := retainedKey(rec.Topic), encodeRecord(rec)
	for range storeTries {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, key, value)
		case err != nil:
		default:
			held, derr := decodeRecord(rec.Topic, e.Value())
			if derr == nil && held.Epoch == rec.Epoch && held.Seq >= rec.Seq {
				return nil // a node that applied more stored it
			}
			_, err = kv.Update(ctx, key, value, e.Revision())
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // changed meanwhile: compare again
		}
		if err != nil {
			return fmt.Errorf("store retained state of %q: %w", rec.Topic, unavailable(err))
		}
		return nil
	}
	return fmt.Errorf("store retained state of %q: %w: the key kept changing", rec.Topic, ErrUnavailable)
}
