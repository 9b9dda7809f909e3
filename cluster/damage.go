package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hubd-dev/hubd/hub"
)

// ErrDamaged is wrapped by Open's error when the stream lost events that
// it once held and Config.OnDamage is DamageRefuse, and by Follow's and
// Append's errors when the stream loses events while the Log runs: its
// sequences would otherwise name other events than the ones they named.
// It wraps hub.ErrLogDamaged.
var ErrDamaged = fmt.Errorf("cluster: the event log lost events: %w", hub.ErrLogDamaged)

// What Open does when the stream lost events (Config.OnDamage).
const (
	// DamageNewEpoch serves what remains under a new epoch: every ID
	// handed out before is then from another epoch, so no ID names two
	// events, and a client that resumes from one is told it missed events
	// and gets the whole history that remains.
	DamageNewEpoch = "new-epoch"
	// DamageRefuse makes Open fail with ErrDamaged, leaving the store as
	// it is for the operator to look at.
	DamageRefuse = "refuse"
)

// recordEvery is how often a Log with a record writes the highest
// sequence it knows of into it.
const recordEvery = time.Second

// record is what this node last knew of the stream, kept in a file
// beside the embedded server's store (not in it): the damage it is
// compared against (a block overwritten or cut, meta.inf or the whole
// stream directory deleted) leaves it whole, and deleting the data dir
// deletes both, which is a new stream with a new epoch anyway.
type record struct {
	Stream  string    `json:"stream"`
	Created time.Time `json:"created"`
	// Generation counts the losses found in this stream's life; each
	// gives the stream a new epoch.
	Generation uint64 `json:"generation"`
	Epoch      string `json:"epoch"`
	// Last is the highest sequence this node knew the stream held;
	// Deleted how many sequences inside the stream's range were missing
	// when it last looked (hubd deletes none; an operator may).
	Last    uint64 `json:"last"`
	Deleted uint64 `json:"deleted"`
	// Ghost is the stream's last sequence when it holds no event that
	// can be read, as found and reported before; 0 when it can be read.
	Ghost uint64 `json:"ghost,omitempty"`
	// Boot names the machine's boot during which a Log last opened the
	// stream, and Running says it has not been shut down since. Both
	// together tell a power cut (or any crash of the machine) from a
	// crash of the process: only the first loses what the operating
	// system had not synced to disk.
	Boot    string `json:"boot,omitempty"`
	Running bool   `json:"running"`
}

// bootID names the machine's current boot ("" where it cannot be told).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// recordPath is the record of the stream in the embedded server's data
// dir, or "" without one.
func (c Config) recordPath() string {
	if !c.Embedded() {
		return ""
	}
	return filepath.Join(c.DataDir, "hubd-log-"+c.Stream+".json")
}

// loadRecord reads the record at path; nil when there is none.
func loadRecord(path string) (*record, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the log's record: %w", err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read the log's record %s: %w (move it away to start without it)", path, err)
	}
	return &r, nil
}

// save writes r to path whole, or not at all, and syncs it to disk, so
// that it outlives a power cut as the store's synced files do.
func (r record) save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write the log's record: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write the log's record: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// span is a run of sequences, From to To inclusive.
type span struct{ From, To uint64 }

func (s span) String() string {
	if s.From == s.To {
		return strconv.FormatUint(s.From, 10)
	}
	return fmt.Sprintf("%d-%d", s.From, s.To)
}

// spans turns sequences into sorted, merged runs.
func spans(seqs []uint64) []span {
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	var out []span
	for _, s := range seqs {
		if n := len(out); n > 0 && s <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, s)
			continue
		}
		out = append(out, span{s, s})
	}
	return out
}

// merge merges runs into sorted, disjoint ones.
func merge(in []span) []span {
	in = slices.Clone(in)
	slices.SortFunc(in, func(a, b span) int { return cmp.Compare(a.From, b.From) })
	var out []span
	for _, s := range in {
		if n := len(out); n > 0 && s.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, s.To)
			continue
		}
		out = append(out, s)
	}
	return out
}

