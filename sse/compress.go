package sse

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
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
	Deflate  Encoding = "deflate" // the zlib format, as HTTP defines it
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

// Compressor is what a Stream needs from an encoder: Write, Flush to push
// out everything written so far as a unit the client can decode at once,
// and Close to finish the coding. A Stream calls them under its lock, one
// at a time. *gzip.Writer, *zlib.Writer and *brotli.Writer are
// Compressors.
type Compressor interface {
	io.Writer
	Flush() error
	Close() error
}

// Coder makes the compressors of one content coding, one per stream: it is
// the custom write profile. GzipCoder, ZstdCoder, BrotliCoder and
// DeflateCoder set the levels and windows of the codings this package
// knows; a Coder of one's own plugs in any other (WithCoders). A Coder is
// shared by every stream it is given to, so NewCompressor must be safe for
// concurrent use.
type Coder interface {
	// Encoding is the coding's name, sent as Content-Encoding and
	// matched against Accept-Encoding.
	Encoding() Encoding
	// NewCompressor returns a compressor that writes to w. An error fails
	// NewSSE before anything is written.
	NewCompressor(w io.Writer) (Compressor, error)
}

// Negotiation says how a stream chooses among its coders.
type Negotiation int

const (
	// ClientPreference, the default, takes the coding the client weighs
	// highest (Accept-Encoding q-values), the server's order breaking ties.
	ClientPreference Negotiation = iota
	// ServerPreference takes the server's first coding that the client
	// accepts at all (q > 0), whatever the client's weights.
	ServerPreference
	// Forced takes the first coder whatever the client says, and writes no
	// Vary header: for clients known to decode it that send no
	// Accept-Encoding.
	Forced
)

// WithCompression lets the stream compress its events with the best coding
// the client accepts, among encodings in the server's order of preference
// (DefaultEncodings when none is given), each with the settings this
// package chooses for many idle streams (GzipCoder{}, ZstdCoder{},
// BrotliCoder{}, DeflateCoder{}). NewSSE refuses an encoding it has no
// coder for, so that no body is ever labelled with a coding it is not in.
// Responses carry Vary: Accept-Encoding.
func WithCompression(encodings ...Encoding) Option {
	if len(encodings) == 0 {
		encodings = DefaultEncodings
	}
	coders := make([]Coder, 0, len(encodings))
	for _, e := range encodings {
		if e != Identity {
			coders = append(coders, defaultCoder(e))
		}
	}
	return WithCoders(coders...)
}

// WithCoders lets the stream compress its events with coders, in the
// server's order of preference: the write profiles with levels and window
// sizes of one's own, or codings of one's own. They are chosen from as
// WithNegotiation says (ClientPreference by default).
func WithCoders(coders ...Coder) Option {
	return func(c *config) { c.coders = coders }
}

// WithNegotiation sets how the stream chooses among the coders given to
// WithCompression or WithCoders.
func WithNegotiation(n Negotiation) Option {
	return func(c *config) { c.negotiation = n }
}

// negotiate returns the coder to write in, or nil for Identity. It refuses
// coders whose encoding is not a valid name or has no coder.
func negotiate(acceptEncoding string, coders []Coder, n Negotiation) (Coder, error) {
	for _, c := range coders {
		enc := c.Encoding()
		if u, ok := c.(unsupported); ok {
			return nil, fmt.Errorf("%w: %q (want gzip, br, zstd or deflate, or a Coder of your own through WithCoders)", ErrUnknownEncoding, string(u))
		}
		if !validToken(string(enc)) || enc == Identity {
			return nil, fmt.Errorf("%w: %T names its encoding %q, not a content coding", ErrUnknownEncoding, c, string(enc))
		}
	}
	if n == Forced {
		return coders[0], nil
	}
	var best Coder
	bestQ := 0.0
	for _, c := range coders {
		q := qValue(acceptEncoding, c.Encoding())
		if n == ServerPreference && q > 0 {
			return c, nil
		}
		if q > bestQ {
			best, bestQ = c, q
		}
	}
	return best, nil
}

// ErrUnknownEncoding means a stream was asked to write in a content coding
// it has no coder for. NewSSE returns it, wrapped with the coding's name,
// before writing anything.
var ErrUnknownEncoding = errors.New("sse: unknown content coding")

// validToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// defaultCoder returns the package's coder for enc, or an unsupported one
// that NewSSE refuses.
func defaultCoder(enc Encoding) Coder {
	switch enc {
	case Gzip:
		return GzipCoder{}
	case Zstd:
		return ZstdCoder{}
	case Brotli:
		return BrotliCoder{}
	case Deflate:
		return DeflateCoder{}
	}
	return unsupported(enc)
}

