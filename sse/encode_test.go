package sse_test

import (
	"errors"
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
		{"lone CR split", sse.Event{Fields: []sse.Field{{"elements", "<a>\r<b>"}}}, "data: elements <a>\ndata: elements <b>\n\n"},
		{"trailing newline", sse.Event{Fields: []sse.Field{{"k", "a\n"}}}, "data: k a\ndata: k \n\n"},
		{"empty value keeps the space", sse.Event{Fields: []sse.Field{{"k", ""}}}, "data: k \n\n"},
		{"fields in order", sse.Event{Fields: []sse.Field{{"b", "1"}, {"a", "2"}}}, "data: b 1\ndata: a 2\n\n"},
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
