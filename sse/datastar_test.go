package sse_test

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func mustSignals(t *testing.T, v any) sse.PatchSignals {
	t.Helper()
	p, err := sse.MarshalSignals(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRemove(t *testing.T, paths ...string) sse.PatchSignals {
	t.Helper()
	p, err := sse.RemoveSignals(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustDispatch(t *testing.T, d sse.DispatchEvent) sse.ExecuteScript {
	t.Helper()
	s, err := d.Script()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDatastarEventsGolden checks the exact frames of every Datastar event
// type and option against testdata/*.golden (refresh with -update).
func TestDatastarEventsGolden(t *testing.T) {
	el := "<div id=\"a\">x</div>"
	tests := []struct {
		name string
		ev   sse.Eventer
	}{
		{"elements_default", sse.PatchElements{Elements: el}},
		{"elements_inner", sse.PatchElements{Elements: el, Selector: "#box", Mode: sse.ModeInner}},
		{"elements_replace", sse.PatchElements{Elements: el, Mode: sse.ModeReplace}},
		{"elements_prepend", sse.PatchElements{Elements: el, Selector: "ul", Mode: sse.ModePrepend}},
		{"elements_append", sse.PatchElements{Elements: el, Selector: "ul", Mode: sse.ModeAppend}},
		{"elements_before", sse.PatchElements{Elements: el, Selector: "#x", Mode: sse.ModeBefore}},
		{"elements_after", sse.PatchElements{Elements: el, Selector: "#x", Mode: sse.ModeAfter}},
		{"elements_remove", sse.RemoveElements("#gone")},
		{"elements_svg", sse.PatchElements{Elements: "<circle id=\"c\" r=\"2\"/>", Namespace: sse.NamespaceSVG}},
		{"elements_mathml", sse.PatchElements{Elements: "<mi id=\"m\">x</mi>", Namespace: sse.NamespaceMathML}},
		{"elements_all", sse.PatchElements{Elements: "<p>1</p>\n<p>2</p>", Selector: "main", Mode: sse.ModeAppend,
			UseViewTransition: true, ID: "e1", Retry: 3 * time.Second}},
		{"signals", mustSignals(t, map[string]any{"count": 1, "user": map[string]string{"name": "Ada"}})},
		{"signals_only_if_missing", sse.PatchSignals{Signals: []byte(`{"a":1}`), OnlyIfMissing: true, ID: "s1"}},
		{"signals_multiline_raw", sse.PatchSignals{Signals: []byte("{\n  \"a\": 1\n}")}},
		{"signals_remove", mustRemove(t, "user.name", "cart")},
		{"script", sse.ExecuteScript{Script: "console.log(1)"}},
		{"script_keep_attrs", sse.ExecuteScript{Script: "go()", KeepScript: true,
			Attributes: []sse.Attr{{"type", "module"}, {"data-x", `a"<b`}}}},
		{"script_escapes_end_tag", sse.ExecuteScript{Script: `s = "</script><script>x</SCRIPT>"`}},
		{"console_log", sse.ConsoleLog(`a "quoted" </script> message`)},
		{"console_error", sse.ConsoleError("oops")},
		{"redirect", sse.Redirect(`/next?a="b"&c=</script>`)},
		{"replace_url", sse.ReplaceURL("/page?x=1")},
		{"dispatch_document", mustDispatch(t, sse.DispatchEvent{Name: "saved", Detail: map[string]int{"id": 3}, Bubbles: true})},
		{"dispatch_selector", mustDispatch(t, sse.DispatchEvent{Name: "ping", Selector: ".listener", Composed: true, Cancelable: true})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := tt.ev.Event()
			if err != nil {
				t.Fatal(err)
			}
			got, err := sse.AppendEvent(nil, &e)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			if evs := parseStream(string(got)); len(evs) != 1 {
				t.Errorf("frame parses into %d events, want 1", len(evs))
			}
		})
	}
}

// TestDatastarEventsRefuse checks that bad options are errors naming the
// option and the value, matching ErrInvalidOption.
func TestDatastarEventsRefuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ev     sse.Eventer
		option string
		msg    string
	}{
		{"unknown mode", sse.PatchElements{Elements: "<p>", Mode: "sideways"}, "mode", `"sideways"`},
		{"unknown namespace", sse.PatchElements{Elements: "<p>", Namespace: "xml"}, "namespace", `"xml"`},
		{"selector with LF", sse.PatchElements{Elements: "<p>", Selector: "#a\ndata: x"}, "selector", `'\n'`},
		{"selector with NUL", sse.PatchElements{Elements: "<p>", Selector: "#a\x00"}, "selector", `'\x00'`},
		{"empty elements", sse.PatchElements{Elements: " \n "}, "elements", "empty"},
		{"remove without target", sse.PatchElements{Mode: sse.ModeRemove}, "selector", "remove"},
		{"signals array", sse.PatchSignals{Signals: []byte(`[1]`)}, "signals", "JSON object"},
		{"signals string", sse.PatchSignals{Signals: []byte(`"a"`)}, "signals", "JSON object"},
		{"signals invalid", sse.PatchSignals{Signals: []byte(`{"a":`)}, "signals", "JSON object"},
		{"signals empty", sse.PatchSignals{}, "signals", "JSON object"},
		{"attribute name", sse.ExecuteScript{Script: "x", Attributes: []sse.Attr{{`on"x`, "1"}}}, "attributes", `on\"x`},
		{"attribute name empty", sse.ExecuteScript{Script: "x", Attributes: []sse.Attr{{"", "1"}}}, "attributes", `""`},
		{"dispatch without name", sse.DispatchEvent{}, "name", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.ev.Event()
			var oe *sse.OptionError
			if !errors.Is(err, sse.ErrInvalidOption) || !errors.As(err, &oe) || oe.Option != tt.option || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want an invalid %s option mentioning %q", err, tt.option, tt.msg)
			}
		})
	}
	if _, err := sse.RemoveSignals(); !errors.Is(err, sse.ErrInvalidOption) {
		t.Errorf("RemoveSignals(): %v", err)
	}
	if _, err := sse.RemoveSignals("a..b"); !errors.Is(err, sse.ErrInvalidOption) {
		t.Errorf("RemoveSignals(a..b): %v", err)
	}
	if _, err := sse.MarshalSignals(make(chan int)); err == nil {
		t.Error("MarshalSignals(chan): no error")
	}
}

