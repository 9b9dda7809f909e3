package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Datastar event names.
const (
	EventPatchElements = "datastar-patch-elements"
	EventPatchSignals  = "datastar-patch-signals"
)

// ErrInvalidOption means an event option has a value Datastar does not know
// or cannot carry. It is wrapped with the option's name and value.
var ErrInvalidOption = errors.New("sse: invalid option")

// OptionError is an invalid event option. It matches ErrInvalidOption with
// errors.Is; Option names the option, as in "mode" or "selector".
type OptionError struct {
	Option string
	Reason string
}

func (e *OptionError) Error() string { return "sse: invalid option: " + e.Option + " " + e.Reason }

// Is makes an OptionError match ErrInvalidOption.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }

func optionErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Reason: fmt.Sprintf(format, args...)}
}

// Eventer is anything that can become one server-sent event: the Datastar
// event types of this package, or an Event itself.
type Eventer interface {
	Event() (Event, error)
}

// Event returns e itself, so that an Event can be sent like any Eventer.
func (e Event) Event() (Event, error) { return e, e.Validate() }

// Mode says how patched elements are placed relative to the target.
type Mode string

// The element patch modes of Datastar 1.0. The zero Mode is ModeOuter.
const (
	ModeOuter   Mode = "outer"   // morph the target's outer HTML (default)
	ModeInner   Mode = "inner"   // morph the target's inner HTML
	ModeReplace Mode = "replace" // replace the target without morphing
	ModePrepend Mode = "prepend" // insert as the target's first child
	ModeAppend  Mode = "append"  // insert as the target's last child
	ModeBefore  Mode = "before"  // insert before the target
	ModeAfter   Mode = "after"   // insert after the target
	ModeRemove  Mode = "remove"  // remove the target
)

// ParseMode returns the Mode named s. The empty string is ModeOuter.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeOuter, nil
	case ModeOuter, ModeInner, ModeReplace, ModePrepend, ModeAppend, ModeBefore, ModeAfter, ModeRemove:
		return m, nil
	}
	return "", optionErr("mode", "%q (want outer, inner, replace, prepend, append, before, after or remove)", s)
}

// Namespace is the markup namespace patched elements are parsed in.
type Namespace string

// The namespaces Datastar can parse elements in. The zero Namespace is HTML.
const (
	NamespaceHTML   Namespace = "html"
	NamespaceSVG    Namespace = "svg"
	NamespaceMathML Namespace = "mathml"
)

// ParseNamespace returns the Namespace named s. The empty string is HTML.
func ParseNamespace(s string) (Namespace, error) {
	switch n := Namespace(s); n {
	case "":
		return NamespaceHTML, nil
	case NamespaceHTML, NamespaceSVG, NamespaceMathML:
		return n, nil
	}
	return "", optionErr("namespace", "%q (want html, svg or mathml)", s)
}

// PatchElements morphs, inserts or removes elements in the page. Its zero
// options are Datastar's defaults and are not written: mode outer, no
// selector (the elements' ids find their targets), HTML namespace, no view
// transition.
type PatchElements struct {
	Elements          string
	Selector          string
	Mode              Mode
	Namespace         Namespace
	UseViewTransition bool
	ID                string
	Retry             time.Duration
}

// Event validates p and returns it as a datastar-patch-elements event.
// Elements are required except in remove mode, where a selector or elements
// are; selector, mode and namespace must be single lines.
func (p PatchElements) Event() (Event, error) {
	mode, err := ParseMode(string(p.Mode))
	if err != nil {
		return Event{}, err
	}
	ns, err := ParseNamespace(string(p.Namespace))
	if err != nil {
		return Event{}, err
	}
	if err := checkOption("selector", p.Selector); err != nil {
		return Event{}, err
	}
	switch {
	case mode == ModeRemove && p.Selector == "" && strings.TrimSpace(p.Elements) == "":
		return Event{}, optionErr("selector", "is needed in remove mode when there are no elements")
	case mode != ModeRemove && strings.TrimSpace(p.Elements) == "":
		return Event{}, optionErr("elements", "are empty (mode %s)", mode)
	}
	fields := make([]Field, 0, 5)
	if mode != ModeOuter {
		fields = append(fields, Field{"mode", string(mode)})
	}
	if p.Selector != "" {
		fields = append(fields, Field{"selector", p.Selector})
	}
	if ns != NamespaceHTML {
		fields = append(fields, Field{"namespace", string(ns)})
	}
	if p.UseViewTransition {
		fields = append(fields, Field{"useViewTransition", "true"})
	}
	if p.Elements != "" {
		fields = append(fields, Field{"elements", p.Elements})
	}
	e := Event{Type: EventPatchElements, ID: p.ID, Retry: p.Retry, Fields: fields}
	return e, e.Validate()
}

