package sse_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/sse"
)

// discard is a ResponseWriter that can flush and counts what it is given.
type discard struct {
	h       http.Header
	written int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { d.written += len(p); return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

func newDiscard() *discard { return &discard{h: http.Header{}} }

var benchEvent = sse.PatchElements{
	Elements: `<div id="ticker"><span class="price">` + strings.Repeat("42.17 ", 36) + `</span></div>`,
	Selector: "#ticker", Mode: sse.ModeInner,
}

func BenchmarkEncode(b *testing.B) {
	e, err := benchEvent.Event()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = sse.AppendEvent(buf[:0], &e)
	}
	b.SetBytes(int64(len(buf)))
}

var encodings = []sse.Encoding{sse.Identity, sse.Gzip, sse.Brotli, sse.Zstd}

func streamWith(b *testing.B, enc sse.Encoding, w http.ResponseWriter) *sse.Stream {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Encoding", string(enc))
	s, err := sse.NewSSE(w, r, sse.WithCompression(sse.Gzip, sse.Brotli, sse.Zstd), sse.WithWriteTimeout(0))
	if err != nil {
		b.Fatal(err)
	}
	if s.Encoding() != enc {
		b.Fatalf("negotiated %s, want %s", s.Encoding(), enc)
	}
	return s
}

// BenchmarkSend is the cost of one event through a Stream, compressed or
// not; wire-B/op is what reaches the connection.
func BenchmarkSend(b *testing.B) {
	for _, enc := range encodings {
		b.Run(string(enc), func(b *testing.B) {
			w := newDiscard()
			s := streamWith(b, enc, w)
			w.written = 0
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Send(benchEvent); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.written)/float64(b.N), "wire-B/op")
		})
	}
}

// BenchmarkIdleStream reports the heap one open stream holds after it has
// sent one event and gone idle, for each coding.
func BenchmarkIdleStream(b *testing.B) {
	const n = 1000
	for _, enc := range encodings {
		b.Run(string(enc), func(b *testing.B) {
			var perStream float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				streams := make([]*sse.Stream, n)
				for i := range streams {
					streams[i] = streamWith(b, enc, newDiscard())
					if err := streams[i].Send(benchEvent); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perStream = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(streams)
			}
			b.ReportMetric(perStream, "B/stream")
		})
	}
}