// unsupported stands for an encoding without a coder, so that NewSSE can
// name it.
type unsupported Encoding

func (u unsupported) Encoding() Encoding { return Encoding(u) }

func (u unsupported) NewCompressor(io.Writer) (Compressor, error) {
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, string(u))
}

// GzipCoder writes gzip. Level is a compress/gzip level: 1 (fastest) to 9
// (smallest), -1 for the default, -2 for Huffman coding only; zero means
// stateless compression (-3), which keeps no window between flushes, so
// that an idle stream holds almost no memory (see BenchmarkIdleStream).
// Gzip's window is always 32 KiB.
type GzipCoder struct{ Level int }

// Encoding returns Gzip.
func (GzipCoder) Encoding() Encoding { return Gzip }

// NewCompressor returns a gzip writer at c's level, or an error naming a
// level gzip does not have.
func (c GzipCoder) NewCompressor(w io.Writer) (Compressor, error) {
	level := c.Level
	if level == 0 {
		level = gzip.StatelessCompression
	}
	z, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, fmt.Errorf("gzip level %d: %w", c.Level, err)
	}
	return z, nil
}

// DeflateCoder writes the "deflate" content coding, which HTTP defines as
// the zlib format (RFC 9110, section 8.4.1.2). Level is a compress/zlib
// level: 1 (fastest) to 9 (smallest), -1 for the default, -2 for Huffman
// coding only; zero means 1. Deflate keeps its window between flushes: each
// stream holds several hundred KiB, so prefer gzip for many idle streams.
type DeflateCoder struct{ Level int }

// Encoding returns Deflate.
func (DeflateCoder) Encoding() Encoding { return Deflate }

// NewCompressor returns a zlib writer at c's level, or an error naming a
// level zlib does not have.
func (c DeflateCoder) NewCompressor(w io.Writer) (Compressor, error) {
	level := c.Level
	if level == 0 {
		level = zlib.BestSpeed
	}
	z, err := zlib.NewWriterLevel(w, level)
	if err != nil {
		return nil, fmt.Errorf("deflate level %d: %w", c.Level, err)
	}
	return z, nil
}

// BrotliCoder writes brotli. Level is brotli's quality, 0 (fastest) to 11
// (smallest); LGWin is the base-2 logarithm of its window, 10 to 24, and
// zero means 10, the smallest (1 KiB), which keeps an idle stream's memory
// small.
type BrotliCoder struct {
	Level int
	LGWin int
}

// Encoding returns Brotli.
func (BrotliCoder) Encoding() Encoding { return Brotli }

// NewCompressor returns a brotli writer with c's settings, or an error
// naming one that is out of range.
func (c BrotliCoder) NewCompressor(w io.Writer) (Compressor, error) {
	lgwin := c.LGWin
	if lgwin == 0 {
		lgwin = 10
	}
	switch {
	case c.Level < brotli.BestSpeed || c.Level > brotli.BestCompression:
		return nil, fmt.Errorf("brotli level %d: want %d to %d", c.Level, brotli.BestSpeed, brotli.BestCompression)
	case lgwin < 10 || lgwin > 24:
		return nil, fmt.Errorf("brotli LGWin %d: want 10 to 24", c.LGWin)
	}
	return brotli.NewWriterOptions(w, brotli.WriterOptions{Quality: c.Level, LGWin: lgwin}), nil
}

// ZstdCoder writes zstd as one self-contained frame per flush, from an
// encoder that every stream of the coder shares (a sequence of frames is
// one valid zstd stream, RFC 8878, section 3): an idle stream keeps no
// encoder state. The zero ZstdCoder uses the fastest level with little
// memory; NewZstdCoder sets levels, window sizes and the rest.
type ZstdCoder struct{ enc *zstd.Encoder }

// NewZstdCoder returns a ZstdCoder whose encoder has opts, such as
// zstd.WithEncoderLevel and zstd.WithWindowSize (the options of
// github.com/klauspost/compress/zstd), or an error naming a bad option.
func NewZstdCoder(opts ...zstd.EOption) (ZstdCoder, error) {
	e, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return ZstdCoder{}, fmt.Errorf("sse: zstd options: %w", err)
	}
	return ZstdCoder{enc: e}, nil
}

// Encoding returns Zstd.
func (ZstdCoder) Encoding() Encoding { return Zstd }

// NewCompressor returns a zstd writer of one frame per flush; it never
// fails.
func (c ZstdCoder) NewCompressor(w io.Writer) (Compressor, error) {
	enc := c.enc
	if enc == nil {
		enc = sharedZstd()
	}
	return &zstdFrames{w: w, enc: enc}, nil
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
	enc     *zstd.Encoder
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
	z.out = z.enc.EncodeAll(z.pending, z.out[:0])
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
