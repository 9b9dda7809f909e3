package sse_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

func TestAppendEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   sse.Event
		want string
	}{
		{"plain data", sse.Event{Fields: []sse.Field{{Value: "hello"}}}, "data: hello\n\n"},
		{"type id retry", sse.Event{Type: "t", ID: "7", Retry: 2500 * time.Millisecond, Fields: []sse.Field{{"k", "v"}}},
			"event: t\nid: 7\nretry: 2500\ndata: k v\n\n"},
		{"default retry omitted", sse.Event{Type: "t", Retry: time.Second}, "event: t\n\n"},
		{"LF split", sse.Event{Fields: []sse.Field{{"elements", "<a>\n<b>"}}}, "data: elements <a>\ndata: elements <b>\n\n"},
		{"CRLF split", sse.Event{Fields: []sse.Field{{"elements", "<a>\r\n<b>"}}}, "data: elements <a>\ndata: elements <b>\n\n"},
		{"CR LF CRLF and LF CR", sse.Event{Fields: []sse.Field{{"k", "a\rb\nc\r\nd\n\re"}}}, "data: k a\ndata: k b\ndata: k c\ndata: k d\ndata: k \ndata: k e\n\n"},
		{"lone CR split", sse.Event{Fields: []sse.Field{{"elements", "<a>\r<b>"}}}, "data: elements <a>\ndata: elements <b>\n\n"},
		{"trailing newline", sse.Event{Fields: []sse.Field{{"k", "a\n"}}}, "data: k a\ndata: k \n\n"},
		{"empty value keeps the space", sse.Event{Fields: []sse.Field{{"k", ""}}}, "data: k \n\n"},
		{"fields in order", sse.Event{Fields: []sse.Field{{"b", "1"}, {"a", "2"}}}, "data: b 1\ndata: a 2\n\n"},
		{"zero retry writes none", sse.Event{Type: "t", Retry: 0}, "event: t\n\n"},
		{"one millisecond retry", sse.Event{Type: "t", Retry: time.Millisecond}, "event: t\nretry: 1\n\n"},
		{"retry rounded down to the millisecond", sse.Event{Type: "t", Retry: 1999 * time.Microsecond}, "event: t\nretry: 1\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := sse.AppendEvent([]byte("prefix"), &tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tt.want {
				t.Errorf("got %q, want %q", got, "prefix"+tt.want)
			}
			if n := tt.ev.EncodedLen(); n != len(tt.want) {
				t.Errorf("EncodedLen() = %d, want %d", n, len(tt.want))
			}
		})
	}
}

func TestAppendEventRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   sse.Event
		want error
	}{
		{"id with LF", sse.Event{ID: "1\nevent: x"}, sse.ErrInvalidField},
		{"id with CR", sse.Event{ID: "1\r"}, sse.ErrInvalidField},
		{"id with NUL", sse.Event{ID: "1\x00"}, sse.ErrInvalidField},
		{"type with LF", sse.Event{Type: "a\nb"}, sse.ErrInvalidField},
		{"type with NUL", sse.Event{Type: "a\x00"}, sse.ErrInvalidField},
		{"key with space", sse.Event{Fields: []sse.Field{{"a b", "v"}}}, sse.ErrInvalidField},
		{"key with LF", sse.Event{Fields: []sse.Field{{"a\n", "v"}}}, sse.ErrInvalidField},
		{"negative retry", sse.Event{Retry: -time.Second}, sse.ErrInvalidField},
		{"retry of a nanosecond", sse.Event{Retry: time.Nanosecond}, sse.ErrInvalidField},
		{"retry under a millisecond", sse.Event{Retry: 999 * time.Microsecond}, sse.ErrInvalidField},
		{"invalid UTF-8 value", sse.Event{Fields: []sse.Field{{"k", "\xff"}}}, sse.ErrInvalidUTF8},
		{"invalid UTF-8 id", sse.Event{ID: "\xc3"}, sse.ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := []byte("kept")
			got, err := sse.AppendEvent(dst, &tt.ev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if string(got) != "kept" {
				t.Errorf("dst changed to %q on error", got)
			}
		})
	}
}

func TestAppendComment(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": ":\n\n", "hi": ": hi\n\n", "a\r\nb": ": a\n: b\n\n"} {
		if got := string(sse.AppendComment(nil, in)); got != want {
			t.Errorf("AppendComment(%q) = %q, want %q", in, got, want)
		}
		if evs := parseStream(string(sse.AppendComment(nil, in))); len(evs) != 0 {
			t.Errorf("comment %q dispatched %d events", in, len(evs))
		}
	}
}

// TestRetryUnderAMillisecond: the retry field counts whole milliseconds, so
// a positive Retry under one would be written as "retry: 0", an instant
// reconnection loop. It is refused, with the value in the error, by every
// event type that carries a Retry.
func TestRetryUnderAMillisecond(t *testing.T) {
	t.Parallel()
	const retry = 500 * time.Microsecond
	tests := []struct {
		name string
		ev   sse.Eventer
	}{
		{"Event", sse.Event{Type: "t", Retry: retry}},
		{"PatchElements", sse.PatchElements{Elements: "<p id=\"a\"></p>", Retry: retry}},
		{"PatchSignals", sse.PatchSignals{Signals: []byte(`{"a":1}`), Retry: retry}},
		{"ExecuteScript", sse.ExecuteScript{Script: "1", Retry: retry}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.ev.Event()
			if !errors.Is(err, sse.ErrInvalidField) {
				t.Fatalf("error %v, want ErrInvalidField", err)
			}
			if !strings.Contains(err.Error(), "retry") || !strings.Contains(err.Error(), retry.String()) {
				t.Errorf("error %q does not name the retry and its value %v", err, retry)
			}
		})
	}
}