// RemoveElements returns the event that removes every element matching
// selector.
func RemoveElements(selector string) PatchElements {
	return PatchElements{Selector: selector, Mode: ModeRemove}
}

// checkOption rejects option values that cannot travel on one data line.
func checkOption(name, v string) error {
	if i := strings.IndexAny(v, "\r\n\x00"); i >= 0 {
		return optionErr(name, "%q contains %q", v, v[i])
	}
	if !utf8.ValidString(v) {
		return optionErr(name, "%q is not valid UTF-8", v)
	}
	return nil
}

// PatchSignals merges a JSON object into the page's signals, following JSON
// Merge Patch (RFC 7386): a null value removes a signal.
type PatchSignals struct {
	// Signals is a JSON object. It is sent as it is, line breaks included.
	Signals       json.RawMessage
	OnlyIfMissing bool
	ID            string
	Retry         time.Duration
	// JSObject lets Signals be a JavaScript object literal instead of
	// JSON, such as {count: 1, 'user-name': "x"}: the Datastar client
	// (1.0.2) tries JSON first and then evaluates the text as JavaScript.
	// Only its braces are checked; the client runs whatever is inside, so
	// never build it from untrusted input. Off by default: signals must
	// then be JSON, which cannot run code.
	JSObject bool
}

// MarshalSignals returns a PatchSignals event carrying v marshalled as
// JSON. v must marshal to a JSON object.
func MarshalSignals(v any) (PatchSignals, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return PatchSignals{}, fmt.Errorf("sse: marshal signals: %w", err)
	}
	return PatchSignals{Signals: b}, nil
}

// RemoveSignals returns the event that removes the signals at the given
// dot-separated paths ("user.name") by setting them to null.
func RemoveSignals(paths ...string) (PatchSignals, error) {
	if len(paths) == 0 {
		return PatchSignals{}, optionErr("paths", "are empty: no signal to remove")
	}
	root := map[string]any{}
	for _, p := range paths {
		parts := strings.Split(p, ".")
		node := root
		for i, part := range parts {
			if part == "" {
				return PatchSignals{}, optionErr("paths", "%q has an empty segment", p)
			}
			if i == len(parts)-1 {
				node[part] = nil
				break
			}
			child, ok := node[part].(map[string]any)
			if !ok {
				if _, isLeaf := node[part]; isLeaf {
					break // an ancestor is removed already
				}
				child = map[string]any{}
				node[part] = child
			}
			node = child
		}
	}
	return MarshalSignals(root)
}

// Event validates p and returns it as a datastar-patch-signals event.
// Signals must be a JSON object, or with JSObject a JavaScript object
// literal.
func (p PatchSignals) Event() (Event, error) {
	trimmed := bytes.TrimSpace(p.Signals)
	switch {
	case p.JSObject && (len(trimmed) < 2 || trimmed[0] != '{' || trimmed[len(trimmed)-1] != '}'):
		return Event{}, optionErr("signals", "%.64q are not a JavaScript object literal in braces", p.Signals)
	case !p.JSObject && (len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(p.Signals)):
		return Event{}, optionErr("signals", "%.64q are not a JSON object (JSObject allows a JavaScript object literal)", p.Signals)
	}
	fields := make([]Field, 0, 2)
	if p.OnlyIfMissing {
		fields = append(fields, Field{"onlyIfMissing", "true"})
	}
	fields = append(fields, Field{"signals", string(p.Signals)})
	e := Event{Type: EventPatchSignals, ID: p.ID, Retry: p.Retry, Fields: fields}
	return e, e.Validate()
}