// damage is what Open found missing from the stream.
type damage struct {
	lost   []span   // the sequences lost, when known
	causes []string // how each loss showed
	// tail: the stream's last sequence holds no event; readable is then
	// the highest sequence that the stream can deliver.
	tail     bool
	readable uint64
}

func (d *damage) add(s []span, cause string) {
	d.lost = merge(append(d.lost, s...))
	d.causes = append(d.causes, cause)
}

func (d *damage) count() uint64 {
	var n uint64
	for _, s := range d.lost {
		n += s.To - s.From + 1
	}
	return n
}

// String names the lost sequences and how the loss showed.
func (d *damage) String() string {
	var b strings.Builder
	if len(d.lost) > 0 {
		const shown = 20
		names := make([]string, 0, min(len(d.lost), shown))
		for i, s := range d.lost {
			if i == shown {
				names = append(names, fmt.Sprintf("and %d more runs", len(d.lost)-shown))
				break
			}
			names = append(names, s.String())
		}
		fmt.Fprintf(&b, "sequences %s lost (%d events); ", strings.Join(names, ", "), d.count())
	}
	b.WriteString(strings.Join(d.causes, "; "))
	return b.String()
}

// inspect compares the stream's state with rec, what this node last knew
// of it (nil when it knew nothing), and returns what was lost: no causes
// when nothing was.
// created reports whether Open has just created the stream.
func (l *Log) inspect(ctx context.Context, info *jetstream.StreamInfo, rec *record, created bool) (*damage, error) {
	d := &damage{}
	st := info.State
	if rec != nil && !rec.Created.Equal(info.Created) {
		// Another stream than the one this node knew: its events are all
		// gone, or back under a new stream (meta.inf was lost).
		how := "the stream was found created at " + info.Created.UTC().Format(time.RFC3339Nano)
		if created {
			how = "the stream was gone and is created again"
		}
		cause := fmt.Sprintf("%s; the one this node knew (epoch %s, created %s) held up to sequence %d",
			how, rec.Epoch, rec.Created.UTC().Format(time.RFC3339Nano), rec.Last)
		var lost []span
		switch {
		case st.Msgs == 0:
			lost = []span{{1, rec.Last}}
		case st.LastSeq < rec.Last:
			lost = []span{{st.LastSeq + 1, rec.Last}}
		}
		if st.Msgs > 0 {
			cause += fmt.Sprintf("; the store still holds %d of its events (%d to %d), now under a new epoch", st.Msgs, st.FirstSeq, st.LastSeq)
		}
		if rec.Last > 0 {
			d.add(lost, cause)
		}
		return d, nil // a new epoch in any case; its tail is checked at the next start
	}
	if rec != nil && rec.Running && rec.Boot != "" && rec.Boot != l.boot && !l.cfg.SyncAlways {
		// The record is synced every recordEvery, the store only every
		// SyncInterval: the events of the last moments may be gone
		// without a trace in either, and their IDs would be handed out
		// again.
		d.add(nil, fmt.Sprintf("the machine restarted while hubd ran (boot %s, now %s) and the store syncs only every %v: "+
			"events acknowledged since its last sync may be lost without a trace", rec.Boot, l.boot, l.cfg.SyncInterval))
	}
	if rec != nil && st.LastSeq < rec.Last {
		d.add([]span{{st.LastSeq + 1, rec.Last}}, fmt.Sprintf("the stream ends at sequence %d, but this node recorded %d", st.LastSeq, rec.Last))
	}
	if st.Lost != nil && (len(st.Lost.Msgs) > 0 || st.Lost.Bytes > 0) && info.Config.Metadata[metaLost] != lostMark(st.Lost) {
		d.add(spans(st.Lost.Msgs), fmt.Sprintf("JetStream reports %d events (%d bytes) lost when it read its files", len(st.Lost.Msgs), st.Lost.Bytes))
	}
	var recDeleted uint64
	if rec != nil {
		recDeleted = rec.Deleted
	}
	tailGone := false
	if st.Msgs > 0 {
		_, err := l.stream.GetMsg(ctx, st.LastSeq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			tailGone = true
		case err != nil:
			return nil, fmt.Errorf("stream %q: read its last event: %w", l.cfg.Stream, unavailable(err))
		}
	}
	var missing []span
	// Without a record (a remote NATS) sequences missing inside the
	// range cannot be told from ones deleted by hand long ago.
	grew := rec != nil && uint64(st.NumDeleted) > recDeleted
	if st.NumDeleted > 0 && (grew || tailGone) {
		full, err := l.stream.Info(ctx, jetstream.WithDeletedDetails(true))
		if err != nil {
			return nil, fmt.Errorf("stream %q: %w", l.cfg.Stream, unavailable(err))
		}
		missing = spans(full.State.Deleted)
	}
	if grew {
		d.add(missing, fmt.Sprintf("%d sequences inside the stream's range hold no event (this node recorded %d)", st.NumDeleted, recDeleted))
	}
	if tailGone {
		d.tail, d.readable = true, st.LastSeq-1
		for _, s := range missing {
			if s.To >= st.LastSeq {
				d.readable = max(s.From, st.FirstSeq) - 1
			}
		}
		known := rec != nil && rec.Ghost == st.LastSeq || info.Config.Metadata[metaGhost] == strconv.FormatUint(st.LastSeq, 10)
		if !grew && !known {
			d.add([]span{{d.readable + 1, st.LastSeq}}, "the stream's last events cannot be read")
		}
	}
	return d, nil
}

