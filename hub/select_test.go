package hub_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

func textEvent(data string) sse.Event { return sse.Event{Fields: []sse.Field{{Value: data}}} }

// replayData returns the data lines of a replay's events, in order.
func replayData(frames [][]byte) []string {
	var out []string
	for _, f := range frames {
		for line := range strings.SplitSeq(string(f), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// A publisher's event ID is the one the subscriber sees last on the
// event's id lines, the publish answers it, and a Subscribe with it
// replays what followed, also after a restart from the history file.
func TestPublisherEventID(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	opts := hub.PublishOptions{EventID: "urn:book:1", OpaqueTopics: true}
	res, err := h.PublishContext(t.Context(), []string{"https://example.com/books/1"}, opts, textEvent("one"))
	if err != nil || res.IDs[0] != "urn:book:1" {
		t.Fatalf("publish: %v %v, want the ID urn:book:1", res.IDs, err)
	}
	if _, err := h.PublishContext(t.Context(), []string{"https://example.com/books/1"}, hub.PublishOptions{OpaqueTopics: true}, textEvent("two")); err != nil {
		t.Fatal(err)
	}
	sub, err := h.Subscribe([]string{"https://example.com/books/1"}, "urn:book:1", hub.WithOpaqueTopics())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if got := replayData(sub.Replay); sub.Missed || strings.Join(got, "|") != "two" {
		t.Fatalf("replay after urn:book:1: %q (missed %v), want two", got, sub.Missed)
	}

	var file bytes.Buffer
	if err := h.SaveHistory(&file); err != nil {
		t.Fatal(err)
	}
	again, err := hub.NewFromHistory(hub.Config{}, &file)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Shutdown(t.Context())
	sub2, err := again.Subscribe([]string{"https://example.com/books/1"}, "urn:book:1", hub.WithOpaqueTopics())
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	if got := replayData(sub2.Replay); sub2.Missed || strings.Join(got, "|") != "two" {
		t.Fatalf("replay after urn:book:1 after a restart: %q (missed %v), want two", got, sub2.Missed)
	}
}

// Once the event bearing a publisher's ID has left the history, the ID is
// unknown: the client is told it missed events and gets what is held.
func TestPublisherEventIDLeavesWithHistory(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{HistoryPerTopic: 2})
	if _, err := h.PublishContext(t.Context(), []string{"t"}, hub.PublishOptions{EventID: "old"}, textEvent("0")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"1", "2"} {
		if _, err := h.Publish([]string{"t"}, textEvent(d)); err != nil {
			t.Fatal(err)
		}
	}
	sub := subscribe(t, h, "old", "t")
	if got := replayData(sub.Replay); !sub.Missed || !strings.HasSuffix(strings.Join(got, "|"), "1|2") || strings.Contains(strings.Join(got, "|"), "|0|") {
		t.Fatalf("replay after a trimmed ID: %q (missed %v), want the missed signal, then 1|2", got, sub.Missed)
	}
}

// An event ID names one event; opaque topics need OpaqueTopics.
func TestPublishOptionsRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t, hub.Config{})
	if _, err := h.PublishContext(t.Context(), []string{"t"}, hub.PublishOptions{EventID: "x"}, textEvent("a"), textEvent("b")); !errors.Is(err, hub.ErrEventID) {
		t.Fatalf("an ID for two events: %v, want ErrEventID", err)
	}
	if _, err := h.Publish([]string{"https://example.com/a"}, textEvent("a")); !errors.Is(err, hub.ErrInvalidTopic) {
		t.Fatalf("an IRI without OpaqueTopics: %v, want ErrInvalidTopic", err)
	}
	for _, bad := range []string{"", "a\nb", "a\x00b", "\xff", strings.Repeat("x", hub.MaxOpaqueTopicLength+1)} {
		if _, err := h.PublishContext(t.Context(), []string{bad}, hub.PublishOptions{OpaqueTopics: true}, textEvent("a")); !errors.Is(err, hub.ErrInvalidTopic) {
			t.Errorf("opaque topic %.20q: %v, want ErrInvalidTopic", bad, err)
		}
	}
}
