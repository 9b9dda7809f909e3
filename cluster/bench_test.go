package cluster_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
)

// BenchmarkAppend measures the event log alone, without HTTP or a hub:
// eight goroutines (or one per processor, if more) append 256-byte
// events, each waiting for its ack before the next as a publisher does,
// while a follower reads every event back as each node's does. It gives
// the log's own rate and CPU time per event at that concurrency, to set
// beside a cluster node's under load (docs/performance.md): "embedded"
// reaches its server in process, "tcp" a NATS server over loopback TCP
// (which runs in this process too, so its CPU is counted).
func BenchmarkAppend(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		benchmarkAppend(b, cluster.Config{URLs: cluster.Embedded, DataDir: b.TempDir()})
	})
	b.Run("tcp", func(b *testing.B) {
		benchmarkAppend(b, cluster.Config{URLs: startNATS(b, b.TempDir(), 0).ClientURL()})
	})
}

func benchmarkAppend(b *testing.B, cfg cluster.Config) {
	l, err := cluster.Open(b.Context(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// The follower reads everything, and says when it has read the event
	// to "end", which is appended after the others.
	reached := make(chan struct{})
	ctx, cancel := context.WithCancel(b.Context())
	followed := make(chan error, 1)
	go func() {
		followed <- l.Follow(ctx, 0, func(e cluster.Entry) error {
			if e.Topics[0] == "end" {
				close(reached)
			}
			return nil
		})
	}()

	m := cluster.Message{Topics: []string{"t"}, Data: []byte(strings.Repeat("x", 256))}
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(b.Context(), m, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if _, err := l.Append(b.Context(), cluster.Message{Topics: []string{"end"}}, ""); err != nil {
		b.Fatal(err)
	}
	select {
	case <-reached:
	case err := <-followed:
		b.Fatalf("Follow = %v before it read the last event", err)
	}
	elapsed, used := time.Since(start), cpuTime()-cpu
	cancel()
	if err := <-followed; !errors.Is(err, context.Canceled) {
		b.Fatalf("Follow = %v", err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/append")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
