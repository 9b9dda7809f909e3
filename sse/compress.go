package sse

import (
	"io"
	"strconv"
	"strings"

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
// Accept-Encoding header is acceptEncoding, among the server's preferred
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
// many idle streams: gzip is stateless (no window is kept between events),
// zstd and brotli use their smallest windows and fastest levels.
func newCompressor(enc Encoding, w io.Writer) compressor {
	switch enc {
	case Gzip:
		z, _ := gzip.NewWriterLevel(w, gzip.StatelessCompression) // the level is valid
		return z
	case Zstd:
		z, _ := zstd.NewWriter(w, // the options are valid
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(zstd.MinWindowSize),
			zstd.WithEncoderConcurrency(1),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderCRC(false),
		)
		return z
	case Brotli:
		return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: 0, LGWin: 10})
	}
	return nil
}
