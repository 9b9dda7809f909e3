package hub

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hubd-dev/hubd/broadcast"
)

// snapshotVersion changes whenever the snapshot's layout does.
const snapshotVersion = 1

// snapshot is what a restarted hub needs to go on where this one stopped:
// the run's epoch and newest ID, the history, and the marks that tell a
// client its events were trimmed.
type snapshot struct {
	Version   int
	Epoch     string
	Seq       uint64
	Forgotten uint64
	First     uint64 // ID of the oldest event kept
	Events    []snapshotEvent
	Trimmed   map[string]uint64 // topics with events kept: highest trimmed ID
}

type snapshotEvent struct {
	Topics  []string
	Data    []byte
	Private bool
}

// ErrSnapshot is wrapped by every error reading a snapshot.
var ErrSnapshot = errors.New("hub: unusable snapshot")

// SaveHistory writes what a hub started with NewFromHistory needs to go on
// where this one stopped: its event IDs, its history and its gap marks.
// Call it after Shutdown, so that nothing is published meanwhile; a client
// that reconnects to the new hub with a Last-Event-ID of this one gets
// exactly the events it missed.
func (h *Hub) SaveHistory(w io.Writer) error {
	h.mu.Lock()
	s := snapshot{Version: snapshotVersion, Epoch: h.epoch, Seq: h.seq, Forgotten: h.forgotten,
		First: h.hist.first, Trimmed: map[string]uint64{}}
	for name, t := range h.topics {
		if t.entries > 0 {
			s.Trimmed[name] = t.trimmed
		} else {
			// The topic will not be tracked after the restart: its mark
			// joins the one for forgotten topics, as releaseLocked does.
			s.Forgotten = max(s.Forgotten, t.trimmed)
		}
	}
	h.hist.since(0, func(e *entry) {
		s.Events = append(s.Events, snapshotEvent{Topics: e.topics, Data: e.frame.Data, Private: e.frame.Private})
	})
	h.mu.Unlock()
	if err := gob.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("hub: save history: %w", err)
	}
	return nil
}

// NewFromHistory starts a hub that goes on where the one that wrote r
// with SaveHistory stopped: the same epoch, IDs continuing from its newest,
// and its history, trimmed to cfg's bounds.
func NewFromHistory(cfg Config, r io.Reader) (*Hub, error) {
	var s snapshot
	if err := gob.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	h, err := New(cfg)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.epoch, h.seq, h.forgotten = s.Epoch, s.Seq, s.Forgotten
	h.idPre = idRoom(s.Epoch)
	h.hist.first = s.First
	for i, ev := range s.Events {
		for _, name := range ev.Topics {
			t := h.topicLocked(name)
			t.trimmed = max(t.trimmed, s.Trimmed[name])
			t.entries++
		}
		f := &broadcast.Frame{ID: s.First + uint64(i), Data: ev.Data, Private: ev.Private}
		h.hist.push(entry{frame: f, topics: ev.Topics}, h.dropLocked)
	}
	return h, nil
}

// check refuses a snapshot that could not have been written by SaveHistory,
// naming what is wrong.
func (s *snapshot) check() error {
	if s.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSnapshot, s.Version, snapshotVersion)
	}
	if s.Epoch == "" || strings.ContainsAny(s.Epoch, "-\r\n\x00") {
		return fmt.Errorf("%w: epoch %q", ErrSnapshot, s.Epoch)
	}
	if n := uint64(len(s.Events)); s.First == 0 || s.First+n != s.Seq+1 {
		return fmt.Errorf("%w: %d events from ID %d do not end at the newest ID %d", ErrSnapshot, n, s.First, s.Seq)
	}
	for i, ev := range s.Events {
		if _, err := cleanTopics(ev.Topics); err != nil {
			return fmt.Errorf("%w: event %d: %w", ErrSnapshot, i, err)
		}
		prefix := "id: " + s.Epoch + "-" + strconv.FormatUint(s.First+uint64(i), 10) + "\n"
		if !strings.HasPrefix(string(ev.Data), prefix) {
			return fmt.Errorf("%w: event %d does not start with %q", ErrSnapshot, i, prefix)
		}
	}
	return nil
}
