package sse_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

// TestStreamPatchSignals: the stream's PatchSignals takes raw JSON, as the
// PatchSignals event does, and MarshalAndPatchSignals takes a value. Before,
// PatchSignals marshalled its argument, so raw JSON given as []byte became
// a base64 string and was refused at run time.
func TestStreamPatchSignals(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 3)
	body := streamBody(t, func(s *sse.Stream) {
		errs <- s.PatchSignals([]byte(`{"raw":1}`))
		errs <- s.MarshalAndPatchSignals(map[string]int{"marshalled": 2})
		errs <- s.PatchSignals([]byte(`[1]`))
	})
	if err := <-errs; err != nil {
		t.Fatalf("raw JSON: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("a value: %v", err)
	}
	if err := <-errs; !errors.Is(err, sse.ErrInvalidOption) {
		t.Fatalf("raw JSON that is not an object: %v", err)
	}
	want := "event: datastar-patch-signals\ndata: signals {\"raw\":1}\n\n" +
		"event: datastar-patch-signals\ndata: signals {\"marshalled\":2}\n\n"
	if body != want {
		t.Fatalf("body %q, want %q", body, want)
	}
}

// wire returns the wire form of ev, or the error.
func wire(ev sse.Eventer) (string, error) {
	e, err := ev.Event()
	if err != nil {
		return "", err
	}
	b, err := sse.AppendEvent(nil, &e)
	return string(b), err
}

