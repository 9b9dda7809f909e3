package sse_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
	if n := e.EncodedLen(); n != len(frame) {
		t.Fatalf("EncodedLen() = %d, but AppendEvent wrote %d bytes: %q", n, len(frame), frame)
	}
	evs := parseStream(string(frame))
	if len(evs) != 1 {
		t.Fatalf("frame %q parses into %d events, want exactly 1", frame, len(evs))
	}
	return evs[0], nil
}

func badLine(s string) bool { return strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) }

// badKey says whether a data key must be refused: it would end the line or
// hide the start of the value.
func badKey(s string) bool { return badLine(s) || strings.Contains(s, " ") }

// goodRetry says whether a retry can be written: zero (no field) or at
// least the field's unit, a millisecond.
func goodRetry(d time.Duration) bool { return d == 0 || d >= time.Millisecond }

// wantRetry is the retry a client reads back for d: none (zero) when the
// event writes no retry field.
func wantRetry(d time.Duration) time.Duration {
	if d == sse.DefaultRetry {
		return 0
	}
	return d.Truncate(time.Millisecond)
}

// FuzzEvent: any Event either is refused for a real reason or parses back
// to exactly what was sent.
func FuzzEvent(f *testing.F) {
	f.Add("datastar-patch-elements", "1", "elements", "<p>a</p>\r\nb\rc\n", int64(1500))
	f.Add("x\ny", "id\x00", "k v", "\xff", int64(-1))
	f.Add("", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, typ, id, key, value string, retryMs int64) {
		// A huge retryMs overflows into any Duration, which is checked as it is.
		ev := sse.Event{Type: typ, ID: id, Retry: time.Duration(retryMs) * time.Millisecond, Fields: []sse.Field{{key, value}}}
		valid := !badLine(typ) && !badLine(id) && !badKey(key) && utf8.ValidString(value) && goodRetry(ev.Retry)
		got, err := roundTrip(t, ev)
		if err != nil {
			if valid {
				t.Fatalf("refused a valid event: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted a bad event %+v", ev)
		}
		if got.Type != typ || got.ID != id || got.HasID != (id != "") || got.Retry != wantRetry(ev.Retry) {
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

// FuzzCustomEventer drives a user-written Eventer that validates nothing
// (rawEventer) through Stream.Send and Batch.Send: each must either refuse
// the event with an error naming the encoder's fault and write nothing, or
// write a frame that parses back to exactly the event sent. The stream writes to
// an httptest.ResponseRecorder, the standard library's own ResponseWriter,
// because a fuzzer runs far too many inputs for a connection each;
// TestCustomEventerIsValidated checks the same over a real connection.
func FuzzCustomEventer(f *testing.F) {
	f.Add("datastar-patch-elements", "1\n\nevent: datastar-patch-elements", "elements", "<p>a</p>", "", "plain\r\nlines\r", int64(0))
	f.Add("t", "7", "k", "v", "k", "w\nx", int64(1500*time.Millisecond))
	f.Add("t\x00", "", "a b", "\xff", "", "", int64(-1))
	f.Add("", "", "", "", "", "", int64(999*time.Microsecond))
	f.Add("t", "1", "k\rdata: x", "v", "", "", int64(time.Second))
	f.Fuzz(func(t *testing.T, typ, id, key1, val1, key2, val2 string, retryNs int64) {
		ev := sse.Event{Type: typ, ID: id, Retry: time.Duration(retryNs), Fields: []sse.Field{{key1, val1}, {key2, val2}}}
		valid := !badLine(typ) && !badLine(id) && !badKey(key1) && !badKey(key2) &&
			utf8.ValidString(val1) && utf8.ValidString(val2) && goodRetry(ev.Retry)
		var lines []string // the data lines a client reads back
		for _, fl := range ev.Fields {
			for line := range strings.SplitSeq(normalizeNewlines(fl.Value), "\n") {
				if fl.Key != "" {
					line = fl.Key + " " + line
				}
				lines = append(lines, line)
			}
		}
		rec := httptest.NewRecorder()
		s, err := sse.NewSSE(rec, httptest.NewRequest(http.MethodGet, "/", nil), sse.WithoutContextWatch())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		paths := []struct {
			name string
			send func() error
		}{
			{"Send", func() error { return s.Send(rawEventer{ev}) }},
			{"Batch.Send", func() error { return s.Batch(func(b *sse.Batch) error { return b.Send(rawEventer{ev}) }) }},
		}
		for _, p := range paths {
			before := rec.Body.Len()
			err := p.send()
			wrote := rec.Body.String()[before:]
			if err != nil {
				if valid {
					t.Fatalf("%s refused a valid event %+v: %v", p.name, ev, err)
				}
				if !errors.Is(err, sse.ErrInvalidField) && !errors.Is(err, sse.ErrInvalidUTF8) {
					t.Fatalf("%s: error %v is neither ErrInvalidField nor ErrInvalidUTF8", p.name, err)
				}
				if wrote != "" {
					t.Fatalf("%s refused the event but wrote %q", p.name, wrote)
				}
				continue
			}
			if !valid {
				t.Fatalf("%s accepted a bad event %+v and wrote %q", p.name, ev, wrote)
			}
			evs := parseStream(wrote)
			if len(evs) != 1 {
				t.Fatalf("%s wrote %q: %d events, want exactly 1", p.name, wrote, len(evs))
			}
			got := evs[0]
			if got.Type != typ || got.ID != id || got.HasID != (id != "") || got.Retry != wantRetry(ev.Retry) {
				t.Fatalf("%s: read back %+v for %+v", p.name, got, ev)
			}
			if want := strings.Join(lines, "\n"); got.Data != want {
				t.Fatalf("%s: data %q, want %q", p.name, got.Data, want)
			}
		}
	})
}
