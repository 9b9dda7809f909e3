package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/hub"
)

// Idempotency keys in a cluster. A publish of N events under the key K
// stores event i under the message ID "K#i" (JetStream refuses a second
// message with an ID it saw within the stream's duplicate window, and
// answers the first one's sequence). Event 0 of a batch also carries the
// number of events in the header eventsHeader, so that a later publish
// under K that is not a retry of the same one (other topics) can be
// answered with everything the first one stored, and nothing of its own.

// eventsHeader is the header on the first message of a keyed publish of
// several events: how many it has.
const eventsHeader = "Hubd-Events"

// recallScan bounds how many messages of the first publish's subject
// AppendKeyed reads past each of its events to find the next one (other
// publishes to the same topics may come between).
const recallScan = 256

// maxRecall bounds how many events of a first publish AppendKeyed
// recalls, whatever its header says.
const maxRecall = 10_000

var _ hub.KeyedAppender = (*Log)(nil)

// AppendKeyed stores m, the first of events entries of one publish under
// key, as Append(ctx, m, key+"#0") does. When that ID is a duplicate
// within the stream's duplicate window, nothing is stored and first is
// what the first publish under key stored: its topics, whether it was
// private, and the sequences of its events, as far as the stream holds
// them (at least the first; first is nil if the stream no longer holds
// even that one).
func (l *Log) AppendKeyed(ctx context.Context, m Message, key string, events int) (seq uint64, first *hub.FirstPublish, err error) {
	var hdr nats.Header
	if events > 1 {
		hdr = nats.Header{eventsHeader: []string{strconv.Itoa(events)}}
	}
	ack, err := l.append(ctx, m, key+"#0", hdr)
	if err != nil {
		return 0, nil, err
	}
	if !ack.Duplicate {
		return ack.Sequence, nil, nil
	}
	first, err = l.recall(ctx, key, ack.Sequence)
	if err != nil {
		return 0, nil, fmt.Errorf("recall idempotency key %q: %w", key, err)
	}
	return ack.Sequence, first, nil
}

// recall reads what the first publish under key stored, its event 0
// being at seq.
func (l *Log) recall(ctx context.Context, key string, seq uint64) (*hub.FirstPublish, error) {
	raw, err := l.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil // dropped by the stream's limits since
	}
	if err != nil {
		return nil, unavailable(err)
	}
	m, err := decodeMessage(raw.Header.Get(formatHeader), raw.Data)
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(raw.Header.Get(eventsHeader))
	n = min(max(n, 1), maxRecall)
	first := &hub.FirstPublish{Topics: m.Topics, Private: m.Private, Events: n, Seqs: []uint64{seq}}
	prev := seq
	for i := 1; i < n; i++ {
		next, err := l.findKeyed(ctx, raw.Subject, key+"#"+strconv.Itoa(i), prev)
		if err != nil {
			return nil, err
		}
		if next == 0 {
			break // not stored, or no longer held
		}
		first.Seqs = append(first.Seqs, next)
		prev = next
	}
	return first, nil
}

// findKeyed returns the sequence of the message stored on subject under
// the message ID id, looking at most recallScan messages of subject past
// after; 0 when it finds none.
func (l *Log) findKeyed(ctx context.Context, subject, id string, after uint64) (uint64, error) {
	for range recallScan {
		raw, err := l.stream.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, unavailable(err)
		}
		if raw.Header.Get(jetstream.MsgIDHeader) == id {
			return raw.Sequence, nil
		}
		after = raw.Sequence
	}
	return 0, nil
}
