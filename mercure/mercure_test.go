package mercure

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

const base = "https://hub.example.com/.well-known/mercure"

// Matcher Types, Exact Matching, URL Pattern: exact is byte for byte and
// case-sensitive; URL patterns resolve relative patterns and topics
// against the hub's URL; "*" matches every topic whatever the type; a
// topic that is not a URL matches no URL pattern. The older topic
// selector is exact, "*", or an RFC 6570 URI template.
func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, pattern, topic string
		want                bool
	}{
		{Exact, "https://example.com/a", "https://example.com/a", true},
		{Exact, "https://example.com/a", "https://example.com/A", false},
		{Exact, "https://example.com/a", "https://example.com/a/", false},
		{Exact, "*", "anything", true},
		{URLPattern, "*", "anything", true},
		{URLPattern, "https://example.com/books/:id", "https://example.com/books/1", true},
		{URLPattern, "https://example.com/books/:id", "https://example.com/books/1/x", false},
		{URLPattern, "https://example.com/books/:id", "https://EXAMPLE.com/books/1", true}, // hosts are case-insensitive
		{URLPattern, "https://example.com/books/:id", "https://example.com/Books/1", false},
		{URLPattern, "/books/:id", "https://hub.example.com/books/1", true},
		{URLPattern, "/books/:id", "/books/1", true},
		{URLPattern, "https://example.com/*", "http://[bad", false},
		{Selector, "https://example.com/books/{id}", "https://example.com/books/1", true},
		{Selector, "https://example.com/books/{id}", "https://example.com/authors/1", false},
		{Selector, "https://example.com/books/{id}", "https://example.com/books/{id}", true},
		{Selector, "{bad", "{bad", true}, // not a template: an exact topic
		{Selector, "*", "x", true},
	}
	for _, c := range cases {
		m, err := Compile(c.typ, c.pattern, base)
		if err != nil {
			t.Fatalf("compile %s %q: %v", c.typ, c.pattern, err)
		}
		for range 2 { // the second answer comes from the cache
			if got := m.Match(c.topic); got != c.want {
				t.Errorf("%s %q matches %q: %v, want %v", c.typ, c.pattern, c.topic, got, c.want)
			}
		}
	}
}

// A matcher evaluates its pattern once per topic: the second answer for a
// topic is the remembered one, not a new evaluation.
func TestMatchRemembersPerTopic(t *testing.T) {
	t.Parallel()
	m, err := Compile(URLPattern, "https://example.com/books/:id", base)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match("https://example.com/books/1") || m.Match("https://example.com/authors/1") {
		t.Fatal("first answers wrong")
	}
	// Swap in the opposite pattern: a new evaluation would now flip both
	// answers.
	other, err := Compile(URLPattern, "https://example.com/authors/:id", base)
	if err != nil {
		t.Fatal(err)
	}
	m.pat = other.pat
	if !m.Match("https://example.com/books/1") || m.Match("https://example.com/authors/1") {
		t.Fatal("remembered answers wrong")
	}
}

// Subscription: values with control, C1 or format characters, invalid
// UTF-8, or not valid for their matcher type are refused.
func TestCompileRefuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ typ, pattern string }{
		{Exact, "a\x00b"}, {Exact, "a\u0085b"}, {Exact, "a\u202eb"}, {Exact, "a\xffb"},
		{URLPattern, "https://example.com/(unclosed"}, {"regexp", "a"},
	} {
		if _, err := Compile(c.typ, c.pattern, base); !errors.Is(err, ErrInvalid) {
			t.Errorf("compile %s %q: %v, want an error wrapping ErrInvalid", c.typ, c.pattern, err)
		}
	}
}

// Authorization Details, Topic Matcher List: a Mercure detail grants its
// actions on its topics; unknown actions grant nothing; details of other
// types are ignored; a detail that does not validate, or an unknown
// match_type, fails the whole token. The older mercure claim takes topic
// selector strings and matcher objects.
func TestParseGrants(t *testing.T) {
	t.Parallel()
	const book = "https://example.com/books/1"
	cases := []struct {
		name, details, legacy string
		publish, read         bool // on book
		invalid               bool
	}{
		{"nothing", ``, ``, false, false, false},
		{"publish exact", `[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match":"` + book + `"}]}]`, ``, true, false, false},
		{"subscribe pattern", `[{"type":"https://mercure.rocks/authorization-detail","actions":["subscribe"],"topics":[{"match":"https://example.com/books/:id","match_type":"urlpattern"}]}]`, ``, false, true, false},
		{"wildcard without match_type", `[{"type":"https://mercure.rocks/authorization-detail","actions":["publish","subscribe"],"topics":[{"match":"*"}]}]`, ``, true, true, false},
		{"unknown action grants nothing", `[{"type":"https://mercure.rocks/authorization-detail","actions":["admin"],"topics":[{"match":"*"}]}]`, ``, false, false, false},
		{"other types ignored", `[{"type":"payment_initiation","actions":7}]`, ``, false, false, false},
		{"unknown match_type", `[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match":"*","match_type":"regexp"}]}]`, ``, false, false, true},
		{"no topics", `[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"]}]`, ``, false, false, true},
		{"no actions", `[{"type":"https://mercure.rocks/authorization-detail","topics":[{"match":"*"}]}]`, ``, false, false, true},
		{"action not a string", `[{"type":"https://mercure.rocks/authorization-detail","actions":[1],"topics":[{"match":"*"}]}]`, ``, false, false, true},
		{"topic not an object", `[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":["*"]}]`, ``, false, false, true},
		{"topic without match", `[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match_type":"exact"}]}]`, ``, false, false, true},
		{"not an array", `{"type":"https://mercure.rocks/authorization-detail"}`, ``, false, false, true},
		{"legacy strings", ``, `{"publish":["*"],"subscribe":["https://example.com/books/{id}"]}`, true, true, false},
		{"legacy objects", ``, `{"subscribe":[{"match":"https://example.com/books/:id","match_type":"urlpattern"}]}`, false, true, false},
		{"legacy bad entry", ``, `{"publish":[42]}`, false, false, true},
		{"legacy not an object", ``, `["*"]`, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := ParseGrants(json.RawMessage(c.details), json.RawMessage(c.legacy), base)
			if c.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err %v, want one wrapping ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.CanPublish(book) != c.publish || g.CanRead([]string{"other", book}) != c.read {
				t.Fatalf("publish %v read %v, want %v %v", g.CanPublish(book), g.CanRead([]string{"other", book}), c.publish, c.read)
			}
		})
	}
}

// Publication: the reserved namespace is tested on the resolved,
// dot-segment-free, percent-decoded path, whatever the scheme and host.
func TestReserved(t *testing.T) {
	t.Parallel()
	hub, _ := url.Parse(base)
	for topic, want := range map[string]bool{
		"/.well-known/mercure":                          true,
		"/.well-known/mercure/subscriptions":            true,
		"https://other.example/.well-known/mercure/x":   true,
		"/.well-known/%6Dercure/x":                      true,
		"/x/../.well-known/mercure/y":                   true,
		"subscriptions/x":                               false, // resolves to /.well-known/subscriptions/x
		"/.well-known/mercurex":                         false,
		"urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6": false,
	} {
		if got := reserved(topic, hub); got != want {
			t.Errorf("reserved(%q) = %v, want %v", topic, got, want)
		}
	}
}
