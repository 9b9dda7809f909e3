package heartbeat_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hubd-dev/hubd/heartbeat"
)

func TestStartBeatsEveryInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		interval time.Duration
		want     time.Duration // the interval actually used
	}{
		{"configured", 2 * time.Second, 2 * time.Second},
		{"zero uses the default", 0, heartbeat.DefaultInterval},
		{"negative uses the default", -time.Second, heartbeat.DefaultInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var beats atomic.Int32
				var times []time.Duration
				tk := heartbeat.Start(tt.interval, func(now time.Time) {
					beats.Add(1)
					times = append(times, now.Sub(start))
				})
				defer tk.Stop()

				time.Sleep(tt.want - 1)
				synctest.Wait()
				if n := beats.Load(); n != 0 {
					t.Fatalf("%d beats before the first interval ended", n)
				}
				time.Sleep(tt.want*7/2 - (tt.want - 1)) // 3.5 intervals in all
				synctest.Wait()
				if n := beats.Load(); n != 3 {
					t.Fatalf("%d beats after 3.5 intervals, want 3", n)
				}
				tk.Stop()
				for i, d := range times {
					if want := time.Duration(i+1) * tt.want; d != want {
						t.Errorf("beat %d at %v, want %v", i+1, d, want)
					}
				}
			})
		})
	}
}

func TestStopWaitsForBeatInProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inBeat := make(chan struct{})
		release := make(chan struct{})
		var beats atomic.Int32
		tk := heartbeat.Start(time.Second, func(time.Time) {
			if beats.Add(1) == 1 {
				close(inBeat)
				<-release
			}
		})

		<-inBeat // the first beat is running and blocked
		var stopped atomic.Bool
		go func() {
			tk.Stop()
			stopped.Store(true)
		}()
		synctest.Wait()
		if stopped.Load() {
			t.Fatal("Stop returned while a beat was in progress")
		}

		close(release)
		synctest.Wait()
		if !stopped.Load() {
			t.Fatal("Stop did not return after the beat ended")
		}
		if n := beats.Load(); n != 1 {
			t.Errorf("%d beats, want 1", n)
		}
	})
}

func TestStopIdempotentAndFinal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var beats atomic.Int32
		tk := heartbeat.Start(time.Second, func(time.Time) { beats.Add(1) })

		time.Sleep(2*time.Second + time.Second/2)
		tk.Stop()
		tk.Stop() // must neither panic nor block
		got := beats.Load()
		if got != 2 {
			t.Fatalf("%d beats before Stop, want 2", got)
		}

		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := beats.Load(); n != got {
			t.Errorf("%d beats after Stop", n-got)
		}
		// synctest.Test itself fails if Stop left the goroutine running.
	})
}

func TestStopBeforeFirstBeat(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var beats atomic.Int32
		tk := heartbeat.Start(time.Second, func(time.Time) { beats.Add(1) })
		tk.Stop()
		time.Sleep(5 * time.Second)
		if n := beats.Load(); n != 0 {
			t.Errorf("%d beats after an immediate Stop", n)
		}
	})
}
