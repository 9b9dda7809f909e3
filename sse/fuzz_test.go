package sse_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hubd-dev/hubd/sse"
)

// roundTrip encodes e and parses it back with the independent parser; the
// frame must hold exactly one event.
func roundTrip(t *testing.T, ev sse.Eventer) (wireEvent, error) {
	t.Helper()
	e, err := ev.Event()
	if err != nil {
		return wireEvent{}, err
	}
	frame, err := sse.AppendEvent(nil, &e)
	if err != nil {
		t.Fatalf("Event() accepted what AppendEvent refuses: %v", err)
	}
	evs := parseStream(string(frame))
	if len(evs) != 1 {
		t.Fatalf("frame %q parses into %d events, want exactly 1", frame, len(evs))
	}
	return evs[0], nil
}

func badLine(s string) bool { return strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) }

// FuzzEvent: any Event either is refused for a real reason or parses back
// to exactly what was sent.
func FuzzEvent(f *testing.F) {
	f.Add("datastar-patch-elements", "1", "elements", "<p>a</p>\r\nb\rc\n", int64(1500))
	f.Add("x\ny", "id\x00", "k v", "\xff", int64(-1))
	f.Add("", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, typ, id, key, value string, retryMs int64) {
		ev := sse.Event{Type: typ, ID: id, Retry: time.Duration(retryMs) * time.Millisecond, Fields: []sse.Field{{key, value}}}
		got, err := roundTrip(t, ev)
		if err != nil {
			if !badLine(typ) && !badLine(id) && !badLine(key) && !strings.Contains(key, " ") && utf8.ValidString(value) && retryMs >= 0 {
				t.Fatalf("refused a valid event: %v", err)
			}
			return
		}
		if badLine(typ) || badLine(id) || strings.ContainsAny(key, " \r\n\x00") || !utf8.ValidString(value) || retryMs < 0 {
			t.Fatalf("accepted a bad event %+v", ev)
		}
		wantRetry := ev.Retry
		if wantRetry == sse.DefaultRetry {
			wantRetry = 0
		}
		if got.Type != typ || got.ID != id || got.HasID != (id != "") || got.Retry.Milliseconds() != wantRetry.Milliseconds() {
			t.Fatalf("got %+v for %+v", got, ev)
		}
		want := normalizeNewlines(value)
		if key == "" {
			if got.Data != want {
				t.Fatalf("data %q, want %q", got.Data, want)
			}
		} else if got.Fields[key] != want || len(got.Keys) != 1 {
			t.Fatalf("field %q = %q (keys %v), want %q", key, got.Fields[key], got.Keys, want)
		}
	})
}

// FuzzPatchElements: elements and options survive the trip, or the error
// names a real fault.
func FuzzPatchElements(f *testing.F) {
	f.Add("<div id=\"a\">\n  x\r\n</div>", "#a", "inner", "svg", true, "e1")
	f.Add("", "#a", "remove", "", false, "")
	f.Add("<p>", "a\nb", "up", "xml", false, "1\r")
	f.Fuzz(func(t *testing.T, elements, selector, mode, ns string, vt bool, id string) {
		p := sse.PatchElements{Elements: elements, Selector: selector, Mode: sse.Mode(mode), Namespace: sse.Namespace(ns), UseViewTransition: vt, ID: id}
		got, err := roundTrip(t, p)
		_, modeErr := sse.ParseMode(mode)
		_, nsErr := sse.ParseNamespace(ns)
		empty := strings.TrimSpace(elements) == ""
		valid := modeErr == nil && nsErr == nil && !badLine(selector) && !badLine(id) && utf8.ValidString(elements) &&
			!(empty && (mode != "remove" || selector == ""))
		if err != nil {
			if valid {
				t.Fatalf("refused a valid patch: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted a bad patch %+v", p)
		}
		if got.Type != sse.EventPatchElements || got.ID != id {
			t.Fatalf("type %q id %q", got.Type, got.ID)
		}
		if got.Fields["elements"] != normalizeNewlines(elements) {
			t.Fatalf("elements %q, want %q", got.Fields["elements"], normalizeNewlines(elements))
		}
		if got.Fields["selector"] != selector {
			t.Fatalf("selector %q, want %q", got.Fields["selector"], selector)
		}
		if m, _ := sse.ParseMode(mode); (m != sse.ModeOuter) != (got.Fields["mode"] == string(m)) {
			t.Fatalf("mode line %q for %q", got.Fields["mode"], mode)
		}
		if vt != (got.Fields["useViewTransition"] == "true") {
			t.Fatalf("useViewTransition %q for %v", got.Fields["useViewTransition"], vt)
		}
	})
}

// FuzzPatchSignals: any JSON object arrives as the same value; anything
// else is refused.
func FuzzPatchSignals(f *testing.F) {
	f.Add(`{"a":1,"b":{"c":"x\ny"}}`, false)
	f.Add("{\n \"a\": [1,\r\n2]\n}", true)
	f.Add(`[1]`, false)
	f.Add(`{"a":"\u2028"}`, false)
	f.Fuzz(func(t *testing.T, raw string, only bool) {
		got, err := roundTrip(t, sse.PatchSignals{Signals: json.RawMessage(raw), OnlyIfMissing: only})
		var obj map[string]any
		isObject := json.Unmarshal([]byte(raw), &obj) == nil && obj != nil && utf8.ValidString(raw)
		if err != nil {
			if isObject && errors.Is(err, sse.ErrInvalidOption) && strings.HasPrefix(strings.TrimLeft(raw, " \t\r\n"), "{") {
				t.Fatalf("refused a JSON object: %v", err)
			}
			return
		}
		if !isObject {
			t.Fatalf("accepted %q, which is not a JSON object", raw)
		}
		var back map[string]any
		if err := json.Unmarshal([]byte(got.Fields["signals"]), &back); err != nil {
			t.Fatalf("signals %q do not parse back: %v", got.Fields["signals"], err)
		}
		a, _ := json.Marshal(obj)
		b, _ := json.Marshal(back)
		if string(a) != string(b) {
			t.Fatalf("signals changed: %s became %s", a, b)
		}
		if only != (got.Fields["onlyIfMissing"] == "true") {
			t.Fatalf("onlyIfMissing %q for %v", got.Fields["onlyIfMissing"], only)
		}
	})
}