// The stream's metadata keys where hubd keeps what every node must agree
// on after a loss: the generation (so the epoch), and the losses already
// counted in it.
const (
	metaGeneration = "hubd.generation"
	metaGhost      = "hubd.ghost"
	metaLost       = "hubd.lost"
)

// lostMark names JetStream's report of lost data, to tell it again.
func lostMark(ld *jetstream.LostStreamData) string {
	if ld == nil {
		return ""
	}
	s := spans(ld.Msgs)
	first, last := "", ""
	if len(s) > 0 {
		first, last = s[0].String(), s[len(s)-1].String()
	}
	return fmt.Sprintf("%d/%d/%s/%s", len(ld.Msgs), ld.Bytes, first, last)
}

// generation is the stream's generation as its metadata keeps it.
func generation(cfg jetstream.StreamConfig) uint64 {
	g, _ := strconv.ParseUint(cfg.Metadata[metaGeneration], 10, 64)
	return g
}

// keepGeneration writes the generation gen and the losses it covers into
// the stream's metadata, where every node (and this one, without its
// record) finds them.
func (l *Log) keepGeneration(ctx context.Context, info *jetstream.StreamInfo, gen uint64) error {
	cfg := info.Config
	cfg.Metadata = maps.Clone(cfg.Metadata)
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	cfg.Metadata[metaGeneration] = strconv.FormatUint(gen, 10)
	if g := l.ghost.Load(); g != 0 {
		cfg.Metadata[metaGhost] = strconv.FormatUint(g, 10)
	}
	if info.State.Lost != nil {
		cfg.Metadata[metaLost] = lostMark(info.State.Lost)
	}
	if _, err := l.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %q: keep its new generation %d: %w", l.cfg.Stream, gen, unavailable(err))
	}
	return nil
}

// epochOf names a stream's life: the same for as long as the stream
// lives and no loss was found in it (generation 0), another when it is
// deleted and created again or when a loss gives it a new generation. 8
// characters of base 36, no '-'.
func epochOf(name string, created time.Time, generation uint64) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(created.UTC().Format(time.RFC3339Nano)))
	if generation > 0 {
		h.Write([]byte{0})
		h.Write(strconv.AppendUint(nil, generation, 10))
	}
	const size = 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36 // 8 digits
	s := strconv.FormatUint(h.Sum64()%size, 36)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}
