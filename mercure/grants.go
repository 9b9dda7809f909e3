package mercure

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DetailType is the type of a Mercure authorization detail in a token's
// authorization_details claim (RFC 9396).
const DetailType = "https://mercure.rocks/authorization-detail"

// Limits on what one token may grant; a token past them is refused as
// invalid (Authorization Details).
const (
	MaxDetails      = 64
	MaxDetailTopics = 256
)

// Grants are the rights a token gives: the topics it may publish to and
// those whose private updates it may receive. The zero value grants
// nothing. Its methods are safe for concurrent use.
type Grants struct {
	publish, subscribe []*Matcher
}

// Allow returns Grants that allow publish and subscribe for the topics
// each function accepts, on top of g's own: for rights the token states in
// another form (hubd's own claim).
func (g *Grants) Allow(publish, subscribe func(topic string) bool) *Grants {
	out := &Grants{publish: g.publish, subscribe: g.subscribe}
	if publish != nil {
		out.publish = append(out.publish[:len(out.publish):len(out.publish)], &Matcher{fn: publish})
	}
	if subscribe != nil {
		out.subscribe = append(out.subscribe[:len(out.subscribe):len(out.subscribe)], &Matcher{fn: subscribe})
	}
	return out
}

// CanPublish reports whether the grants allow publishing to topic.
func (g *Grants) CanPublish(topic string) bool { return g != nil && anyMatch(g.publish, topic) }

// CanRead reports whether the grants allow receiving a private update to
// topics: a subscribe grant matches one of them (Subscribers).
func (g *Grants) CanRead(topics []string) bool {
	if g == nil {
		return false
	}
	for _, t := range topics {
		if anyMatch(g.subscribe, t) {
			return true
		}
	}
	return false
}

// Reads reports whether the grants allow receiving any private update.
func (g *Grants) Reads() bool { return g != nil && len(g.subscribe) > 0 }

func anyMatch(ms []*Matcher, topic string) bool {
	for _, m := range ms {
		if m.Match(topic) {
			return true
		}
	}
	return false
}

// ParseGrants reads the grants of a verified token's claims: details, the
// authorization_details claim (entries of another type than DetailType are
// someone else's and ignored), and legacy, the mercure claim of hubs
// before the standard ({"publish": [...], "subscribe": [...]}, each entry a
// topic selector string or a {"match", "match_type"} object). Either may
// be empty. base is the hub's URL. A claim that does not parse, an entry
// that does not validate, or more than the limits, fail the whole token:
// the error wraps ErrInvalid and names the entry.
func ParseGrants(details, legacy json.RawMessage, base string) (*Grants, error) {
	g := &Grants{}
	if present(details) {
		var list []json.RawMessage
		if err := json.Unmarshal(details, &list); err != nil {
			return nil, fmt.Errorf("%w: claim authorization_details: want an array: %v", ErrInvalid, err)
		}
		mercure := 0
		for i, raw := range list {
			var head struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return nil, fmt.Errorf("%w: authorization_details[%d]: want an object with a string type: %v", ErrInvalid, i, err)
			}
			if head.Type != DetailType {
				continue
			}
			if mercure++; mercure > MaxDetails {
				return nil, fmt.Errorf("%w: authorization_details: more than %d Mercure details", ErrInvalid, MaxDetails)
			}
			if err := g.addDetail(raw, base); err != nil {
				return nil, fmt.Errorf("authorization_details[%d]: %w", i, err)
			}
		}
	}
	if present(legacy) {
		var claim struct {
			Publish   []json.RawMessage `json:"publish"`
			Subscribe []json.RawMessage `json:"subscribe"`
		}
		if err := json.Unmarshal(legacy, &claim); err != nil {
			return nil, fmt.Errorf("%w: claim mercure: want {\"publish\": [...], \"subscribe\": [...]}: %v", ErrInvalid, err)
		}
		for _, side := range []struct {
			name    string
			entries []json.RawMessage
			to      *[]*Matcher
		}{{"publish", claim.Publish, &g.publish}, {"subscribe", claim.Subscribe, &g.subscribe}} {
			if len(side.entries) > MaxDetailTopics {
				return nil, fmt.Errorf("%w: mercure.%s: more than %d entries", ErrInvalid, side.name, MaxDetailTopics)
			}
			for i, raw := range side.entries {
				m, err := legacyMatcher(raw, base)
				if err != nil {
					return nil, fmt.Errorf("mercure.%s[%d]: %w", side.name, i, err)
				}
				*side.to = append(*side.to, m)
			}
		}
	}
	return g, nil
}

func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// addDetail adds the grants of one Mercure authorization detail.
func (g *Grants) addDetail(raw json.RawMessage, base string) error {
	var d struct {
		Actions []json.RawMessage `json:"actions"`
		Topics  []json.RawMessage `json:"topics"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(d.Actions) == 0 {
		return fmt.Errorf("%w: actions: missing or empty", ErrInvalid)
	}
	if len(d.Topics) == 0 {
		return fmt.Errorf("%w: topics: missing or empty", ErrInvalid)
	}
	if len(d.Topics) > MaxDetailTopics {
		return fmt.Errorf("%w: topics: more than %d", ErrInvalid, MaxDetailTopics)
	}
	var publish, subscribe bool
	for i, a := range d.Actions {
		var action string
		if err := json.Unmarshal(a, &action); err != nil {
			return fmt.Errorf("%w: actions[%d]: want a string", ErrInvalid, i)
		}
		// Actions this hub does not know grant nothing (Authorization
		// Details): future ones must not break a token.
		publish = publish || action == "publish"
		subscribe = subscribe || action == "subscribe"
	}
	for i, t := range d.Topics {
		m, err := objectMatcher(t, base)
		if err != nil {
			return fmt.Errorf("topics[%d]: %w", i, err)
		}
		if publish {
			g.publish = append(g.publish, m)
		}
		if subscribe {
			g.subscribe = append(g.subscribe, m)
		}
	}
	return nil
}

// objectMatcher compiles a topic matcher object (Topic Matcher List):
// {"match": ..., "match_type": ...}, match_type exact when absent.
func objectMatcher(raw json.RawMessage, base string) (*Matcher, error) {
	var o struct {
		Match     *string `json:"match"`
		MatchType *string `json:"match_type"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("%w: want an object with a string match: %v", ErrInvalid, err)
	}
	if o.Match == nil {
		return nil, fmt.Errorf("%w: match: missing", ErrInvalid)
	}
	typ := Exact
	if o.MatchType != nil {
		typ = *o.MatchType
		if typ != Exact && typ != URLPattern {
			return nil, fmt.Errorf("%w: match_type %q: want %q or %q", ErrInvalid, typ, Exact, URLPattern)
		}
	}
	return Compile(typ, *o.Match, base)
}

// legacyMatcher compiles an entry of the older mercure claim: a topic
// selector string, or a matcher object.
func legacyMatcher(raw json.RawMessage, base string) (*Matcher, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return Compile(Selector, s, base)
	}
	return objectMatcher(raw, base)
}