// Attr is one HTML attribute of a script element.
type Attr struct {
	Name  string
	Value string
}

// ExecuteScript runs JavaScript in the page by appending a script element
// to the body. Datastar removes the element after it runs unless KeepScript
// is set.
type ExecuteScript struct {
	Script     string
	Attributes []Attr // written in order; values are HTML-escaped
	KeepScript bool   // leave the script element in the page
	ID         string
	Retry      time.Duration
}

// Event validates s and returns it as a datastar-patch-elements event that
// appends the script element to the body. Any "</script" inside the script
// is written as "<\/script" so that it cannot end the element early.
func (s ExecuteScript) Event() (Event, error) {
	var b strings.Builder
	b.Grow(len(s.Script) + 64)
	b.WriteString("<script")
	if !s.KeepScript {
		b.WriteString(` data-effect="el.remove()"`)
	}
	for _, a := range s.Attributes {
		if !validAttrName(a.Name) {
			return Event{}, optionErr("attributes", "name %q is not a valid attribute name", a.Name)
		}
		b.WriteByte(' ')
		b.WriteString(a.Name)
		b.WriteString(`="`)
		b.WriteString(html.EscapeString(a.Value))
		b.WriteByte('"')
	}
	b.WriteByte('>')
	writeScriptBody(&b, s.Script)
	b.WriteString("</script>")
	e := Event{Type: EventPatchElements, ID: s.ID, Retry: s.Retry, Fields: []Field{
		{"mode", string(ModeAppend)},
		{"selector", "body"},
		{"elements", b.String()},
	}}
	return e, e.Validate()
}

// writeScriptBody copies script, escaping every case-insensitive "</script".
func writeScriptBody(b *strings.Builder, script string) {
	for {
		i := indexFold(script, "</script")
		if i < 0 {
			b.WriteString(script)
			return
		}
		b.WriteString(script[:i+1])
		b.WriteByte('\\')
		script = script[i+1:]
	}
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// validAttrName accepts the attribute names the HTML tokenizer reads back
// unchanged: no white space, quotes, '<', '>', '/', '=' or controls.
func validAttrName(name string) bool {
	if name == "" || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"'<>/=`, r) {
			return false
		}
	}
	return true
}

// jsString returns v as a JavaScript string literal that is also safe
// inside a script element (json.Marshal escapes <, > and &).
func jsString(v string) string {
	b, _ := json.Marshal(v) // a string always marshals
	return string(b)
}

// ConsoleLog returns a script that logs message with console.log.
func ConsoleLog(message string) ExecuteScript {
	return ExecuteScript{Script: "console.log(" + jsString(message) + ")"}
}

// ConsoleError returns a script that logs message with console.error.
func ConsoleError(message string) ExecuteScript {
	return ExecuteScript{Script: "console.error(" + jsString(message) + ")"}
}

// Redirect returns a script that sends the browser to url.
func Redirect(url string) ExecuteScript {
	return ExecuteScript{Script: "setTimeout(() => window.location.href = " + jsString(url) + ")"}
}

// ReplaceURL returns a script that replaces the address bar's URL without
// loading a page (history.replaceState).
func ReplaceURL(url string) ExecuteScript {
	return ExecuteScript{Script: "window.history.replaceState({}, \"\", " + jsString(url) + ")"}
}

// ReplaceURLQuery returns the ReplaceURL script for u with its query
// replaced by values (sorted by key, as url.Values.Encode writes them):
// to keep the address bar in step with a filter or a page number. u is not
// changed. Pass the page's URL; a request's r.URL is the URL of the action,
// which is the page's only when the action posts to the page's own path.
// (datastar-go's ReplaceURLQuerystring.)
func ReplaceURLQuery(u *url.URL, values url.Values) ExecuteScript {
	v := *u
	v.RawQuery = values.Encode()
	return ReplaceURL(v.String())
}

