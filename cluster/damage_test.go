package cluster_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
)

// TestStreamGoesBackWhileFollowing restarts the NATS server under a
// following Log with the stream's messages gone, as a server that lost
// its disk would come back: the stream's last sequence went back, and
// the next events would take sequences that named others. Follow stops
// with ErrDamaged (which is a hub.ErrLogDamaged) naming the lost
// sequences, instead of waiting forever, and Append refuses from then on.
func TestStreamGoesBackWhileFollowing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startNATS(t, dir, 0)
	l := open(t, testConfig(srv))
	f := follow(t, l, 0)
	var last uint64
	for range 20 {
		seq, err := l.Append(t.Context(), msg("news"), "")
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	f.await(t, last)

	natsPort := port(srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	if err := os.RemoveAll(filepath.Join(dir, "jetstream", "$G", "streams", cluster.DefaultStream, "msgs")); err != nil {
		t.Fatal(err)
	}
	startNATS(t, dir, natsPort)

	var err error
	select {
	case err = <-f.done:
		f.done <- err
	case <-time.After(waitFor):
		t.Fatal("Follow still waits on a stream that went back")
	}
	if !errors.Is(err, cluster.ErrDamaged) || !errors.Is(err, hub.ErrLogDamaged) || !strings.Contains(err.Error(), "went back") {
		t.Fatalf("Follow: %v, want ErrDamaged saying the stream went back", err)
	}
	if _, err := l.Append(t.Context(), msg("news"), ""); !errors.Is(err, cluster.ErrDamaged) {
		t.Fatalf("Append after the loss: %v, want ErrDamaged", err)
	}
	if d := l.Damage(); len(d) != 1 || !strings.Contains(d[0], "sequences 1-20 lost") {
		t.Fatalf("Damage %q, want the 20 lost sequences", d)
	}
	if s := l.Stats(); s.Lost != 20 {
		t.Fatalf("Stats.Lost %d, want 20", s.Lost)
	}
}

// TestMachineRestartWhileRunning opens an embedded Log whose record says
// that a Log had it open during another boot of the machine and never
// shut down: a power cut, which can take the events acknowledged since
// the store's last sync without a trace. With the default sync interval
// that is a new epoch; with SyncAlways nothing acknowledged can be lost,
// and the epoch stays.
func TestMachineRestartWhileRunning(t *testing.T) {
	t.Parallel()
	for _, always := range []bool{false, true} {
		dir := t.TempDir()
		cfg := cluster.Config{URLs: cluster.Embedded, DataDir: dir, SyncAlways: always}
		l, err := cluster.Open(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(t.Context(), msg("news"), ""); err != nil {
			t.Fatal(err)
		}
		before := l.Epoch()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// What the record holds after a power cut: the Log was running,
		// during a boot that is not this one.
		path := filepath.Join(dir, "hubd-log-"+cluster.DefaultStream+".json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		if rec["running"] != false || rec["boot"] == "" {
			t.Fatalf("record after Close: %s", b)
		}
		rec["running"], rec["boot"] = true, "another-boot"
		if b, err = json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}

		l = open(t, cfg)
		switch {
		case !always && (l.Epoch() == before || len(l.Damage()) != 1 || !strings.Contains(l.Damage()[0], "machine restarted")):
			t.Fatalf("sync interval: epoch %s (was %s), damage %q: want a new epoch and the reason", l.Epoch(), before, l.Damage())
		case always && (l.Epoch() != before || len(l.Damage()) != 0):
			t.Fatalf("sync always: epoch %s (was %s), damage %q: want neither changed", l.Epoch(), before, l.Damage())
		}
	}
}

// TestRemoteStoreDamage garbles the end of a NATS server's store, as a
// disk might, with no record of hubd's beside it (a remote NATS): the Log
// opened after finds the unreadable last event, serves what remains under
// a new epoch and keeps that generation in the stream, so that every node
// opened after it, and it again, agrees on that epoch without finding the
// loss again.
func TestRemoteStoreDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startNATS(t, dir, 0)
	l, err := cluster.Open(t.Context(), testConfig(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := l.Append(t.Context(), msg("news"), ""); err != nil {
			t.Fatal(err)
		}
	}
	before := l.Epoch()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	natsPort := port(srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	blk := filepath.Join(dir, "jetstream", "$G", "streams", cluster.DefaultStream, "msgs", "1.blk")
	fi, err := os.Stat(blk)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(blk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("Z", 100)), fi.Size()-100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	srv = startNATS(t, dir, natsPort)

	a := open(t, testConfig(srv))
	if a.Epoch() == before || len(a.Damage()) != 1 || !strings.Contains(a.Damage()[0], "sequences 50 lost") {
		t.Fatalf("after the damage: epoch %s (was %s), damage %q", a.Epoch(), before, a.Damage())
	}
	st, err := a.State(t.Context())
	if err != nil || st.Last != 49 {
		t.Fatalf("State %+v (%v): want Last 49, the last event that can be read", st, err)
	}
	b := open(t, testConfig(srv))
	if b.Epoch() != a.Epoch() || len(b.Damage()) != 0 {
		t.Fatalf("a second node: epoch %s, damage %q; want %s and none", b.Epoch(), b.Damage(), a.Epoch())
	}
	seq, err := b.Append(t.Context(), msg("news"), "")
	if err != nil || seq <= 50 {
		t.Fatalf("append after the damage: %d (%v), want past 50", seq, err)
	}
}
