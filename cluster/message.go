package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hubd-dev/hubd/hub"
)

// Message is one event to append: ONE stream message, so one sequence
// number however many topics it names. It is the hub's type, so that Log
// is a hub.EventLog: see hub.LogMessage for its fields.
type Message = hub.LogMessage

// Entry is a stored Message, as Follow and Read deliver it; Seq is the
// stream sequence. See hub.LogEntry.
type Entry = hub.LogEntry

// The message format, version 2.
//
// Header "Hubd-Format: 2" names the version, so that a node meeting a
// message it cannot read stops with ErrFormat instead of guessing. The
// payload is, in order:
//
//	flags     1 byte: bit 0 private, bit 1 retain, bit 2 clear the
//	          topics' retained state (no data); the other bits must be 0
//	count     uvarint: how many topics, at least 1
//	topics    count times: uvarint length, then the topic's bytes
//	data      the rest: Message.Data
//
// Version 1 is the same without bits 1 and 2. A message that needs
// neither is still written as version 1, so that nodes of the previous
// release read every event that does not use retained state while a
// cluster is upgraded one node at a time; they stop with ErrFormat at the
// first one that does. A new field means a new version.
const (
	formatHeader   = "Hubd-Format"
	formatVersion  = "2"
	formatVersion1 = "1"
	flagPrivate    = 1 << 0
	flagRetain     = 1 << 1
	flagClear      = 1 << 2
)

// messageVersion is the oldest format version that can carry m.
func messageVersion(m Message) string {
	if m.Retain || m.ClearRetained {
		return formatVersion
	}
	return formatVersion1
}

// ErrFormat is wrapped by the error of Follow and Read when a stored
// message is not one this version can read: an unknown format version or
// a damaged payload.
var ErrFormat = errors.New("cluster: unreadable message")

// encodeMessage returns the payload of m, or an error wrapping
// ErrNoTopics.
func encodeMessage(m Message) ([]byte, error) {
	if len(m.Topics) == 0 {
		return nil, ErrNoTopics
	}
	n := 1 + binary.MaxVarintLen64 + len(m.Data)
	for _, t := range m.Topics {
		if t == "" {
			return nil, fmt.Errorf("%w: empty topic name", ErrNoTopics)
		}
		n += binary.MaxVarintLen64 + len(t)
	}
	b := make([]byte, 0, n)
	var flags byte
	if m.Private {
		flags |= flagPrivate
	}
	if m.Retain {
		flags |= flagRetain
	}
	if m.ClearRetained {
		flags |= flagClear
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(m.Topics)))
	for _, t := range m.Topics {
		b = binary.AppendUvarint(b, uint64(len(t)))
		b = append(b, t...)
	}
	return append(b, m.Data...), nil
}

// decodeMessage reads a payload of the given format version. The
// message's Data is b's tail, not a copy.
func decodeMessage(version string, b []byte) (Message, error) {
	var known byte
	switch version {
	case formatVersion1:
		known = flagPrivate
	case formatVersion:
		known = flagPrivate | flagRetain | flagClear
	default:
		return Message{}, fmt.Errorf("%w: format version %q, this node reads %q and %q", ErrFormat, version, formatVersion1, formatVersion)
	}
	if len(b) == 0 {
		return Message{}, fmt.Errorf("%w: empty payload", ErrFormat)
	}
	flags := b[0]
	if flags&^known != 0 {
		return Message{}, fmt.Errorf("%w: unknown flags %#x", ErrFormat, flags)
	}
	b = b[1:]
	count, n := binary.Uvarint(b)
	// Each topic takes at least two bytes, which bounds count before any
	// allocation.
	if n <= 0 || count == 0 || count > uint64(len(b)-n)/2 {
		return Message{}, fmt.Errorf("%w: bad topic count", ErrFormat)
	}
	b = b[n:]
	m := Message{Private: flags&flagPrivate != 0, Retain: flags&flagRetain != 0, ClearRetained: flags&flagClear != 0, Topics: make([]string, count)}
	for i := range m.Topics {
		l, n := binary.Uvarint(b)
		if n <= 0 || l == 0 || l > uint64(len(b)-n) {
			return Message{}, fmt.Errorf("%w: bad topic %d", ErrFormat, i)
		}
		m.Topics[i] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	m.Data = b
	return m, nil
}
