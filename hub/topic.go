package hub

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopicLength is the longest topic name, in bytes.
const MaxTopicLength = 256

// StatsTopic is where the hub's statistics are published every second
// for its dashboard, while anyone subscribes to it.
const StatsTopic = "$hubd/stats"

// ErrInvalidTopic is wrapped by every topic validation error.
var ErrInvalidTopic = errors.New("hub: invalid topic")

// ValidateTopic reports whether name is a usable topic name: 1 to
// MaxTopicLength bytes of segments separated by '/', each segment made of
// ASCII letters, digits and "-_.~:@", and neither "." nor "..". A leading
// '$' marks a topic reserved for the hub itself (such as StatsTopic); use
// Reserved to tell them apart.
func ValidateTopic(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidTopic)
	}
	if len(name) > MaxTopicLength {
		return fmt.Errorf("%w: %.32q... is %d bytes, longer than %d", ErrInvalidTopic, name, len(name), MaxTopicLength)
	}
	rest := strings.TrimPrefix(name, "$")
	for seg := range strings.SplitSeq(rest, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidTopic, name)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidTopic, name, seg)
		}
		for i := 0; i < len(seg); i++ {
			if !topicByte(seg[i]) {
				// Name the whole character, not its first byte ("ü", not "Ã").
				_, size := utf8.DecodeRuneInString(seg[i:])
				return fmt.Errorf("%w: %q contains %q (allowed: letters, digits, '/' and \"-_.~:@\")", ErrInvalidTopic, name, seg[i:i+size])
			}
		}
	}
	return nil
}

// Reserved reports whether name is a topic of the hub itself, which
// clients may subscribe to but not publish to.
func Reserved(name string) bool { return strings.HasPrefix(name, "$") }

func topicByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~:@", c) >= 0
}
