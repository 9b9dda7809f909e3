package sse_test

import (
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/hubd-dev/hubd/sse"
)

// decoder returns a reader of body decoded from enc, as a browser decodes
// it ("deflate" is the zlib format, RFC 9110, section 8.4.1.2).
func decoder(t *testing.T, enc string, body io.Reader) io.Reader {
	t.Helper()
	var (
		r   io.Reader
		err error
	)
	switch enc {
	case "", "identity":
		return body
	case "gzip":
		r, err = gzip.NewReader(body)
	case "br":
		r = brotli.NewReader(body)
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(body)
		if err == nil {
			t.Cleanup(d.Close)
			r = d
		}
	case "deflate":
		r, err = zlib.NewReader(body)
	case "x-raw-deflate":
		r = flate.NewReader(body)
	default:
		t.Fatalf("no decoder for %q", enc)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return r
}

// streamThree serves a stream with opts that sends three events and
// closes, and returns the response to a request with acceptEncoding.
func streamThree(t *testing.T, acceptEncoding string, opts ...sse.Option) *http.Response {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, opts...)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer s.Close()
		for i := range 3 {
			s.PatchElements(fmt.Sprintf(`<p id="p">%d %s</p>`, i, strings.Repeat("z", 200)))
		}
	}))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// checkThree decodes resp's body as its Content-Encoding says and checks
// it holds the three events of streamThree.
func checkThree(t *testing.T, resp *http.Response) {
	t.Helper()
	b, err := io.ReadAll(decoder(t, resp.Header.Get("Content-Encoding"), resp.Body))
	if err != nil {
		t.Fatalf("read %s body: %v", resp.Header.Get("Content-Encoding"), err)
	}
	evs := parseStream(string(b))
	if len(evs) != 3 {
		t.Fatalf("%d events in %q, want 3", len(evs), b)
	}
	for i, ev := range evs {
		if !strings.HasPrefix(ev.Fields["elements"], fmt.Sprintf(`<p id="p">%d `, i)) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
}

// TestDeflateIsWrittenInDeflate: a stream asked for deflate must write
// deflate under that label. Before, it sent Content-Encoding: deflate over
// an uncompressed body, which browsers fail to decode.
func TestDeflateIsWrittenInDeflate(t *testing.T) {
	t.Parallel()
	resp := streamThree(t, "deflate", sse.WithCompression(sse.Encoding("deflate")))
	if got := resp.Header.Get("Content-Encoding"); got != "deflate" {
		t.Fatalf("Content-Encoding %q, want deflate", got)
	}
	checkThree(t, resp)
}

// TestUnknownEncodingIsRefused: an encoding without a coder fails NewSSE
// before anything is written, with an error naming it, whatever the
// client accepts; nothing is labelled with a coding it is not in.
func TestUnknownEncodingIsRefused(t *testing.T) {
	t.Parallel()
	for _, accept := range []string{"compress", "gzip", ""} {
		t.Run(accept, func(t *testing.T) {
			t.Parallel()
			resp := streamThree(t, accept, sse.WithCompression(sse.Gzip, sse.Encoding("compress")))
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Encoding") != "" ||
				!strings.Contains(string(b), `sse: unknown content coding: "compress"`) {
				t.Fatalf("status %d, Content-Encoding %q, body %q; want a 500 naming the coding", resp.StatusCode, resp.Header.Get("Content-Encoding"), b)
			}
		})
	}
}

func mustZstd(t *testing.T, opts ...zstd.EOption) sse.ZstdCoder {
	t.Helper()
	c, err := sse.NewZstdCoder(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCoderSettings streams through every coder with levels and windows
// other than the defaults, and refuses settings out of range with an error
// naming them.
func TestCoderSettings(t *testing.T) {
	t.Parallel()
	good := map[string]sse.Coder{
		"gzip best":       sse.GzipCoder{Level: gzip.BestCompression},
		"gzip fastest":    sse.GzipCoder{Level: gzip.BestSpeed},
		"brotli 11, 4MiB": sse.BrotliCoder{Level: 11, LGWin: 22},
		"zstd best, 1MiB": mustZstd(t, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithWindowSize(1<<20)),
		"deflate best":    sse.DeflateCoder{Level: 9},
	}
	for name, c := range good {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp := streamThree(t, string(c.Encoding()), sse.WithCoders(c))
			if got := resp.Header.Get("Content-Encoding"); got != string(c.Encoding()) {
				t.Fatalf("Content-Encoding %q", got)
			}
			checkThree(t, resp)
		})
	}
	bad := map[string]struct {
		c    sse.Coder
		want string
	}{
		"gzip level":    {sse.GzipCoder{Level: 42}, "gzip level 42"},
		"brotli level":  {sse.BrotliCoder{Level: 12}, "brotli level 12: want 0 to 11"},
		"brotli window": {sse.BrotliCoder{LGWin: 30}, "brotli LGWin 30: want 10 to 24"},
		"deflate level": {sse.DeflateCoder{Level: 10}, "deflate level 10"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp := streamThree(t, string(tc.c.Encoding()), sse.WithCoders(tc.c))
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), tc.want) {
				t.Fatalf("status %d, body %q; want a 500 naming %q", resp.StatusCode, b, tc.want)
			}
		})
	}
	if _, err := sse.NewZstdCoder(zstd.WithWindowSize(3)); err == nil || !strings.Contains(err.Error(), "sse: zstd options") {
		t.Fatalf("NewZstdCoder with a 3-byte window: %v", err)
	}
}

