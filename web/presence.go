package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hubd-dev/hubd/hub"
)

// presenceSuffix ends the path of a topic's presence count,
// GET /topics/{topic}/presence. A topic whose own name ends in
// "/presence" is streamed with its last slash escaped
// (/topics/a%2Fpresence) or through /subscribe?topic=a/presence.
const presenceSuffix = "/presence"

// isPresencePath reports whether r asks for a topic's presence count
// rather than its stream.
func isPresencePath(r *http.Request) bool {
	p := r.URL.EscapedPath()
	return strings.HasPrefix(p, "/topics/") && strings.HasSuffix(p, presenceSuffix) && len(p) > len("/topics/")+len(presenceSuffix)
}

// presenceParam reads the presence query parameter of a subscribe:
// true asks for the hub.PresenceSignal in the stream. Absent or empty
// means false; anything strconv.ParseBool does not take is a bad field.
func presenceParam(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("presence")
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, badField("presence", fmt.Errorf("%q: want true or false", v))
	}
	return on, nil
}

// presenceAnswer is the body of GET /topics/{topic}/presence.
type presenceAnswer struct {
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
}

// handleTopicGet serves the GETs under /topics/ that reach the router:
// presence counts. Streams are dispatched in ServeHTTP and never get here
// (see ServeHTTP); this route only documents them otherwise.
func (s *Server) handleTopicGet(w http.ResponseWriter, r *http.Request) {
	if !isPresencePath(r) {
		s.handleSubscribePath(w, r)
		return
	}
	s.handlePresence(w, r)
}

// handlePresence answers how many clients subscribe to the topic, on the
// whole cluster in cluster mode. Whoever may subscribe to the topic may
// ask (the same token, cookie or anonymous grant).
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimSuffix(strings.TrimPrefix(r.URL.EscapedPath(), "/topics/"), presenceSuffix)
	topic, err := url.PathUnescape(raw)
	if err != nil {
		writeError(w, r, badField("topic", fmt.Errorf("%q: %w", raw, err)))
		return
	}
	if _, err := s.authorizeSubscribe(r, []string{topic}); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, presenceAnswer{Topic: topic, Subscribers: s.hub.Presence(topic)})
}

// presenceOption adds hub.WithPresence to opts when r asks for it.
func presenceOption(r *http.Request, opts []hub.SubscribeOption) ([]hub.SubscribeOption, error) {
	on, err := presenceParam(r)
	if err != nil || !on {
		return opts, err
	}
	return append(opts, hub.WithPresence()), nil
}
