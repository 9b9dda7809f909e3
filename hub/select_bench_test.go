package hub_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/mercure"
	"github.com/hubd-dev/hubd/sse"
)

// BenchmarkPublishBesidePatterns measures one publish to a topic followed
// by nobody while n Mercure subscribers follow URL patterns that do not
// match it: the cost that pattern subscribers add to every publish. Each
// pattern is evaluated once for the topic and remembered.
func BenchmarkPublishBesidePatterns(b *testing.B) {
	for _, n := range []int{0, 1000, 10_000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			h := newHub(b, hub.Config{})
			for i := range n {
				q := url.Values{"match_urlpattern": {fmt.Sprintf("https://example.com/users/%d/:item", i)}}
				req, err := mercure.ParseSubscribe(q, "https://hub.example/.well-known/mercure", 0)
				if err != nil {
					b.Fatal(err)
				}
				sub, err := h.Subscribe(nil, "", hub.WithSelector(mercure.NewRoute(req, nil)), hub.WithOpaqueTopics())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(sub.Close)
			}
			ev := sse.Event{Fields: []sse.Field{{Value: "x"}}}
			opts := hub.PublishOptions{OpaqueTopics: true}
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.PublishContext(b.Context(), []string{"https://example.com/books/1"}, opts, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
