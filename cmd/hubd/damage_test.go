package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/internal/natstest"
)

// damageEvents is how many events TestDamagedStore stores before it
// damages the store: a few hundred KiB in msgs/1.blk.
const damageEvents = 1500

// TestDamagedStore stores events with cluster: embedded, stops hubd,
// damages the store as a disk or an operator might, and starts hubd
// again on it. In every case hubd logs an ERROR naming the lost
// sequences, /readyz is 200 and names them too, the lost-events metric
// counts them, and what remains is served under a new epoch: no new
// event takes an ID that an earlier event had, and a client resuming
// from an ID of before is told it missed events, then gets the history.
// A third start keeps that epoch and finds nothing new. With
// cluster-on-damage refuse, hubd does not start at all.
func TestDamagedStore(t *testing.T) {
	bin := buildHubd(t)
	stream := func(dir string) string { return filepath.Join(dir, "jetstream", "$G", "streams", "HUBD") }
	blk := func(dir string) string { return filepath.Join(stream(dir), "msgs", "1.blk") }
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		keeps  bool // the store keeps every event, under a new stream
	}{
		{"overwritten block", func(t *testing.T, dir string) {
			writeAt(t, blk(dir), bytes.Repeat([]byte{0}, 4096), size(t, blk(dir))/2)
		}, false},
		{"truncated block", func(t *testing.T, dir string) {
			if err := os.Truncate(blk(dir), size(t, blk(dir))/2); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"garbled tail", func(t *testing.T, dir string) {
			writeAt(t, blk(dir), bytes.Repeat([]byte{0x5a}, 100), size(t, blk(dir))-100)
		}, false},
		{"meta.inf deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(stream(dir), "meta.inf")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"stream deleted", func(t *testing.T, dir string) {
			if err := os.RemoveAll(stream(dir)); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := []string{"-cluster", "embedded", "-data-dir", dir, "-log-level", "warn", "-history-size", "100000"}
			cmd, base := startHubd(t, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
			old := map[string]string{} // ID: the event's data
			var ids []string
			for i := range damageEvents {
				html := fmt.Sprintf(`<p id="n">%d</p>`, i)
				id := publishHTML(t, base, "news", html)
				old[id] = html
				ids = append(ids, id)
			}
			stop(t, cmd)
			tc.damage(t, dir)

			// cluster-on-damage refuse: hubd says what was lost and exits.
			refused := newWatchedBuffer()
			r := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-cluster-on-damage", "refuse"}, args...)...)
			r.Stderr = refused
			if err := r.Run(); err == nil {
				t.Fatal("hubd started on a damaged store with cluster-on-damage refuse")
			}
			if !strings.Contains(refused.String(), "lost events") || !strings.Contains(refused.String(), "cluster-on-damage") {
				t.Fatalf("refusal does not say why:\n%s", refused.String())
			}

			logs := newWatchedBuffer()
			c := exec.Command(bin, append([]string{"-addr", strings.TrimPrefix(base, "http://")}, args...)...)
			c.Stderr = logs
			cmd, _ = startCmd(t, c)
			waitReadyz(t, base)
			if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "damaged") {
				t.Fatalf("no ERROR about the damage in the log:\n%s", logs.String())
			}
			damage := readyDamage(t, base)
			if len(damage) == 0 || !strings.Contains(damage[0], "epoch") || !tc.keeps && !strings.Contains(damage[0], "sequences ") {
				t.Fatalf("/readyz names no lost sequences nor the new epoch: %q", damage)
			}
			t.Logf("/readyz: %s", damage[0])
			if n := metricValue(t, base, "hubd_cluster_lost_events_total"); n <= 0 && !tc.keeps {
				t.Fatalf("hubd_cluster_lost_events_total %v, want the lost events counted", n)
			}

			epoch := strings.Split(publishHTML(t, base, "other", `<p>x</p>`), "-")[0]
			if epoch == strings.Split(ids[0], "-")[0] {
				t.Fatalf("the damaged store is served under its old epoch %s", epoch)
			}
			var fresh []string
			for i := range 20 {
				html := fmt.Sprintf(`<p id="n">after %d</p>`, i)
				id := publishHTML(t, base, "news", html)
				if prev, ok := old[id]; ok {
					t.Fatalf("ID %s named %q before the damage and %q after", id, prev, html)
				}
				fresh = append(fresh, id)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s := openStream(ctx, t, base, "news", ids[damageEvents*2/3])
			ev, err := readEvent(s)
			if err != nil || ev.event != "datastar-patch-signals" || !strings.Contains(strings.Join(ev.data, "\n"), hub.MissedSignal) {
				t.Fatalf("a client resuming from an old ID got %+v (%v), want the %s signal", ev, err, hub.MissedSignal)
			}
			seen := 0
			for seen < len(fresh) {
				ev, err := readEvent(s)
				if err != nil {
					t.Fatalf("replay: %v after %d fresh events", err, seen)
				}
				if ev.id == "" || ev.event != "datastar-patch-elements" {
					continue
				}
				data := strings.TrimPrefix(strings.Join(ev.data, "\n"), "elements ")
				if prev, ok := old[ev.id]; ok && prev != data {
					t.Fatalf("replayed ID %s is %q, but named %q before the damage", ev.id, data, prev)
				}
				if strings.Split(ev.id, "-")[0] != epoch {
					t.Fatalf("replayed ID %s is not of the new epoch %s", ev.id, epoch)
				}
				if strings.Contains(data, ">after ") {
					seen++
				}
			}

			// A start on the same store finds nothing new: same epoch,
			// no damage.
			stop(t, cmd)
			startHubd(t, bin, append([]string{"-addr", strings.TrimPrefix(base, "http://")}, args...)...)
			waitReadyz(t, base)
			if d := readyDamage(t, base); len(d) != 0 {
				t.Fatalf("the start after the recovery finds damage again: %q", d)
			}
			if again := strings.Split(publishHTML(t, base, "news", `<p>again</p>`), "-")[0]; again != epoch {
				t.Fatalf("the start after the recovery changed the epoch again: %s, was %s", again, epoch)
			}
		})
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// stop stops hubd with SIGTERM and waits for it to exit.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hubd after SIGTERM: %v", err)
	}
}

