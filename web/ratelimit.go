package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// publishLimits bounds the publishes of each publisher (a token, a key, or
// an address without authorization) with a token bucket.
type publishLimits struct {
	every rate.Limit // publishes per second; 0 is no bound
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// sweepEvery is how often buckets that are full again are forgotten, so
// that the map holds only recent publishers.
const sweepEvery = time.Minute

// allow takes one publish from key's bucket, or returns a 429 that says
// when to retry.
func (l *publishLimits) allow(key string, now time.Time) error {
	if l.every == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > sweepEvery {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.every, l.burst)
		l.buckets[key] = b
	}
	if b.AllowN(now, 1) {
		return nil
	}
	wait := time.Duration(float64(time.Second) / float64(l.every))
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &apiError{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(secs),
		Msg: fmt.Sprintf("publish rate: more than %g per second (burst %d) for this credential", float64(l.every), l.burst)}
}
