// Package mercure speaks the Mercure protocol (the IETF draft published as
// spec/mercure.md in the dunglas/mercure repository) on top of hubd's hub:
// it parses the publish form and the subscribe query, compiles topic
// matchers (exact, URL Pattern, and the older topic selectors: exact, "*"
// and RFC 6570 URI templates), and reads the rights a token grants from
// its authorization_details claim or the older mercure claim.
//
// Nothing here speaks HTTP or holds a connection: package web turns
// requests into the values this package parses and hands them to the hub.
package mercure

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/dunglas/go-urlpattern"
	"github.com/yosida95/uritemplate/v3"
)

// Matcher types.
const (
	// Exact compares a topic byte for byte.
	Exact = "exact"
	// URLPattern matches topics with a URL Pattern (urlpattern.spec.whatwg.org).
	URLPattern = "urlpattern"
	// Selector is the topic selector of hubs before the standard (the
	// topic query parameter and string entries of the mercure claim): "*",
	// an RFC 6570 URI template, or else an exact topic.
	Selector = "selector"
)

// Wildcard is the matcher value that matches every topic, whatever its
// matcher type.
const Wildcard = "*"

// MaxMatcherLength is the longest matcher value accepted, in bytes.
const MaxMatcherLength = 2048

// ErrInvalid is wrapped by every error about a malformed matcher, topic,
// field or claim.
var ErrInvalid = errors.New("mercure: invalid")

// Matcher is one compiled topic matcher. Its Match is safe for concurrent
// use and remembers its answers per topic (up to matchCache topics), so a
// URL Pattern or a template is evaluated once per topic, not once per
// publish.
type Matcher struct {
	Type    string // Exact, URLPattern or Selector
	Pattern string // the matcher value as given
	all     bool   // Pattern is the wildcard
	base    string // the hub's URL, for relative patterns and topics
	pat     *urlpattern.URLPattern
	tpl     *regexp.Regexp
	fn      func(topic string) bool // rights stated in another form (Grants.Allow)

	mu    sync.Mutex
	cache map[string]bool
}

// matchCache bounds the topics one matcher remembers; past it the cache is
// emptied and filled again.
const matchCache = 1024

// Compile compiles the matcher pattern of type typ; base is the hub's URL,
// against which relative URL patterns and topics are resolved. The error
// wraps ErrInvalid and names what is wrong.
func Compile(typ, pattern, base string) (*Matcher, error) {
	if err := CheckValue(pattern); err != nil {
		return nil, err
	}
	m := &Matcher{Type: typ, Pattern: pattern, base: base, all: pattern == Wildcard}
	if m.all {
		return m, nil
	}
	switch typ {
	case Exact:
	case URLPattern:
		p, err := urlpattern.New(pattern, base, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: URL pattern %q: %v", ErrInvalid, pattern, err)
		}
		m.pat = p
	case Selector:
		if strings.Contains(pattern, "{") {
			// A value that is not a valid template is an exact topic, as
			// hubs before the standard take it.
			if t, err := uritemplate.New(pattern); err == nil {
				m.tpl = t.Regexp()
			}
		}
	default:
		return nil, fmt.Errorf("%w: matcher type %q: want %q or %q", ErrInvalid, typ, Exact, URLPattern)
	}
	return m, nil
}

// Match reports whether topic is one the matcher selects.
func (m *Matcher) Match(topic string) bool {
	switch {
	case m.all:
		return true
	case m.fn != nil:
		return m.fn(topic)
	case m.pat == nil && m.tpl == nil:
		return topic == m.Pattern
	case m.tpl != nil && topic == m.Pattern:
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ok, found := m.cache[topic]; found {
		return ok
	}
	var ok bool
	if m.pat != nil {
		ok = m.pat.Test(topic, m.base)
	} else {
		ok = m.tpl.MatchString(topic)
	}
	if m.cache == nil || len(m.cache) >= matchCache {
		m.cache = make(map[string]bool)
	}
	m.cache[topic] = ok
	return ok
}

// IsExact reports whether the matcher selects exactly one topic, its
// Pattern: such a matcher needs no evaluation, and the hub indexes it.
func (m *Matcher) IsExact() bool { return !m.all && m.pat == nil && m.tpl == nil && m.fn == nil }

// CheckValue checks a topic, matcher value or ID against the characters the
// specification forbids (Terminology): it must be valid UTF-8 without C0
// or C1 control characters, DEL or Unicode format characters (category
// Cf), and at most MaxMatcherLength bytes. The error wraps ErrInvalid.
func CheckValue(v string) error {
	if len(v) > MaxMatcherLength {
		return fmt.Errorf("%w: %.32q... is %d bytes, longer than %d", ErrInvalid, v, len(v), MaxMatcherLength)
	}
	for i, r := range v {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(v[i:], "\uFFFD"):
			return fmt.Errorf("%w: %q is not valid UTF-8 at byte %d", ErrInvalid, v, i)
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			return fmt.Errorf("%w: %q has the control character %U at byte %d", ErrInvalid, v, r, i)
		case unicode.Is(unicode.Cf, r):
			return fmt.Errorf("%w: %q has the format character %U at byte %d", ErrInvalid, v, r, i)
		}
	}
	return nil
}
