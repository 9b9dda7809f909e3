package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPublishOptionsAreCanonical: checkOptionSizes looks the option
// headers up without canonicalizing their names, which finds them only if
// they are written in canonical form.
func TestPublishOptionsAreCanonical(t *testing.T) {
	t.Parallel()
	for _, o := range publishOptions {
		if c := http.CanonicalHeaderKey(o[0]); c != o[0] {
			t.Errorf("option header %q is not canonical (%q)", o[0], c)
		}
	}
}

// TestWritePublishedIsWriteJSON: the hand-written answer to a publish is
// the one encoding/json writes, byte for byte and with the same headers,
// for plain IDs and topics and for strings that need escapes.
func TestWritePublishedIsWriteJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    publishResponse
	}{
		{"one event", publishResponse{ID: "mwxgyrnn-1", IDs: []string{"mwxgyrnn-1"}, Topics: []string{"x"}, Subscribers: 3}},
		{"batch to topics", publishResponse{ID: "e-9", IDs: []string{"e-8", "e-9"}, Topics: []string{"a/b", "$hub:c@d~e.f_g-h"}, Subscribers: 12345}},
		{"nil and empty", publishResponse{Topics: []string{}}},
		{"quote", publishResponse{ID: `a"b`}},
		{"backslash", publishResponse{ID: `a\b`}},
		{"less than", publishResponse{ID: "a<b"}},
		{"greater than", publishResponse{ID: "a>b"}},
		{"ampersand", publishResponse{ID: "a&b"}},
		{"control", publishResponse{ID: "a\x01b"}},
		{"tab", publishResponse{Topics: []string{"a\tb"}}},
		{"delete", publishResponse{IDs: []string{"a\x7fb"}}},
		{"line separator", publishResponse{IDs: []string{"a\u2028b"}}},
		{"negative count", publishResponse{Subscribers: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, got := httptest.NewRecorder(), httptest.NewRecorder()
			writeJSON(want, 200, tt.p)
			writePublished(got, tt.p)
			if got.Body.String() != want.Body.String() {
				t.Errorf("body %q, want %q", got.Body, want.Body)
			}
			if got.Code != want.Code {
				t.Errorf("status %d, want %d", got.Code, want.Code)
			}
			for _, h := range []string{"Content-Type", "Cache-Control"} {
				if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
					t.Errorf("%s: %q, want %q", h, g, w)
				}
			}
		})
	}
}
