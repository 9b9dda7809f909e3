package mercure

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hubd-dev/hubd/sse"
)

// Path is the hub's URL path: the well-known URI of the specification
// (Discovery). Its subtree is reserved for the hub (Publication).
const Path = "/.well-known/mercure"

// Earliest is the reserved last event ID that asks for every update the
// hub still holds (Reconciliation).
const Earliest = "earliest"

// ReservedType is the SSE event type the specification reserves for the
// hub's own subscription events; publishers may not use it.
const ReservedType = "mercure"

// Subscribe is what a subscribe request asks for.
type Subscribe struct {
	// Matchers are the request's topic matchers, in order, each compiled.
	Matchers []*Matcher
	// LastEventID is the last_event_id query parameter, or the older
	// lastEventID one; the caller gives the Last-Event-ID header
	// precedence over it.
	LastEventID string
}

// ParseSubscribe reads the topic matchers of a subscribe query
// (Subscription): match and match_exact are exact, match_urlpattern a URL
// Pattern, and the older topic a topic selector (exact, "*" or a URI
// template). Any other parameter whose name begins with "match", in any
// case, is refused, as are values with forbidden characters, patterns that
// do not compile, more than maxMatchers matchers (when positive) and a
// request with none. base is the hub's URL. The error wraps ErrInvalid and
// names the parameter.
func ParseSubscribe(q url.Values, base string, maxMatchers int) (*Subscribe, error) {
	s := &Subscribe{LastEventID: q.Get("last_event_id")}
	if s.LastEventID == "" {
		s.LastEventID = q.Get("lastEventID")
	}
	for name, values := range q {
		typ := ""
		switch {
		case name == "match", name == "match_exact":
			typ = Exact
		case name == "match_urlpattern":
			typ = URLPattern
		case name == "topic":
			typ = Selector
		case len(name) >= 5 && strings.EqualFold(name[:5], "match"):
			return nil, fmt.Errorf("%w: parameter %q: not a matcher type this hub knows (match, match_exact, match_urlpattern)", ErrInvalid, name)
		default:
			continue
		}
		for _, v := range values {
			m, err := Compile(typ, v, base)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", name, err)
			}
			s.Matchers = append(s.Matchers, m)
		}
	}
	switch {
	case len(s.Matchers) == 0:
		return nil, fmt.Errorf("%w: no topic matcher: give one or more match, match_urlpattern or topic parameters", ErrInvalid)
	case maxMatchers > 0 && len(s.Matchers) > maxMatchers:
		return nil, fmt.Errorf("%w: %d topic matchers, more than the limit of %d", ErrInvalid, len(s.Matchers), maxMatchers)
	}
	return s, nil
}

// Exact returns the topics the request's exact matchers name, without
// repeats, for the hub's index.
func (s *Subscribe) Exact() []string {
	var out []string
	for _, m := range s.Matchers {
		if m.IsExact() && !contains(out, m.Pattern) {
			out = append(out, m.Pattern)
		}
	}
	return out
}

// Patterns returns the request's matchers that are not exact: the
// wildcard, URL patterns and URI templates.
func (s *Subscribe) Patterns() []*Matcher {
	var out []*Matcher
	for _, m := range s.Matchers {
		if !m.IsExact() {
			out = append(out, m)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Update is one parsed publish (Publication).
type Update struct {
	// Topics are the update's topics: the canonical one first, then the
	// alternates, without repeats.
	Topics []string
	// Private marks the update private: only subscribers whose token
	// grants subscribe on one of Topics receive it.
	Private bool
	// Event is the SSE event to send: the publisher's type, id, retry and
	// data, one data line per line of data.
	Event sse.Event
}

// ParsePublish reads a publish form (Publication). It refuses, naming the
// field: no topic; a topic, id or type with forbidden characters; the
// topic "*" or one in the hub's reserved namespace (hubURL's path and
// below, after resolving the topic against hubURL); an id starting with
// '#' or equal to "earliest"; the type "mercure"; a retry that is not
// digits; data that is not UTF-8. Fields it does not know are ignored. The
// error wraps ErrInvalid.
func ParsePublish(form url.Values, hubURL *url.URL) (*Update, error) {
	topics := form["topic"]
	if len(topics) == 0 {
		return nil, fmt.Errorf("%w: topic: missing; give one or more topic fields", ErrInvalid)
	}
	u := &Update{}
	for _, t := range topics {
		if t == "" {
			return nil, fmt.Errorf("%w: topic: empty", ErrInvalid)
		}
		if err := CheckValue(t); err != nil {
			return nil, fmt.Errorf("topic: %w", err)
		}
		if t == Wildcard {
			return nil, fmt.Errorf("%w: topic: %q is the wildcard, which no topic may be", ErrInvalid, t)
		}
		if reserved(t, hubURL) {
			return nil, fmt.Errorf("%w: topic: %q is in the hub's reserved namespace %s/", ErrInvalid, t, hubURL.Path)
		}
		if !contains(u.Topics, t) {
			u.Topics = append(u.Topics, t)
		}
	}
	_, u.Private = form["private"]
	e := &u.Event
	if id := form.Get("id"); id != "" {
		if err := CheckValue(id); err != nil {
			return nil, fmt.Errorf("id: %w", err)
		}
		if strings.HasPrefix(id, "#") || id == Earliest {
			return nil, fmt.Errorf("%w: id: %q: an ID may not start with '#' nor be %q", ErrInvalid, id, Earliest)
		}
		e.ID = id
	}
	if typ := form.Get("type"); typ != "" {
		if err := CheckValue(typ); err != nil {
			return nil, fmt.Errorf("type: %w", err)
		}
		if typ == ReservedType {
			return nil, fmt.Errorf("%w: type: %q is reserved for the hub's own events", ErrInvalid, typ)
		}
		e.Type = typ
	}
	if r := form.Get("retry"); r != "" {
		ms, err := strconv.ParseUint(r, 10, 32)
		if err != nil || strings.TrimLeft(r, "0123456789") != "" {
			return nil, fmt.Errorf("%w: retry: %q: want milliseconds, as digits only, at most %d", ErrInvalid, r, uint32(1<<32-1))
		}
		e.Retry, e.ExplicitRetry = time.Duration(ms)*time.Millisecond, true
	}
	data := form.Get("data")
	if !utf8.ValidString(data) {
		return nil, fmt.Errorf("%w: data: not valid UTF-8", ErrInvalid)
	}
	// One data field, even when empty, so that EventSource dispatches the
	// event (it drops one without data lines).
	e.Fields = []sse.Field{{Value: data}}
	return u, nil
}

// reserved reports whether topic, resolved against the hub's URL, names
// the hub's path or a path below it (Publication). A topic that is not a
// URL reference names no hub path.
func reserved(topic string, hubURL *url.URL) bool {
	ref, err := url.Parse(topic)
	if err != nil {
		return false
	}
	p := hubURL.ResolveReference(ref).Path // percent-decoded
	if p == "" {
		return false
	}
	p = path.Clean(p)
	return p == hubURL.Path || strings.HasPrefix(p, hubURL.Path+"/")
}
