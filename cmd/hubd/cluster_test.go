package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
)

// TestEmbeddedClusterSurvivesSIGKILL runs the binary with cluster:
// embedded, publishes, kills it with SIGKILL and starts it again on the
// same data-dir: a client reconnecting with an ID from before the crash
// gets every acknowledged event after it, without the missed signal (the
// epoch is the stream's, not the run's), then the cursor, then live events.
func TestEmbeddedClusterSurvivesSIGKILL(t *testing.T) {
	bin := buildHubd(t)
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"-cluster", "embedded", "-data-dir", dir, "-log-level", "warn", "-history-size", "2"}
	cmd, base := startHubd(t, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	var ids []string
	for i := range 6 {
		ids = append(ids, publishHTML(t, base, "news", fmt.Sprintf(`<p id="n">%d</p>`, i)))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("hubd exited cleanly after SIGKILL")
	}

	startHubd(t, bin, append([]string{"-addr", strings.TrimPrefix(base, "http://")}, args...)...)
	after := publishHTML(t, base, "news", `<p id="n">after the restart</p>`)
	if strings.Split(after, "-")[0] != strings.Split(ids[0], "-")[0] {
		t.Fatalf("the run after the crash changed the epoch: %s, before %s", after, ids[0])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := openStream(ctx, t, base, "news", ids[1])
	got := readPatches(t, "replay after the crash", r, len(ids)-2+1)
	if want := append(slices.Clone(ids[2:]), after); !slices.Equal(got, want) {
		t.Fatalf("replay after the crash: %v, want %v", got, want)
	}
	if ev, err := readEvent(r); err != nil || ev.id != after || ev.event != "" {
		t.Fatalf("cursor: %+v (%v), want %s", ev, err, after)
	}
	live := publishHTML(t, base, "news", `<p id="n">live</p>`)
	if ev, err := readEvent(r); err != nil || ev.id != live {
		t.Fatalf("live event %+v (%v), want %s", ev, err, live)
	}
}

// TestClusterSettings checks that the cluster settings reach the event
// log's config and that bad combinations are refused, each by name.
func TestClusterSettings(t *testing.T) {
	t.Parallel()
	c, err := loadConfig([]string{"-cluster", "nats://a:4222,nats://b:4222", "-cluster-stream", "EV", "-cluster-user", "u",
		"-cluster-password", "p", "-cluster-max-age", "1h", "-cluster-replicas", "3"}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.clusterConfig()
	if cc.URLs != "nats://a:4222,nats://b:4222" || cc.Stream != "EV" || cc.User != "u" || cc.Password != "p" ||
		cc.MaxAge != time.Hour || cc.Replicas != 3 || cc.Name != c.NodeID {
		t.Errorf("cluster config %+v", cc)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"embedded without data-dir", []string{"-cluster", "embedded"}, []string{`data-dir "": the embedded server needs a directory`}},
		{"data-dir without embedded", []string{"-data-dir", "/tmp/x"}, []string{"data-dir"}},
		{"bad URL and two auths", []string{"-cluster", "http://x", "-cluster-token", "t", "-cluster-creds", "f"},
			[]string{`cluster "http://x": want a nats://`, "cluster-creds and cluster-user and cluster-token: give one way to authenticate"}},
		{"history-file", []string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-history-file", "/tmp/h"}, []string{"history-file"}},
		{"replicas", []string{"-cluster", "nats://a:4222", "-cluster-replicas", "2"}, []string{"cluster-replicas 2: want 1 or 3"}},
		{"embedded replicas", []string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-cluster-replicas", "3"}, []string{"cluster-replicas 3: the embedded server is one server"}},
		{"cert without key", []string{"-cluster", "nats://a:4222", "-cluster-cert", "c.pem"}, []string{`cluster-cert and cluster-key "c.pem"/"": give both or neither`}},
		{"zero limit", []string{"-cluster", "nats://a:4222", "-cluster-max-msgs", "0"}, []string{`cluster-max-msgs (from flag -cluster-max-msgs): "0" is not a positive whole number, nor none`}},
		{"bad age", []string{"-cluster", "nats://a:4222", "-cluster-max-age", "-2h"}, []string{`cluster-max-age (from flag -cluster-max-age): "-2h" is not a positive duration`}},
		{"bad sync", []string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-cluster-sync", "sometimes"}, []string{`cluster-sync (from flag -cluster-sync): "sometimes" is neither always nor a positive duration`}},
		{"sync of a remote NATS", []string{"-cluster", "nats://a:4222", "-cluster-sync", "always"}, []string{"cluster-sync true: applies to the embedded server only: set sync_interval"}},
		{"bad on-damage", []string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-cluster-on-damage", "ignore"}, []string{`cluster-on-damage (from flag -cluster-on-damage): "ignore" is neither new-epoch nor refuse`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, env(nil), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			// The operator typed setting names; cluster.Config's field
			// names would send them looking for settings that do not exist.
			for _, field := range []string{"DataDir", "URLs", "Replicas", "CertFile", "CredsFile"} {
				if strings.Contains(err.Error(), field) {
					t.Errorf("error %q names %q, not a setting", err, field)
				}
			}
		})
	}
}

// TestClusterSyncSettings checks that cluster-sync and cluster-on-damage
// reach cluster.Config, and that the default sync asks nothing of a
// remote NATS.
func TestClusterSyncSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		always   bool
		interval time.Duration
		damage   string
	}{
		{[]string{"-cluster", "nats://a:4222"}, false, 0, cluster.DamageNewEpoch},
		{[]string{"-cluster", "embedded", "-data-dir", "/tmp/x"}, false, 0, cluster.DamageNewEpoch},
		{[]string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-cluster-sync", "always", "-cluster-on-damage", "refuse"}, true, 0, cluster.DamageRefuse},
		{[]string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-cluster-sync", "1s"}, false, time.Second, cluster.DamageNewEpoch},
	} {
		c, err := loadConfig(tc.args, env(nil), nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cc := c.clusterConfig()
		if cc.SyncAlways != tc.always || cc.SyncInterval != tc.interval || cc.OnDamage != tc.damage {
			t.Errorf("%v: sync always %v, interval %v, on damage %q; want %v, %v, %q", tc.args, cc.SyncAlways, cc.SyncInterval, cc.OnDamage, tc.always, tc.interval, tc.damage)
		}
	}
}

// TestClusterLimitsNone checks that each cluster-max-* setting says "no
// limit" with none or -1, from a flag, the environment or the file, and
// reaches cluster.Config as its negative "no limit".
func TestClusterLimitsNone(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "cluster: nats://a:4222\ncluster-max-bytes: none\n")
	c, err := loadConfig([]string{"-config", file, "-cluster-max-age", "none"}, env(map[string]string{"HUBD_CLUSTER_MAX_MSGS": "-1"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.clusterConfig()
	if cc.MaxAge >= 0 || cc.MaxMsgs >= 0 || cc.MaxBytes >= 0 {
		t.Errorf("limits %v, %d, %d: want each negative (no limit)", cc.MaxAge, cc.MaxMsgs, cc.MaxBytes)
	}
	if err := cc.Validate(); err != nil {
		t.Errorf("no limits refused: %v", err)
	}
	c, err = loadConfig([]string{"-cluster", "nats://a:4222", "-cluster-max-age", "90m", "-cluster-max-msgs", "5"}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc := c.clusterConfig(); cc.MaxAge != 90*time.Minute || cc.MaxMsgs != 5 || cc.MaxBytes != cluster.DefaultMaxBytes {
		t.Errorf("limits %v, %d, %d: want 90m, 5 and the default bytes", cc.MaxAge, cc.MaxMsgs, cc.MaxBytes)
	}
}
