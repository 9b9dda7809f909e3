package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
)

func TestRetainedSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		args         []string
		env          map[string]string
		topic, total int64
		err          string
	}{
		{"defaults", nil, nil, hub.DefaultRetainedTopicBytes, hub.DefaultRetainedBytes, ""},
		{"flags", []string{"-retained-topic-bytes", "100", "-retained-bytes", "1000"}, nil, 100, 1000, ""},
		{"env", nil, map[string]string{"HUBD_RETAINED_TOPIC_BYTES": "7", "HUBD_RETAINED_BYTES": "9"}, 7, 9, ""},
		{"zero", []string{"-retained-bytes", "0"}, nil, 0, 0, "retained-bytes (from flag -retained-bytes): 0 is not positive"},
		{"topic over total", []string{"-retained-topic-bytes", "2000", "-retained-bytes", "1000"}, nil, 0, 0, "retained-topic-bytes 2000 is more than retained-bytes 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RetainedTopicBytes != tt.topic || c.RetainedBytes != tt.total {
				t.Errorf("retained-topic-bytes %d, retained-bytes %d; want %d, %d", c.RetainedTopicBytes, c.RetainedBytes, tt.topic, tt.total)
			}
		})
	}
}

// TestRestartKeepsRetained: the built binary, stopped gracefully with a
// history-file and started again, still hands a new subscriber the
// retained state of the first run; and its retained-topic-bytes is
// enforced.
func TestRestartKeepsRetained(t *testing.T) {
	bin := buildHubd(t)
	file := filepath.Join(t.TempDir(), "history")
	args := []string{"-addr", "127.0.0.1:0", "-history-file", file, "-log-level", "warn", "-retained-topic-bytes", "200"}
	retain := func(base, body string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/topics/room", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Hubd-Retain", "true")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	cmd, base := startHubd(t, bin, args...)
	for _, body := range []string{`{"count":1,"who":"ann"}`, `{"count":2}`} {
		if status := retain(base, body); status != http.StatusOK {
			t.Fatalf("retained publish %s: %d", body, status)
		}
	}
	if status := retain(base, `{"big":"`+strings.Repeat("x", 300)+`"}`); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("publish over retained-topic-bytes: %d, want 413", status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first run exited with %v", err)
	}

	_, base = startHubd(t, bin, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/topics/room", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	defer resp.Body.Close()
	ev, err := readEvent(bufio.NewReader(resp.Body))
	if err != nil || ev.event != "datastar-patch-signals" || ev.id != "" || strings.Join(ev.data, "\n") != `signals {"count":2,"who":"ann"}` {
		t.Fatalf("first frame after the restart %+v (%v), want the retained signals without an id", ev, err)
	}
}
