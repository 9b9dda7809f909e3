package auth

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPatternLength bounds a topic pattern, in bytes, as topic names are
// bounded.
const MaxPatternLength = 256

// ErrInvalidPattern is wrapped by every pattern validation error.
var ErrInvalidPattern = errors.New("auth: invalid topic pattern")

// ValidatePattern reports whether p is a usable topic pattern: segments
// separated by '/', each either a literal segment (the characters a topic
// name may hold), "*" or "**". A pattern without wildcards names one topic.
func ValidatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty pattern", ErrInvalidPattern)
	}
	if len(p) > MaxPatternLength {
		return fmt.Errorf("%w: %.32q... is %d bytes, longer than %d", ErrInvalidPattern, p, len(p), MaxPatternLength)
	}
	for i, seg := range strings.Split(p, "/") {
		if i == 0 && strings.HasPrefix(seg, "$") {
			seg = seg[1:]
			if seg == "*" || seg == "**" {
				return fmt.Errorf("%w: %q: a hub topic's first segment must be named, not a wildcard", ErrInvalidPattern, p)
			}
		}
		switch seg {
		case "*", "**":
			continue
		case "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidPattern, p)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidPattern, p, seg)
		}
		for j := 0; j < len(seg); j++ {
			if !segmentByte(seg[j]) {
				return fmt.Errorf("%w: %q contains %q (allowed: letters, digits, \"-_.~:@\", and * or ** as a whole segment)", ErrInvalidPattern, p, seg[j:j+1])
			}
		}
	}
	return nil
}

func segmentByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~:@", c) >= 0
}

// Match reports whether topic matches pattern. Segments are separated by
// '/'; a literal segment matches itself, "*" matches exactly one segment
// and "**" any number of segments, none included. Wildcards never match a
// first segment that starts with '$': the hub's own topics (such as its
// statistics) are granted only by patterns that name them, so that "**"
// does not hand them out by accident. An invalid pattern matches nothing.
func Match(pattern, topic string) bool {
	if ValidatePattern(pattern) != nil {
		return false
	}
	if strings.HasPrefix(topic, "$") && !strings.HasPrefix(pattern, "$") {
		return false
	}
	return matchSegments(strings.Split(pattern, "/"), strings.Split(topic, "/"))
}

// matchSegments matches as a glob matches characters, with "**" as its
// star and "*" as its single-character wildcard: on a mismatch it goes back
// to the last "**" and lets it take one more segment. That bounds the work
// by len(pat)*len(top), whatever the number of "**".
func matchSegments(pat, top []string) bool {
	p, t := 0, 0
	star, mark := -1, 0 // the last "**" seen, and the topic segment it stopped at
	for t < len(top) {
		switch {
		case p < len(pat) && pat[p] == "**":
			star, mark = p, t
			p++
		case p < len(pat) && (pat[p] == "*" || pat[p] == top[t]):
			p++
			t++
		case star >= 0:
			mark++
			p, t = star+1, mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == "**" {
		p++
	}
	return p == len(pat)
}

// Patterns is a list of topic patterns: it allows a topic that any of them
// matches.
type Patterns []string

// Allows reports whether some pattern of ps matches topic.
func (ps Patterns) Allows(topic string) bool {
	for _, p := range ps {
		if Match(p, topic) {
			return true
		}
	}
	return false
}

// Validate returns an error naming every invalid pattern of ps.
func (ps Patterns) Validate() error {
	var errs []error
	for i, p := range ps {
		if err := ValidatePattern(p); err != nil {
			errs = append(errs, fmt.Errorf("[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
