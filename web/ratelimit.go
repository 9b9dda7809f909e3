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

// allow takes n publishes from key's bucket: one for a single event, one
// per event for a batch, so that a batch cannot carry more events past the
// rate than single publishes could. Past the rate it returns a 429 that
// says when to retry; a batch larger than the burst gets a 429 saying that
// it can never pass as it is.
func (l *publishLimits) allow(key string, n int, now time.Time) error {
	if l.every == 0 {
		return nil
	}
	if n > l.burst {
		return &apiError{Status: http.StatusTooManyRequests, Field: "events",
			Msg: fmt.Sprintf("events: a batch of %d events is larger than the publish burst of %d (publish-burst), so it can never pass the publish rate; send at most %d events at a time", n, l.burst, l.burst)}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b.AllowN(now, n) {
		return nil
	}
	return l.tooMany(b, n, now)
}

// ready returns the 429 that allow(key, 1, now) would, without taking
// anything: a batch is checked so before its body is read, and charged
// for its events once they are counted.
func (l *publishLimits) ready(key string, now time.Time) error {
	if l.every == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b.TokensAt(now) >= 1 {
		return nil
	}
	return l.tooMany(b, 1, now)
}

// bucket returns key's bucket, made full if it is new, and now and then
// forgets the buckets that are full again. l.mu must be held.
func (l *publishLimits) bucket(key string, now time.Time) *rate.Limiter {
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
	return b
}

// tooMany is the 429 for n publishes that b cannot take now, with the
// seconds until it can as Retry-After.
func (l *publishLimits) tooMany(b *rate.Limiter, n int, now time.Time) error {
	missing := max(0, float64(n)-b.TokensAt(now))
	secs := max(1, int(math.Ceil(missing/float64(l.every))))
	return &apiError{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(secs),
		Msg: fmt.Sprintf("publish rate: more than %g per second (burst %d) for this credential", float64(l.every), l.burst)}
}