// TestNegotiation chooses between gzip and brotli for a client that
// prefers brotli, by each strategy.
func TestNegotiation(t *testing.T) {
	t.Parallel()
	coders := sse.WithCompression(sse.Gzip, sse.Brotli)
	tests := []struct {
		name, accept string
		n            sse.Negotiation
		want, vary   string
	}{
		{"client's weights", "gzip;q=0.5, br", sse.ClientPreference, "br", "Accept-Encoding"},
		{"server's order", "gzip;q=0.5, br", sse.ServerPreference, "gzip", "Accept-Encoding"},
		{"server's order, refusal", "gzip;q=0, br", sse.ServerPreference, "br", "Accept-Encoding"},
		{"server's order, nothing acceptable", "identity", sse.ServerPreference, "", "Accept-Encoding"},
		{"forced", "", sse.Forced, "gzip", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := streamThree(t, tc.accept, coders, sse.WithNegotiation(tc.n))
			if got := resp.Header.Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.want)
			}
			if got := resp.Header.Get("Vary"); got != tc.vary {
				t.Fatalf("Vary %q, want %q", got, tc.vary)
			}
			checkThree(t, resp)
		})
	}
}

// rawDeflate is a Coder of the test's own: raw DEFLATE (RFC 1951) under a
// private name, through the standard library.
type rawDeflate struct{ made *atomic.Int32 }

func (rawDeflate) Encoding() sse.Encoding { return "x-raw-deflate" }

func (c rawDeflate) NewCompressor(w io.Writer) (sse.Compressor, error) {
	c.made.Add(1)
	return flate.NewWriter(w, flate.BestSpeed)
}

// TestCustomCoder plugs a coding the package does not know into a stream.
func TestCustomCoder(t *testing.T) {
	t.Parallel()
	c := rawDeflate{new(atomic.Int32)}
	resp := streamThree(t, "x-raw-deflate, gzip", sse.WithCoders(c, sse.GzipCoder{}))
	if got := resp.Header.Get("Content-Encoding"); got != "x-raw-deflate" {
		t.Fatalf("Content-Encoding %q", got)
	}
	checkThree(t, resp)
	if c.made.Load() != 1 {
		t.Fatalf("%d compressors made, want 1", c.made.Load())
	}
}

// writeCounter counts the writes a server makes to its connections.
type writeCounter struct {
	net.Listener
	writes atomic.Int32
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return &countedConn{c, &l.writes}, err
}

type countedConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestBufferedProfile sends five small events per flush on a buffered
// stream and checks, counting the server's writes to the connection, that
// they share one write; and that the buffer writes by itself once full,
// and at Close.
func TestBufferedProfile(t *testing.T) {
	t.Parallel()
	for _, accept := range []string{"", "gzip", "zstd"} {
		t.Run("encoding "+accept, func(t *testing.T) {
			t.Parallel()
			var l writeCounter
			afterHeaders := make(chan int32, 1)
			step := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := sse.NewSSE(w, r, sse.WithBuffering(1000), sse.WithCompression(sse.Gzip, sse.Zstd))
				if err != nil {
					t.Error(err)
					return
				}
				defer s.Close()
				afterHeaders <- l.writes.Load()
				for round := range 2 {
					for i := range 5 {
						s.PatchElements(fmt.Sprintf(`<p id="p%d">%d</p>`, i, round))
					}
					s.Flush()
					<-step
				}
				big := sse.PatchElements{Elements: `<p id="big">` + strings.Repeat("b", 1000) + `</p>`}
				s.Send(big) // fills the buffer: written without Flush
				<-step
				s.PatchElements(`<p id="last">last</p>`) // written by Close
			}))
			l.Listener = srv.Listener
			srv.Listener = &l
			srv.Start()
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if accept != "" {
				req.Header.Set("Accept-Encoding", accept)
			}
			resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := <-afterHeaders
			br := newEventReader(decoder(t, resp.Header.Get("Content-Encoding"), resp.Body))
			for round := range 2 {
				for i := range 5 {
					ev := br.next(t)
					if want := fmt.Sprintf(`<p id="p%d">%d</p>`, i, round); ev.Fields["elements"] != want {
						t.Fatalf("round %d event %d: %+v", round, i, ev)
					}
				}
				if got := l.writes.Load() - start; got != int32(round+1) {
					t.Fatalf("after round %d: %d writes, want one per Flush", round, got)
				}
				step <- struct{}{}
			}
			if ev := br.next(t); !strings.HasPrefix(ev.Fields["elements"], `<p id="big">`) {
				t.Fatalf("big event: %+v", ev)
			}
			step <- struct{}{}
			if ev := br.next(t); ev.Fields["elements"] != `<p id="last">last</p>` {
				t.Fatalf("last event: %+v", ev)
			}
		})
	}
}

// TestFlushOnUnbufferedStream: Flush has nothing to do where every send
// is flushed.
func TestFlushOnUnbufferedStream(t *testing.T) {
	t.Parallel()
	got := streamBody(t, func(s *sse.Stream) {
		if err := s.Flush(); err != nil {
			t.Error(err)
		}
		s.PatchElements(`<p id="a">a</p>`)
	})
	if got != "event: datastar-patch-elements\ndata: elements <p id=\"a\">a</p>\n\n" {
		t.Fatalf("body %q", got)
	}
}

// eventReader reads events one by one.
type eventReader struct{ r *bufio.Reader }

func newEventReader(r io.Reader) eventReader { return eventReader{bufio.NewReader(r)} }

func (e eventReader) next(t *testing.T) wireEvent {
	t.Helper()
	ev, err := readEvent(e.r)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
