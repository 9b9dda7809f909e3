package web

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lines keeps what is logged through it as "LEVEL message k=v ...".
type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lines) WithGroup(string) slog.Handler            { return l }

func (l *lines) Handle(_ context.Context, r slog.Record) error {
	s := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, s)
	return nil
}

// take returns what was logged since the last take.
func (l *lines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

// TestQuietLog checks on a fake clock that quietLog lets each message's
// first lines of an interval through, holds back the rest, and says how
// many it held back when the interval ends (or at close), at the level of
// the lines held back.
func TestQuietLog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    int  // lines of message "a" (Warn) and "b" (Info) in the first interval
		closeAt bool // close before the interval ends, instead of waiting
		want    []string
		summary []string // at the end of the interval, or at close
	}{
		{"under the burst", 3, 1, false,
			[]string{"WARN a i=0", "WARN a i=1", "WARN a i=2", "INFO b i=0"}, nil},
		{"over the burst", 10, 4, false,
			[]string{"WARN a i=0", "WARN a i=1", "WARN a i=2", "INFO b i=0", "INFO b i=1", "INFO b i=2"},
			[]string{"INFO suppressed similar lines message=b suppressed=1 interval=1s", "WARN suppressed similar lines message=a suppressed=7 interval=1s"}},
		{"closed with lines held back", 5, 0, true,
			[]string{"WARN a i=0", "WARN a i=1", "WARN a i=2"},
			[]string{"WARN suppressed similar lines message=a suppressed=2 interval=1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				out := &lines{}
				q := newQuietLog(slog.New(out), 3, time.Second)
				ctx := context.Background()
				for i := range max(tc.a, tc.b) {
					if i < tc.a {
						q.LogAttrs(ctx, slog.LevelWarn, "a", slog.Int("i", i))
					}
					if i < tc.b {
						q.LogAttrs(ctx, slog.LevelInfo, "b", slog.Int("i", i))
					}
				}
				if got := out.take(); !sameSet(got, tc.want) {
					t.Fatalf("let through %q, want %q", got, tc.want)
				}
				if tc.closeAt {
					q.close()
				} else {
					time.Sleep(time.Second - time.Nanosecond)
					synctest.Wait()
					if got := out.take(); len(got) != 0 {
						t.Fatalf("before the interval ends: %q", got)
					}
					time.Sleep(time.Nanosecond)
					synctest.Wait()
				}
				if got := out.take(); !sameSet(got, tc.summary) {
					t.Fatalf("summaries %q, want %q", got, tc.summary)
				}
				// A new interval lets lines through again; after close,
				// every line goes through.
				q.LogAttrs(ctx, slog.LevelWarn, "a", slog.Int("i", 99))
				if got := out.take(); len(got) != 1 || got[0] != "WARN a i=99" {
					t.Fatalf("in the next interval: %q, want the line", got)
				}
				q.close()
				q.close()
				if got := out.take(); len(got) != 0 {
					t.Fatalf("close wrote %q, want nothing: no line was held back", got)
				}
			})
		})
	}
}

// sameSet reports whether a and b hold the same lines, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		if count[s]--; count[s] < 0 {
			return false
		}
	}
	return true
}