// TestParityEvents checks the wire form of the helpers taken from the
// Clojure SDK and datastar-go.
func TestParityEvents(t *testing.T) {
	t.Parallel()
	page, _ := url.Parse("https://example.com/todos?page=1&q=old#top")
	tests := []struct {
		name string
		ev   sse.Eventer
		want string
	}{
		{"PatchElementsSeq", sse.PatchElementsSeq(sse.PatchElements{Selector: "#list", Mode: sse.ModeAppend}, "<li>a</li>", "<li>b</li>"),
			"event: datastar-patch-elements\ndata: mode append\ndata: selector #list\ndata: elements <li>a</li>\ndata: elements <li>b</li>\n\n"},
		{"DispatchEvent ID and Retry", sse.DispatchEvent{Name: "saved", ID: "7", Retry: 3 * time.Second},
			"event: datastar-patch-elements\nid: 7\nretry: 3000\ndata: mode append\ndata: selector body\n" +
				"data: elements <script data-effect=\"el.remove()\">document.dispatchEvent(new CustomEvent(\"saved\", {detail: null, bubbles: false, cancelable: false, composed: false}))</script>\n\n"},
		{"ReplaceURLQuery", sse.ReplaceURLQuery(page, url.Values{"q": {"a&b"}, "page": {"2"}}),
			"event: datastar-patch-elements\ndata: mode append\ndata: selector body\n" +
				"data: elements <script data-effect=\"el.remove()\">window.history.replaceState({}, \"\", \"https://example.com/todos?page=2\\u0026q=a%26b#top\")</script>\n\n"},
		{"Prefetch", sse.Prefetch("/next", "/a?b=<c>"),
			"event: datastar-patch-elements\ndata: mode append\ndata: selector body\n" +
				"data: elements <script type=\"speculationrules\">{\"prefetch\":[{\"source\":\"list\",\"urls\":[\"/next\",\"/a?b=\\u003cc\\u003e\"]}]}</script>\n\n"},
		{"ConsoleLogf", sse.ConsoleLogf("%d left", 3),
			"event: datastar-patch-elements\ndata: mode append\ndata: selector body\ndata: elements <script data-effect=\"el.remove()\">console.log(\"3 left\")</script>\n\n"},
		{"Redirectf", sse.Redirectf("/todos/%d", 9),
			"event: datastar-patch-elements\ndata: mode append\ndata: selector body\ndata: elements <script data-effect=\"el.remove()\">setTimeout(() => window.location.href = \"/todos/9\")</script>\n\n"},
		{"RemoveElementsf", sse.RemoveElementsf("#todo-%d", 4),
			"event: datastar-patch-elements\ndata: mode remove\ndata: selector #todo-4\n\n"},
		{"JSObject signals", sse.PatchSignals{Signals: []byte("{count: 1,\n 'user-name': \"x\"}"), JSObject: true},
			"event: datastar-patch-signals\ndata: signals {count: 1,\ndata: signals  'user-name': \"x\"}\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := wire(tc.ev)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
	if page.RawQuery != "page=1&q=old" {
		t.Fatalf("ReplaceURLQuery changed its URL: %v", page)
	}
}

// TestJSObjectSignalsOptIn: a JavaScript object literal is refused unless
// JSObject is set, and even then it must be in braces.
func TestJSObjectSignalsOptIn(t *testing.T) {
	t.Parallel()
	if _, err := wire(sse.PatchSignals{Signals: []byte(`{count: 1}`)}); !errors.Is(err, sse.ErrInvalidOption) {
		t.Fatalf("JS object without the opt-in: %v, want refused", err)
	}
	for _, bad := range []string{"", "count: 1", "[1]", "{count: 1", "alert(1)"} {
		if _, err := wire(sse.PatchSignals{Signals: []byte(bad), JSObject: true}); !errors.Is(err, sse.ErrInvalidOption) {
			t.Fatalf("JSObject %q: %v, want refused", bad, err)
		}
	}
}

func TestDatastarCDNMap(t *testing.T) {
	t.Parallel()
	if want := "https://cdn.jsdelivr.net/gh/starfederation/datastar@" + sse.DatastarVersion + "/bundles/datastar.js.map"; sse.DatastarCDNMap != want {
		t.Fatalf("DatastarCDNMap %q, want %q", sse.DatastarCDNMap, want)
	}
}

// greeting is a Component as templ generates them: it renders with a
// context, here reading a value from it.
type greeting struct{ name string }

type ctxKey struct{}

func (g greeting) Render(ctx context.Context, w io.Writer) error {
	if g.name == "" {
		return errors.New("no name")
	}
	_, err := io.WriteString(w, `<p id="hello">Hello, `+g.name+` from `+ctx.Value(ctxKey{}).(string)+`</p>`)
	return err
}

// TestPatchComponent renders components on a stream with the request
// context's values, with options, and refuses a failed render without
// writing or closing.
func TestPatchComponent(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "the request"))
		s, err := sse.NewSSE(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		errs <- s.PatchComponent(greeting{"Ada"}, sse.PatchElements{})
		errs <- s.PatchComponent(greeting{}, sse.PatchElements{})
		errs <- s.PatchComponent(greeting{"Bo"}, sse.PatchElements{Selector: "#feed", Mode: sse.ModeAppend})
	}))
	defer srv.Close()
	body := string(getAll(t, srv.URL))
	for i, want := range []string{"", "sse: render elements: no name", ""} {
		if err := <-errs; fmtErr(err) != want {
			t.Fatalf("PatchComponent %d: %v, want %q", i, err, want)
		}
	}
	want := "event: datastar-patch-elements\ndata: elements <p id=\"hello\">Hello, Ada from the request</p>\n\n" +
		"event: datastar-patch-elements\ndata: mode append\ndata: selector #feed\ndata: elements <p id=\"hello\">Hello, Bo from the request</p>\n\n"
	if body != want {
		t.Fatalf("body %q, want %q", body, want)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestStreamPatchElementsSeqAndf sends through the stream's helpers.
func TestStreamPatchElementsSeqAndf(t *testing.T) {
	t.Parallel()
	body := streamBody(t, func(s *sse.Stream) {
		s.PatchElementsSeq(`<p id="a">a</p>`, `<p id="b">b</p>`)
		s.PatchElementsf(`<p id="n">%d</p>`, 5)
	})
	want := "event: datastar-patch-elements\ndata: elements <p id=\"a\">a</p>\ndata: elements <p id=\"b\">b</p>\n\n" +
		"event: datastar-patch-elements\ndata: elements <p id=\"n\">5</p>\n\n"
	if body != want {
		t.Fatalf("body %q, want %q", body, want)
	}
}

// streamBody serves one stream with opts whose handler calls send, then
// closes it, and returns all that the client read.
func streamBody(t *testing.T, send func(s *sse.Stream), opts ...sse.Option) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, opts...)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		send(s)
	}))
	defer srv.Close()
	return string(getAll(t, srv.URL))
}
