package sse

import (
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Encoding names an HTTP content coding a stream can be written in.
type Encoding string

// The content codings a Stream can write.
const (
	Identity Encoding = "identity"
	Gzip     Encoding = "gzip"
	Brotli   Encoding = "br"
	Zstd     Encoding = "zstd"
)

// DefaultEncodings is the server's order of preference that WithCompression
// uses when it is given no encodings. It puts first the codings that hold
// the least memory per idle stream; see the README's compression figures.
var DefaultEncodings = []Encoding{Gzip, Zstd, Brotli}

// NegotiateEncoding picks the coding to answer a request whose
// Accept-Encoding header is acceptEncoding (all its lines joined with
// commas, when it has several), among the server's preferred
// codings in prefer (first is best). The client's q-values rank the
// candidates and the server's order breaks ties; q=0 refuses a coding, and
// "*" covers codings the header does not name. Identity is the answer when
// nothing else is acceptable.
func NegotiateEncoding(acceptEncoding string, prefer []Encoding) Encoding {
	if acceptEncoding == "" || len(prefer) == 0 {
		return Identity
	}
	best, bestQ := Identity, 0.0
	for _, enc := range prefer {
		if enc == Identity {
			continue
		}
		q := qValue(acceptEncoding, enc)
		if q > bestQ {
			best, bestQ = enc, q
		}
	}
	return best
}

// qValue returns the weight acceptEncoding gives enc: its own entry's, else
// the "*" entry's, else 0.
func qValue(acceptEncoding string, enc Encoding) float64 {
	star := -1.0
	for item := range strings.SplitSeq(acceptEncoding, ",") {
		name, params, _ := strings.Cut(item, ";")
		name = strings.TrimSpace(name)
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // an unreadable weight refuses rather than guesses
				}
				q = f
			}
		}
		switch {
		case strings.EqualFold(name, string(enc)):
			return q
		case name == "*":
			star = q
		}
	}
	return max(star, 0)
}

// compressor is what a Stream needs from an encoder: write, push out
// everything written so far as a complete unit the client can decode, and
// finish the coding.
type compressor interface {
	io.Writer
	Flush() error
	Close() error
}

// newCompressor returns an encoder for enc writing to w, or nil for
// Identity. The settings keep per-stream memory small, because a hub holds
// many idle streams (see BenchmarkIdleStream): gzip is stateless (no window
// is kept between events), zstd writes each flush as its own frame with one
// encoder shared by every stream, brotli uses its smallest window and
// fastest level.
func newCompressor(enc Encoding, w io.Writer) compressor {
	switch enc {
	case Gzip:
		z, _ := gzip.NewWriterLevel(w, gzip.StatelessCompression) // the level is valid
		return z
	case Zstd:
		return &zstdFrames{w: w}
	case Brotli:
		return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: 0, LGWin: 10})
	}
	return nil
}

// sharedZstd encodes the frames of every zstd stream; EncodeAll is safe
// for concurrent use and keeps its working memory in a small pool instead
// of in each stream (a streaming encoder holds hundreds of KiB).
var sharedZstd = sync.OnceValue(func() *zstd.Encoder {
	e, _ := zstd.NewWriter(nil, // the options are valid
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false),
		zstd.WithLowerEncoderMem(true),
	)
	return e
})

// zstdFrames is a zstd coding made of one frame per flush. A sequence of
// frames is a valid zstd stream (RFC 8878, section 3), so decoders read it
// as one; no state is kept between flushes.
type zstdFrames struct {
	w       io.Writer
	pending []byte
	out     []byte
}

func (z *zstdFrames) Write(p []byte) (int, error) {
	z.pending = append(z.pending, p...)
	return len(p), nil
}

func (z *zstdFrames) Flush() error {
	if len(z.pending) == 0 {
		return nil
	}
	z.out = sharedZstd().EncodeAll(z.pending, z.out[:0])
	z.pending = z.pending[:0]
	_, err := z.w.Write(z.out)
	if cap(z.out) > maxKeptBuffer { // do not hold on to one large event's buffers
		z.out, z.pending = nil, nil
	}
	return err
}

func (z *zstdFrames) Close() error { return z.Flush() }

// maxKeptBuffer is the largest buffer a stream keeps between events.
const maxKeptBuffer = 16 << 10
