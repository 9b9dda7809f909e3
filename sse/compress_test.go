package sse_test

import (
	"testing"

	"github.com/hubd-dev/hubd/sse"
)

func TestNegotiateEncoding(t *testing.T) {
	t.Parallel()
	all := []sse.Encoding{sse.Zstd, sse.Brotli, sse.Gzip}
	tests := []struct {
		name, header string
		prefer       []sse.Encoding
		want         sse.Encoding
	}{
		{"empty header", "", all, sse.Identity},
		{"no preferences", "gzip", nil, sse.Identity},
		{"single", "gzip", all, sse.Gzip},
		{"server order breaks ties", "gzip, br, zstd", all, sse.Zstd},
		{"server order breaks ties 2", "gzip, br", []sse.Encoding{sse.Gzip, sse.Brotli}, sse.Gzip},
		{"q-values rank", "gzip;q=0.5, br;q=0.9", all, sse.Brotli},
		{"q=0 refuses", "br;q=0, gzip;q=0.1", all, sse.Gzip},
		{"star", "*", all, sse.Zstd},
		{"star with refusal", "*;q=0.5, zstd;q=0", all, sse.Brotli},
		{"star refuses all", "*;q=0", all, sse.Identity},
		{"identity only", "identity", all, sse.Identity},
		{"case and spaces", "  GZIP ; Q=0.8 ,BR;q=0.2", all, sse.Gzip},
		{"bad q refuses", "br;q=abc, gzip", all, sse.Gzip},
		{"q above 1 refuses", "br;q=2, gzip", all, sse.Gzip},
		{"unknown coding", "compress, deflate", all, sse.Identity},
		{"browser header", "gzip, deflate, br, zstd", []sse.Encoding{sse.Gzip, sse.Zstd, sse.Brotli}, sse.Gzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sse.NegotiateEncoding(tt.header, tt.prefer); got != tt.want {
				t.Errorf("NegotiateEncoding(%q, %v) = %q, want %q", tt.header, tt.prefer, got, tt.want)
			}
		})
	}
}
