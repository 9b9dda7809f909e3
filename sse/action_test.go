package sse_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

func TestActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"get", sse.Get("/topics/news"), `@get('/topics/news')`},
		{"post", sse.Post("/vote"), `@post('/vote')`},
		{"put", sse.Put("/a"), `@put('/a')`},
		{"patch", sse.Patch("/a"), `@patch('/a')`},
		{"delete", sse.Delete("/a"), `@delete('/a')`},
		{"form", sse.Post("/f", sse.WithContentType("form"), sse.WithSelector("#myform")),
			`@post('/f', {contentType: 'form', selector: '#myform'})`},
		{"all options", sse.Get("/s",
			sse.WithFilterSignals("^user\\.", "secret"), sse.WithHeaders(map[string]string{"X-B": "2", "X-A": "1"}),
			sse.WithOpenWhenHidden(true), sse.WithRetryInterval(2*time.Second), sse.WithRetryScaler(1.5),
			sse.WithRetryMaxWait(30*time.Second), sse.WithRetryMaxCount(5), sse.WithRequestCancellation("disabled")),
			`@get('/s', {filterSignals: {include: /^user\./, exclude: /secret/}, headers: {'X-A': '1', 'X-B': '2'}, ` +
				`openWhenHidden: true, retryInterval: 2000, retryScaler: 1.5, retryMaxWaitMs: 30000, retryMaxCount: 5, requestCancellation: 'disabled'})`},
		{"open when hidden false", sse.Get("/x", sse.WithOpenWhenHidden(false)), `@get('/x', {openWhenHidden: false})`},
		{"quote breakout", sse.Get(`/x'); alert(1); ('`), `@get('/x\'); alert(1); (\'')`},
		{"attribute breakout", sse.Get(`"><script>alert(1)</script>`), `@get('\u0022\u003e\u003cscript\u003ealert(1)\u003c/script\u003e')`},
		{"line breaks", sse.Get("/a\nb\r\u2028c"), `@get('/a\u000ab\u000d\u2028c')`},
		{"backslash", sse.Get(`/a\`), `@get('/a\\')`},
		{"header value", sse.Get("/h", sse.WithHeaders(map[string]string{"X": `"</script>`})), `@get('/h', {headers: {'X': '\u0022\u003c/script\u003e'}})`},
		{"regexp slash", sse.Get("/r", sse.WithFilterSignals("a/b", "")), `@get('/r', {filterSignals: {include: /a\/b/}})`},
		{"regexp breakout", sse.Get("/r", sse.WithFilterSignals(`x\`, `</script>`)), `@get('/r', {filterSignals: {include: /x\\/, exclude: /\u003c\/script\u003e/}})`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
			assertSafe(t, tt.got)
		})
	}
}

// assertSafe checks that s can stand in a double-quoted attribute and in a
// script element as it is.
func assertSafe(t *testing.T, s string) {
	t.Helper()
	if i := strings.IndexAny(s, "\"<>&\n\r\u2028\u2029"); i >= 0 {
		t.Errorf("%q has an unsafe character at %d", s, i)
	}
}

// decodeLiteral reads the single-quoted JavaScript string literal at the
// start of s, independently of the encoder, and returns its value.
func decodeLiteral(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasPrefix(s, "'") {
		t.Fatalf("%q does not start a literal", s)
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			return b.String()
		case '\\':
			i++
			switch s[i] {
			case 'u':
				n, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
				if err != nil {
					t.Fatalf("bad escape in %q", s)
				}
				b.WriteRune(rune(n))
				i += 4
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	t.Fatalf("unterminated literal %q", s)
	return ""
}

func FuzzActionURL(f *testing.F) {
	for _, s := range []string{"/a", `'`, `\`, "</script>", "\u2028", "\"'<>&", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, url string) {
		got := sse.Post(url)
		assertSafe(t, got)
		lit, ok := strings.CutPrefix(got, "@post(")
		if !ok || !strings.HasSuffix(lit, ")") {
			t.Fatalf("shape: %q", got)
		}
		want := strings.ToValidUTF8(url, "\uFFFD") // each run of invalid bytes becomes U+FFFD
		if dec := decodeLiteral(t, lit); dec != want {
			t.Fatalf("decoded %q, want %q", dec, want)
		}
	})
}

func ExampleGet() {
	fmt.Println(sse.Get("/topics/news", sse.WithOpenWhenHidden(true)))
	// Output: @get('/topics/news', {openWhenHidden: true})
}
