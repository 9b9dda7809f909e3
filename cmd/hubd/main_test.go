package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// watchedBuffer collects what a run writes and lets a test wait until a
// piece of text has arrived. It is safe for concurrent use.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at every write
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{})} }

func (b *watchedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *watchedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// has reports whether the buffer holds text, and returns a channel that is
// closed at the next write.
func (b *watchedBuffer) has(text string) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), text), b.changed
}

// runUntilListening runs hubd in this process with JSON logs, waits until
// it listens, then stops it the way a signal would (through run's context)
// and returns its log lines, decoded.
func runUntilListening(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newWatchedBuffer(), newWatchedBuffer()
	args = append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, env(nil), stdout, stderr) }() // ends with ctx
	timeout := time.After(30 * time.Second)
	for {
		listening, changed := stdout.has("listening on ")
		if listening {
			break
		}
		select {
		case <-changed:
		case err := <-done:
			t.Fatalf("run returned %v before listening\n%s", err, stderr)
		case <-timeout:
			t.Fatalf("not listening after 30s\n%s", stderr)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of its context ending")
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, line)
	}
	return lines
}

// logLine returns the first line whose message starts with msg.
func logLine(t *testing.T, lines []map[string]any, msg string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if m, _ := l["msg"].(string); strings.HasPrefix(m, msg) {
			return l
		}
	}
	t.Fatalf("no log line starting %q in %v", msg, lines)
	return nil
}

// TestStartupLog checks what an operator reads at start: the node ID (a
// fresh UUID v7 unless set), durations written as "15s", and which page
// origins the hub lets in.
func TestStartupLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		nodeID      string // "" for a generated one
		originsMsg  string
		corsOrigins string
	}{
		{"defaults", nil, "", "no cors-origins: browser pages of other origins than the hub's own will be refused", ""},
		{"named node, two origins", []string{"-node-id", "eu-1.hub_a", "-cors-origins", "https://a.example/, http://b.example:3000"},
			"eu-1.hub_a", "browser pages of these origins may call the hub", "https://a.example,http://b.example:3000"},
		{"any origin", []string{"-cors-origins", "*"}, "", "cors-origins *: browser pages of any origin may call the hub, without cookies", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := runUntilListening(t, tt.args...)
			started := logLine(t, lines, "hubd started")
			id, _ := started["node_id"].(string)
			if tt.nodeID != "" {
				if id != tt.nodeID {
					t.Errorf("node_id %q, want %q", id, tt.nodeID)
				}
			} else if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
				t.Errorf("node_id %q is not a UUID v7 (%v)", id, err)
			}
			if hb := started["heartbeat"]; hb != "15s" {
				t.Errorf("heartbeat logged as %v (%T), want \"15s\"", hb, hb)
			}
			origins := logLine(t, lines, tt.originsMsg)
			if origins["level"] != "INFO" || origins["cors_origins"] != tt.corsOrigins {
				t.Errorf("origins line %v, want level INFO and cors_origins %q", origins, tt.corsOrigins)
			}
		})
	}
}

// TestNodeIDFreshPerStart checks that two starts without node-id get two
// different node IDs.
func TestNodeIDFreshPerStart(t *testing.T) {
	t.Parallel()
	first := logLine(t, runUntilListening(t), "hubd started")["node_id"]
	second := logLine(t, runUntilListening(t), "hubd started")["node_id"]
	if first == nil || first == "" || first == second {
		t.Errorf("node IDs of two starts: %v and %v, want two different ones", first, second)
	}
}

// TestLoggerDurations checks that both log formats write durations as Go
// does ("1.5s"), also inside groups, and leave other values alone.
func TestLoggerDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format string
		want   []string
	}{
		{"json", []string{`"took":"1.5s"`, `"grace":{"left":"250ms"}`, `"count":3`}},
		{"text", []string{"took=1.5s", "grace.left=250ms", "count=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := newLogger(&config{LogLevel: slog.LevelInfo, LogFormat: tt.format}, &buf)
			log.Info("x", "took", 1500*time.Millisecond, slog.Group("grace", "left", 250*time.Millisecond), "count", 3)
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("log line %q lacks %s", buf.String(), w)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "-version", "--version"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{arg}, env(nil), &stdout, &stderr); err != nil {
				t.Fatalf("hubd %s: %v\n%s", arg, err, stderr.String())
			}
			if got, want := stdout.String(), "hubd "+version+"\n"; got != want {
				t.Errorf("hubd %s printed %q, want %q", arg, got, want)
			}
		})
	}
	// The usage names the flag forms too.
	var help bytes.Buffer
	if _, err := loadConfig([]string{"-help"}, env(nil), &help); err == nil || !strings.Contains(help.String(), "-version") {
		t.Errorf("usage does not mention -version:\n%s", help.String())
	}
}
