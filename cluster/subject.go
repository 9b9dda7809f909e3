package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// Subjects. Every message of the stream is published under the subject
// prefix (Config.SubjectPrefix, "hubd.events" by default):
//
//	PREFIX.t.TOKEN  an event to one topic, TOKEN = TopicToken(topic)
//	PREFIX.m        an event to several topics
//
// An event to several topics must stay ONE message (one sequence number,
// one event ID), so its subject cannot name all its topics; the payload
// always carries the topics (see Message), and the subject is only an
// index: it lets Read filter single-topic events on the server, and lets
// an operator watch one topic with `nats sub 'hubd.events.t.news'`.
// The stream takes PREFIX.>, so no topic can ever leave it.

// subjectOne and subjectMany are the tokens after the prefix.
const (
	subjectOne  = "t"
	subjectMany = "m"
)

// ErrBadToken is returned by ParseTopicToken for a string that
// TopicToken never returns.
var ErrBadToken = errors.New("cluster: not a topic token")

// ErrNoTopics is returned by Append for a message without topics, or with
// an empty topic name.
var ErrNoTopics = errors.New("cluster: message without topics")

// TopicToken maps topic to a single NATS subject token, injectively: two
// different topics never share a token, so no topic can reach another's
// subject. Letters, digits and "-_/:@" stay as they are; every other byte
// (the '.' that separates subject tokens, '*', '>', spaces, '$', '~'
// itself, bytes of non-ASCII characters) becomes '~' and two upper-case
// hex digits. So "news/sport" stays "news/sport", "a.b" becomes "a~2Eb"
// and "$hubd/stats" "~24hubd/stats". It returns "" for an empty topic,
// which has no token.
func TopicToken(topic string) string {
	n := 0
	for i := 0; i < len(topic); i++ {
		if plainByte(topic[i]) {
			n++
		} else {
			n += 3
		}
	}
	if n == len(topic) {
		return topic
	}
	var b strings.Builder
	b.Grow(n)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if plainByte(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('~')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}

// ParseTopicToken returns the topic whose TopicToken is token, or an
// error wrapping ErrBadToken.
func ParseTopicToken(token string) (string, error) {
	if token == "" {
		return "", fmt.Errorf("%w: empty", ErrBadToken)
	}
	var b strings.Builder
	b.Grow(len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case plainByte(c):
			b.WriteByte(c)
		case c == '~' && i+2 < len(token):
			hi, lo := unhex(token[i+1]), unhex(token[i+2])
			if hi < 0 || lo < 0 || plainByte(byte(hi<<4|lo)) {
				// Only the upper-case escape of a byte that needs one
				// is a token: anything else would be a second spelling.
				return "", fmt.Errorf("%w: %q has a bad escape at %d", ErrBadToken, token, i)
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		default:
			return "", fmt.Errorf("%w: %q has %q at %d", ErrBadToken, token, c, i)
		}
	}
	return b.String(), nil
}

func plainByte(c byte) bool {
	return tokenByte(c) || c == '/' || c == ':' || c == '@'
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// streamSubject is the subject filter that holds every event under prefix:
// the stream's, and what a lookup of any next event asks for.
func streamSubject(prefix string) string { return prefix + ".>" }

// subject returns the subject of an event to topics (at least one).
func subject(prefix string, topics []string) string {
	if len(topics) == 1 {
		return prefix + "." + subjectOne + "." + TopicToken(topics[0])
	}
	return prefix + "." + subjectMany
}

// maxFilterTopics is the most topics Read asks the server to filter by
// subject; past it Read takes every event in the range and filters here.
const maxFilterTopics = 64

// filterSubjects returns the subjects that hold every event naming one of
// topics, or nil when filtering on the server is not worth it.
func filterSubjects(prefix string, topics []string) []string {
	if len(topics) == 0 || len(topics) > maxFilterTopics {
		return nil
	}
	out := make([]string, 0, len(topics)+1)
	for _, t := range topics {
		out = append(out, prefix+"."+subjectOne+"."+TopicToken(t))
	}
	return append(out, prefix+"."+subjectMany)
}
