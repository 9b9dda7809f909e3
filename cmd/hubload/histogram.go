package main

import (
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets: 16 per power of two of
// microseconds, so every recorded value is within about 6% of its bucket's
// lower bound. It is small enough to keep one per subscriber.
type histogram struct {
	Counts []uint64 `json:"counts"`
	Max    int64    `json:"max_us"`
	N      uint64   `json:"n"`
}

const subBuckets = 16

func bucketOf(us int64) int {
	if us < subBuckets {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) // 5 or more
	return (e-4)*subBuckets + int(uint64(us)>>(e-5)&(subBuckets-1))
}

func bucketLow(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	e := i/subBuckets + 4
	return int64(subBuckets+i%subBuckets) << (e - 5)
}

func (h *histogram) record(d time.Duration) {
	us := d.Microseconds()
	b := bucketOf(us)
	if b >= len(h.Counts) {
		h.Counts = append(h.Counts, make([]uint64, b+1-len(h.Counts))...)
	}
	h.Counts[b]++
	h.N++
	h.Max = max(h.Max, us)
}

func (h *histogram) merge(o *histogram) {
	if len(o.Counts) > len(h.Counts) {
		h.Counts = append(h.Counts, make([]uint64, len(o.Counts)-len(h.Counts))...)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
	h.Max = max(h.Max, o.Max)
}

// quantile returns the lower bound of the bucket that holds quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(q * float64(h.N))
	if rank >= h.N {
		return time.Duration(h.Max) * time.Microsecond
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen > rank {
			return time.Duration(bucketLow(i)) * time.Microsecond
		}
	}
	return time.Duration(h.Max) * time.Microsecond
}
