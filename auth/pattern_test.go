package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/auth"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, topic string
		want           bool
	}{
		{"news", "news", true},
		{"news", "news/sport", false},
		{"news", "new", false},
		{"news/*", "news/sport", true},
		{"news/*", "news", false},
		{"news/*", "news/sport/live", false},
		{"*/live", "sport/live", true},
		{"*/live", "sport/dead", false},
		{"news/**", "news", true},
		{"news/**", "news/a/b/c", true},
		{"news/**", "newsroom/a", false},
		{"**", "anything/at/all", true},
		{"**", "x", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"a/**/b/**/c", "a/1/b/2/b/3/c", true},
		{"a/**/b/**/c", "a/1/c/2/b", false},
		{"**/*", "x", true},
		{"**/*", "x/y", true},
		{"*/*/**", "x", false},
		{"a/*/**", "a/b", true},
		// Wildcards do not reach the hub's own topics.
		{"**", "$hubd/stats", false},
		{"*/stats", "$hubd/stats", false},
		{"$hubd/stats", "$hubd/stats", true},
		{"$hubd/**", "$hubd/stats", true},
		// Invalid patterns match nothing.
		{"", "", false},
		{"news/", "news/", false},
		{"news/../x", "news/../x", false},
		{"a**", "abc", false},
		{"$**", "$hubd", false},
	}
	for _, c := range cases {
		if got := auth.Match(c.pattern, c.topic); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.topic, got, c.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"a", "a/b", "*", "**", "a/*/c", "a/**", "$hubd/stats", "x-y_z.~:@1"} {
		if err := auth.ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want nil", p, err)
		}
	}
	bad := map[string]string{
		"":                       "empty",
		"a//b":                   "empty segment",
		"a/../b":                 `".." segment`,
		"a/./b":                  `"." segment`,
		"a*":                     `contains "*"`,
		"a b":                    `contains " "`,
		"$*":                     "must be named",
		"a/\n":                   `contains "\n"`,
		strings.Repeat("a", 257): "longer than 256",
	}
	for p, want := range bad {
		err := auth.ValidatePattern(p)
		if !errors.Is(err, auth.ErrInvalidPattern) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrInvalidPattern saying %q", p, err, want)
		}
	}
}

// reference matches by the definition, trying every split for "**"; it is
// slow on many "**", which the fuzzer's short inputs keep in bounds.
func reference(pat, top []string) bool {
	if len(pat) == 0 {
		return len(top) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(top); i++ {
			if reference(pat[1:], top[i:]) {
				return true
			}
		}
		return false
	}
	if len(top) == 0 || (pat[0] != "*" && pat[0] != top[0]) {
		return false
	}
	return reference(pat[1:], top[1:])
}

func FuzzMatch(f *testing.F) {
	f.Add("a/**/b", "a/x/b")
	f.Add("*/x/**", "y/x")
	f.Add("**/**/a", "a/a/a")
	f.Add("$hubd/*", "$hubd/stats")
	f.Add("**", "$x")
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if strings.Count(pattern, "/") > 8 || strings.Count(topic, "/") > 16 {
			return // too slow for the reference
		}
		got := auth.Match(pattern, topic)
		want := auth.ValidatePattern(pattern) == nil &&
			(!strings.HasPrefix(topic, "$") || strings.HasPrefix(pattern, "$")) &&
			reference(strings.Split(pattern, "/"), strings.Split(topic, "/"))
		if got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, topic, got, want)
		}
	})
}