// readyDamage returns the damage /readyz reports; it must answer 200.
func readyDamage(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Damage []string
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %s %+v (%v)", resp.Status, body, err)
	}
	return body.Damage
}

// metricValue reads one unlabelled metric from /metrics.
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var v float64
		if _, err := fmt.Sscanf(line, name+" %g", &v); err == nil {
			return v
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", name, b)
	return 0
}

// TestStreamGoneWhileRunning deletes the stream under a running node, as
// an operator's "nats stream rm" would: the node cannot catch up with
// events that no longer exist, and says so instead of retrying forever
// while it looks ready: an ERROR with the cause, /readyz 503 naming it,
// and publishes refused with 503 rather than stored where this node never
// delivers them.
func TestStreamGoneWhileRunning(t *testing.T) {
	bin := buildHubd(t)
	srv := startJetStream(t)
	logs := newWatchedBuffer()
	c := exec.Command(bin, "-addr", "127.0.0.1:0", "-cluster", srv.ClientURL(), "-log-level", "warn")
	c.Stderr = logs
	_, base := startCmd(t, c)
	waitReadyz(t, base)
	for i := range 3 {
		publishHTML(t, base, "news", fmt.Sprintf(`<p id="n">%d</p>`, i))
	}

	if err := natstest.JetStream(t, srv.ClientURL()).DeleteStream(t.Context(), "HUBD"); err != nil {
		t.Fatal(err)
	}

	status := awaitNotReady(t, base)
	if !strings.Contains(status, "stream is gone") {
		t.Fatalf("/readyz says %q, want the cause", status)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "stream is gone") {
		t.Fatalf("no ERROR with the cause in the log:\n%s", logs.String())
	}
	resp, err := http.Post(base+"/topics/news", "text/html", strings.NewReader(`<p>into the gap</p>`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "stopped following") {
		t.Fatalf("publish after the stream was lost: %s %s, want 503 naming why", resp.Status, b)
	}
}

// awaitNotReady polls /readyz until it answers 503 with a status other
// than catching up, and returns that status; it fails the test after 20
// seconds.
func awaitNotReady(t *testing.T, base string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Status string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable && !strings.HasPrefix(body.Status, "catching up") {
			return body.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %s %q after 20s", resp.Status, body.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