func TestRemoveSignalsNesting(t *testing.T) {
	t.Parallel()
	p := mustRemove(t, "a.b", "c", "a.d.e", "c.x")
	if got, want := string(p.Signals), `{"a":{"b":null,"d":{"e":null}},"c":null}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestParseModeAndNamespace(t *testing.T) {
	t.Parallel()
	for _, m := range []string{"outer", "inner", "replace", "prepend", "append", "before", "after", "remove"} {
		if got, err := sse.ParseMode(m); err != nil || string(got) != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if got, err := sse.ParseMode(""); err != nil || got != sse.ModeOuter {
		t.Errorf("ParseMode(\"\") = %q, %v", got, err)
	}
	if got, err := sse.ParseNamespace(""); err != nil || got != sse.NamespaceHTML {
		t.Errorf("ParseNamespace(\"\") = %q, %v", got, err)
	}
}

func TestJSONEvent(t *testing.T) {
	t.Parallel()
	f := false
	j := sse.JSONEvent{Type: "executeScript", Script: "x()", AutoRemove: &f, Attributes: sse.JSONAttrs{{"type", "module"}}}
	ev, err := j.Eventer()
	if err != nil {
		t.Fatal(err)
	}
	e, err := ev.Event()
	if err != nil || !strings.Contains(e.Fields[2].Value, `<script type="module">x()</script>`) {
		t.Fatalf("%+v %v", e, err)
	}
	for _, bad := range []sse.JSONEvent{{Type: ""}, {Type: "merge"}, {Type: "patchElements", Mode: "x"}, {Type: "patchSignals", Signals: []byte("{")}, {Type: "patchElements", RetryDuration: -1},
		{Type: "patchElements", Elements: "<p></p>", RetryDuration: math.MaxInt64 / 1000}} { // overflows a Duration
		if _, err := bad.Eventer(); !errors.Is(err, sse.ErrInvalidOption) {
			t.Errorf("%+v: %v, want ErrInvalidOption", bad, err)
		}
	}
}

// TestDatastarVersionIsTheTestedBundle reads the release line that heads
// the official client bundle the browser tests run (HUBD_DATASTAR_JS, or
// the one bundle in shared/datastar beside the repository, as the browser
// tests find it) and checks that DatastarVersion and DatastarCDN name that
// release, so that pages served with DatastarCDN run the tested client.
// Without the bundle it skips, except under CI=true, where it fails.
func TestDatastarVersionIsTheTestedBundle(t *testing.T) {
	path := os.Getenv("HUBD_DATASTAR_JS")
	if path == "" {
		found, _ := filepath.Glob("../../shared/datastar/datastar-*.js")
		if len(found) == 1 {
			path = found[0]
		}
	}
	head, err := os.ReadFile(path)
	if err != nil {
		msg := fmt.Sprintf("need the Datastar bundle the browser tests run (set HUBD_DATASTAR_JS): %q: %v", path, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	first, _, _ := strings.Cut(string(head), "\n")
	version, ok := strings.CutPrefix(strings.TrimSpace(first), "// Datastar v")
	if !ok {
		t.Fatalf("%s starts with %q, want a line \"// Datastar v<release>\"", path, first)
	}
	if sse.DatastarVersion != version {
		t.Errorf("DatastarVersion %q, but the browser tests run %s (%s)", sse.DatastarVersion, version, path)
	}
	if want := "https://cdn.jsdelivr.net/gh/starfederation/datastar@" + version + "/bundles/datastar.js"; sse.DatastarCDN != want {
		t.Errorf("DatastarCDN %q, want %q", sse.DatastarCDN, want)
	}
}