// Prefetch returns a script that asks the browser to prefetch urls, as a
// speculation rules list (<script type="speculationrules">; browsers
// without the Speculation Rules API ignore it). The script stays in the
// page, where the rules live.
func Prefetch(urls ...string) ExecuteScript {
	if urls == nil {
		urls = []string{}
	}
	type source struct {
		Source string   `json:"source"`
		URLs   []string `json:"urls"`
	}
	rules, _ := json.Marshal(map[string][]source{"prefetch": {{"list", urls}}}) // strings always marshal; <, > and & are escaped
	return ExecuteScript{Script: string(rules), Attributes: []Attr{{"type", "speculationrules"}}, KeepScript: true}
}

// ConsoleLogf is ConsoleLog of fmt.Sprintf(format, args...).
func ConsoleLogf(format string, args ...any) ExecuteScript {
	return ConsoleLog(fmt.Sprintf(format, args...))
}

// Redirectf is Redirect of fmt.Sprintf(format, args...).
func Redirectf(format string, args ...any) ExecuteScript {
	return Redirect(fmt.Sprintf(format, args...))
}

// RemoveElementsf is RemoveElements of fmt.Sprintf(format, args...).
func RemoveElementsf(format string, args ...any) PatchElements {
	return RemoveElements(fmt.Sprintf(format, args...))
}

// PatchElementsSeq returns p carrying elements, each starting on its own
// elements line (the Clojure SDK's patch-elements-seq!): for a list
// rendered item by item, without joining it first. p's other options
// apply to all of them.
func PatchElementsSeq(p PatchElements, elements ...string) PatchElements {
	p.Elements = strings.Join(elements, "\n")
	return p
}

// DispatchEvent describes a DOM CustomEvent to dispatch in the page.
type DispatchEvent struct {
	Name string
	// Detail is marshalled as JSON into the event's detail; nil is null.
	Detail any
	// Selector picks the elements to dispatch on; empty means document.
	Selector   string
	Bubbles    bool
	Cancelable bool
	Composed   bool
	ID         string        // the SSE event's ID, as on every event
	Retry      time.Duration // the SSE event's retry field, as on every event
}

// Script returns the ExecuteScript that dispatches d.
func (d DispatchEvent) Script() (ExecuteScript, error) {
	if d.Name == "" {
		return ExecuteScript{}, optionErr("name", "of the custom event is empty")
	}
	detail, err := json.Marshal(d.Detail)
	if err != nil {
		return ExecuteScript{}, fmt.Errorf("sse: marshal custom event detail: %w", err)
	}
	init := fmt.Sprintf("{detail: %s, bubbles: %t, cancelable: %t, composed: %t}", detail, d.Bubbles, d.Cancelable, d.Composed)
	var script string
	if d.Selector == "" {
		script = fmt.Sprintf("document.dispatchEvent(new CustomEvent(%s, %s))", jsString(d.Name), init)
	} else {
		script = fmt.Sprintf("for (const el of document.querySelectorAll(%s)) el.dispatchEvent(new CustomEvent(%s, %s))",
			jsString(d.Selector), jsString(d.Name), init)
	}
	return ExecuteScript{Script: script, ID: d.ID, Retry: d.Retry}, nil
}

// Event returns the datastar-patch-elements event that dispatches d.
func (d DispatchEvent) Event() (Event, error) {
	s, err := d.Script()
	if err != nil {
		return Event{}, err
	}
	return s.Event()
}

// AttrsFromMap returns the attributes in m in name order, for callers whose
// attributes come as a map (such as a JSON object).
func AttrsFromMap(m map[string]string) []Attr {
	attrs := make([]Attr, 0, len(m))
	for k, v := range m {
		attrs = append(attrs, Attr{k, v})
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Name < attrs[j].Name })
	return attrs
}

// DatastarVersion is the Datastar client release this package is tested
// against: the browser tests run exactly this release's official bundle.
// DatastarCDN is the URL of that bundle, so pages that load the client
// from it run the tested release. DatastarCDNMap is the URL of that
// bundle's source map (the Clojure SDK's CDN-map-url), for debugging the
// client in the browser's tools.
const (
	DatastarVersion = "1.0.2"
	DatastarCDN     = "https://cdn.jsdelivr.net/gh/starfederation/datastar@" + DatastarVersion + "/bundles/datastar.js"
	DatastarCDNMap  = DatastarCDN + ".map"
)
