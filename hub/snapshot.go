package hub

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hubd-dev/hubd/broadcast"
)

// snapshotVersion changes whenever the snapshot's layout does. Version 1
// held one run of consecutive events from First; version 2 gives each
// event its ID and the topics that still hold it, since a topic's own bound
// can drop an event from one topic and not another; version 3 adds the
// retained state. NewFromHistory reads all three.
const snapshotVersion = 3

// snapshot is what a restarted hub needs to go on where this one stopped:
// the run's epoch and newest ID, the history, and the marks that tell a
// client its events were trimmed.
type snapshot struct {
	Version   int
	Epoch     string
	Seq       uint64
	Forgotten uint64
	First     uint64 // version 1 only: the ID of Events[0], the others following one by one
	Events    []snapshotEvent
	Trimmed   map[string]uint64  // topics with events kept: highest trimmed ID
	Retained  []snapshotRetained // version 3
}

// snapshotRetained is one topic's retained state (see retained.go).
type snapshotRetained struct {
	Topic       string
	Public, All []byte
	Elements    []snapshotPatch
}

type snapshotPatch struct {
	Seq          uint64
	Target, Mode string
	Private      bool
	Data         []byte
}

type snapshotEvent struct {
	ID      uint64   // version 2; in version 1, First plus the event's index
	Topics  []string // the topics whose history holds it
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
	s := snapshot{Version: snapshotVersion, Epoch: h.epoch, Seq: h.seq, Forgotten: h.forgotten, Trimmed: map[string]uint64{}}
	for name, t := range h.topics {
		if t.events.n > 0 {
			s.Trimmed[name] = t.trimmed
		} else {
			// The topic will not be tracked after the restart: its mark
			// joins the one for forgotten topics, as releaseLocked does.
			s.Forgotten = max(s.Forgotten, t.trimmed)
		}
	}
	for _, e := range h.entriesLocked() {
		ev := snapshotEvent{ID: e.frame.ID, Data: e.frame.Data, Private: e.frame.Private}
		for _, name := range e.topics {
			// A topic holds exactly its events above its trimmed mark.
			if t := h.topics[name]; t != nil && e.frame.ID > t.trimmed {
				ev.Topics = append(ev.Topics, name)
			}
		}
		s.Events = append(s.Events, ev)
	}
	s.Retained = h.retained.save()
	h.mu.Unlock()
	if err := gob.NewEncoder(w).Encode(&s); err != nil {
		return fmt.Errorf("hub: save history: %w", err)
	}
	return nil
}

// NewFromHistory starts a hub that goes on where the one that wrote r
// with SaveHistory stopped: the same epoch, IDs continuing from its newest,
// and its history, trimmed to cfg's bounds. It reads what this version and
// the one before wrote, and refuses any other version by number.
func NewFromHistory(cfg Config, r io.Reader) (*Hub, error) {
	if cfg.Log != nil {
		return nil, errors.New("hub: a hub with an event log takes its history from the log, not a snapshot")
	}
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
	for _, ev := range s.Events {
		e := &entry{frame: broadcast.Frame{ID: ev.ID, Data: ev.Data, Private: ev.Private}, topics: ev.Topics}
		if _, rest, ok := bytes.Cut(ev.Data, []byte("\n")); ok {
			e.id = eventIDIn(rest) // after the hub's own id line
		}
		h.rememberIDLocked(e)
		for _, name := range ev.Topics {
			t := h.topicLocked(name)
			t.trimmed = max(t.trimmed, s.Trimmed[name])
			h.holdLocked(t, e)
		}
		h.addLocked(e)
	}
	h.retained.load(s.Retained)
	return h, nil
}

// check refuses a snapshot that could not have been written by SaveHistory,
// naming what is wrong, and gives the events of a version 1 snapshot their
// IDs.
func (s *snapshot) check() error {
	switch s.Version {
	case 1:
		if n := uint64(len(s.Events)); s.First == 0 || s.First+n != s.Seq+1 {
			return fmt.Errorf("%w: %d events from ID %d do not end at the newest ID %d", ErrSnapshot, n, s.First, s.Seq)
		}
		for i := range s.Events {
			s.Events[i].ID = s.First + uint64(i)
		}
	case 2, snapshotVersion:
	default:
		return fmt.Errorf("%w: format version %d; this hubd reads versions 1 to %d (was the file written by a newer hubd?)",
			ErrSnapshot, s.Version, snapshotVersion)
	}
	if s.Epoch == "" || strings.ContainsAny(s.Epoch, "-\r\n\x00") {
		return fmt.Errorf("%w: epoch %q", ErrSnapshot, s.Epoch)
	}
	if err := checkRetained(s.Retained); err != nil {
		return err
	}
	var prev uint64
	for i, ev := range s.Events {
		if ev.ID <= prev || ev.ID > s.Seq {
			return fmt.Errorf("%w: event %d has ID %d, not between the previous one's %d and the newest ID %d", ErrSnapshot, i, ev.ID, prev, s.Seq)
		}
		prev = ev.ID
		clean, err := cleanTopics(ev.Topics, true)
		if err != nil {
			return fmt.Errorf("%w: event %d: %w", ErrSnapshot, i, err)
		}
		if len(clean) != len(ev.Topics) {
			return fmt.Errorf("%w: event %d names a topic twice: %q", ErrSnapshot, i, ev.Topics)
		}
		for _, name := range ev.Topics {
			if m := s.Trimmed[name]; ev.ID <= m {
				return fmt.Errorf("%w: event %d (ID %d) of topic %q is not above the topic's trimmed mark %d", ErrSnapshot, i, ev.ID, name, m)
			}
		}
		prefix := "id: " + s.Epoch + "-" + strconv.FormatUint(ev.ID, 10) + "\n"
		if !strings.HasPrefix(string(ev.Data), prefix) {
			return fmt.Errorf("%w: event %d does not start with %q", ErrSnapshot, i, prefix)
		}
	}
	return nil
}
