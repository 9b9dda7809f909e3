package cluster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/cluster"
)

// validToken reports whether tok can be one token of a NATS subject that
// a publisher names literally: non-empty, no separator, no wildcard, no
// whitespace or control bytes, nothing outside ASCII.
func validToken(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}

func TestTopicToken(t *testing.T) {
	t.Parallel()
	cases := []struct{ topic, token string }{
		{"news", "news"},
		{"news/sport", "news/sport"},
		{"user:42@home", "user:42@home"},
		{"a-b_c", "a-b_c"},
		{"a.b", "a~2Eb"},
		{"a~2Eb", "a~7E2Eb"},
		{"*", "~2A"},
		{">", "~3E"},
		{"a b", "a~20b"},
		{"$hubd/stats", "~24hubd/stats"},
		{"é", "~C3~A9"},
	}
	for _, c := range cases {
		t.Run(c.topic, func(t *testing.T) {
			t.Parallel()
			got := cluster.TopicToken(c.topic)
			if got != c.token {
				t.Fatalf("TopicToken(%q) = %q, want %q", c.topic, got, c.token)
			}
			if !validToken(got) {
				t.Fatalf("TopicToken(%q) = %q is not a literal subject token", c.topic, got)
			}
			back, err := cluster.ParseTopicToken(got)
			if err != nil || back != c.topic {
				t.Fatalf("ParseTopicToken(%q) = %q, %v; want %q", got, back, err, c.topic)
			}
		})
	}
}

// TestTopicTokenInjective checks pairs that a careless mapping would
// merge: '.' against '/', escapes against their spelled-out text.
func TestTopicTokenInjective(t *testing.T) {
	t.Parallel()
	topics := []string{"a.b", "a/b", "a~2Eb", "a~2eb", "a_b", "a-b", "a:b", "a@b", "a*", "a>", "a~", "a~~", "~", "~7E"}
	seen := map[string]string{}
	for _, topic := range topics {
		tok := cluster.TopicToken(topic)
		if other, ok := seen[tok]; ok {
			t.Fatalf("%q and %q share token %q", topic, other, tok)
		}
		seen[tok] = topic
	}
}

func TestParseTopicTokenRefuses(t *testing.T) {
	t.Parallel()
	// Each is refused: it is not what TopicToken returns for any topic,
	// so accepting it would give one topic two spellings.
	for _, tok := range []string{"", "a.b", "a b", "~", "~2", "~2e", "~41", "~zz", "a*", "news>"} {
		if got, err := cluster.ParseTopicToken(tok); !errors.Is(err, cluster.ErrBadToken) {
			t.Errorf("ParseTopicToken(%q) = %q, %v; want ErrBadToken", tok, got, err)
		}
	}
}

// FuzzTopicToken checks, on every input, that the token is one literal
// subject token and parses back to the topic: so two topics can never
// share a token.
func FuzzTopicToken(f *testing.F) {
	for _, s := range []string{"news", "a.b", "a/b", "~2E", "*", ">", "é", "$x", strings.Repeat("a.", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		tok := cluster.TopicToken(topic)
		if topic == "" {
			if tok != "" {
				t.Fatalf("empty topic got token %q", tok)
			}
			return
		}
		if !validToken(tok) {
			t.Fatalf("TopicToken(%q) = %q is not a literal subject token", topic, tok)
		}
		back, err := cluster.ParseTopicToken(tok)
		if err != nil || back != topic {
			t.Fatalf("ParseTopicToken(TopicToken(%q)) = %q, %v", topic, back, err)
		}
		// And a token parses only to the topic whose token it is.
		if p, err := cluster.ParseTopicToken(topic); err == nil && cluster.TopicToken(p) != topic {
			t.Fatalf("ParseTopicToken(%q) = %q, whose token is %q", topic, p, cluster.TopicToken(p))
		}
	})
}
