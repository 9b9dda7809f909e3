package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/topics/news", nil)
	req.Header.Set("Datastar-Request", "true")
	req.Header.Set("Last-Event-ID", ids[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reconnect: %s", resp.Status)
	}
	r := bufio.NewReader(resp.Body)
	var got []string
	for range len(ids) - 2 + 1 {
		ev, err := readEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		if ev.event != "datastar-patch-elements" {
			t.Fatalf("after %v: %+v, want the events missed", got, ev)
		}
		got = append(got, ev.id)
	}
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
		{"embedded without data-dir", []string{"-cluster", "embedded"}, []string{"DataDir"}},
		{"data-dir without embedded", []string{"-data-dir", "/tmp/x"}, []string{"data-dir"}},
		{"bad URL and two auths", []string{"-cluster", "http://x", "-cluster-token", "t", "-cluster-creds", "f"}, []string{"URLs", "one way to authenticate"}},
		{"history-file", []string{"-cluster", "embedded", "-data-dir", "/tmp/x", "-history-file", "/tmp/h"}, []string{"history-file"}},
		{"replicas", []string{"-cluster", "nats://a:4222", "-cluster-replicas", "2"}, []string{"Replicas"}},
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
		})
	}
}
