package sse

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ActionOption sets an option of a backend action built by Get, Post, Put,
// Patch or Delete.
type ActionOption func(*actionOptions)

type actionOptions struct {
	contentType         string
	include, exclude    string
	selector            string
	headers             map[string]string
	openWhenHidden      *bool
	retryInterval       time.Duration
	retryScaler         float64
	retryMaxWait        time.Duration
	retryMaxCount       int
	requestCancellation string
}

// WithContentType sends signals as "json" (the default) or a "form".
func WithContentType(t string) ActionOption { return func(o *actionOptions) { o.contentType = t } }

// WithFilterSignals sends only the signals whose paths match the include
// regular expression and not the exclude one; an empty one is left out.
func WithFilterSignals(include, exclude string) ActionOption {
	return func(o *actionOptions) { o.include, o.exclude = include, exclude }
}

// WithSelector names the form to send with the "form" content type.
func WithSelector(selector string) ActionOption {
	return func(o *actionOptions) { o.selector = selector }
}

// WithHeaders adds request headers.
func WithHeaders(h map[string]string) ActionOption { return func(o *actionOptions) { o.headers = h } }

// WithOpenWhenHidden keeps the request open while the page is hidden.
func WithOpenWhenHidden(open bool) ActionOption {
	return func(o *actionOptions) { o.openWhenHidden = &open }
}

// WithRetryInterval sets the first retry delay.
func WithRetryInterval(d time.Duration) ActionOption {
	return func(o *actionOptions) { o.retryInterval = d }
}

// WithRetryScaler sets the factor the retry delay grows by.
func WithRetryScaler(f float64) ActionOption { return func(o *actionOptions) { o.retryScaler = f } }

// WithRetryMaxWait bounds the retry delay.
func WithRetryMaxWait(d time.Duration) ActionOption {
	return func(o *actionOptions) { o.retryMaxWait = d }
}

// WithRetryMaxCount bounds the number of retries.
func WithRetryMaxCount(n int) ActionOption { return func(o *actionOptions) { o.retryMaxCount = n } }

// WithRequestCancellation sets how a new request treats one in flight on
// the same element ("auto", "disabled", ...).
func WithRequestCancellation(mode string) ActionOption {
	return func(o *actionOptions) { o.requestCancellation = mode }
}

// Get returns the Datastar expression "@get('url', {options})". Like every
// action builder here, its result is safe to place as it is inside a
// double-quoted HTML attribute or a script element, whatever url and the
// options contain: every string is a single-quoted JavaScript literal in
// which quotes, '<', '>', '&', controls and line separators are escaped.
// Invalid UTF-8 is replaced with U+FFFD.
func Get(url string, opts ...ActionOption) string { return action("get", url, opts) }

// Post returns "@post('url', {options})"; see Get.
func Post(url string, opts ...ActionOption) string { return action("post", url, opts) }

// Put returns "@put('url', {options})"; see Get.
func Put(url string, opts ...ActionOption) string { return action("put", url, opts) }

// Patch returns "@patch('url', {options})"; see Get.
func Patch(url string, opts ...ActionOption) string { return action("patch", url, opts) }

// Delete returns "@delete('url', {options})"; see Get.
func Delete(url string, opts ...ActionOption) string { return action("delete", url, opts) }

func action(verb, url string, opts []ActionOption) string {
	var o actionOptions
	for _, opt := range opts {
		opt(&o)
	}
	var b strings.Builder
	b.WriteString("@" + verb + "(")
	writeJSString(&b, url)
	var fields []string
	add := func(name, value string) { fields = append(fields, name+": "+value) }
	if o.contentType != "" {
		add("contentType", jsLiteral(o.contentType))
	}
	if o.include != "" || o.exclude != "" {
		var f []string
		if o.include != "" {
			f = append(f, "include: "+jsRegExp(o.include))
		}
		if o.exclude != "" {
			f = append(f, "exclude: "+jsRegExp(o.exclude))
		}
		add("filterSignals", "{"+strings.Join(f, ", ")+"}")
	}
	if o.selector != "" {
		add("selector", jsLiteral(o.selector))
	}
	if len(o.headers) > 0 {
		names := make([]string, 0, len(o.headers))
		for k := range o.headers {
			names = append(names, k)
		}
		sort.Strings(names)
		h := make([]string, len(names))
		for i, k := range names {
			h[i] = jsLiteral(k) + ": " + jsLiteral(o.headers[k])
		}
		add("headers", "{"+strings.Join(h, ", ")+"}")
	}
	if o.openWhenHidden != nil {
		add("openWhenHidden", strconv.FormatBool(*o.openWhenHidden))
	}
	if o.retryInterval > 0 {
		add("retryInterval", strconv.FormatInt(o.retryInterval.Milliseconds(), 10))
	}
	if o.retryScaler > 0 {
		add("retryScaler", strconv.FormatFloat(o.retryScaler, 'g', -1, 64))
	}
	if o.retryMaxWait > 0 {
		add("retryMaxWaitMs", strconv.FormatInt(o.retryMaxWait.Milliseconds(), 10))
	}
	if o.retryMaxCount > 0 {
		add("retryMaxCount", strconv.Itoa(o.retryMaxCount))
	}
	if o.requestCancellation != "" {
		add("requestCancellation", jsLiteral(o.requestCancellation))
	}
	if len(fields) > 0 {
		b.WriteString(", {" + strings.Join(fields, ", ") + "}")
	}
	b.WriteByte(')')
	return b.String()
}

func jsLiteral(s string) string {
	var b strings.Builder
	writeJSString(&b, s)
	return b.String()
}

// writeJSString writes s as a single-quoted JavaScript string literal that
// can sit in an HTML attribute or a script element without escaping.
func writeJSString(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'':
			b.WriteString(`\'`)
		case r == '"' || r == '<' || r == '>' || r == '&' || r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
}

// jsRegExp writes pattern as a JavaScript regular expression literal. A
// slash cannot end it early, and characters unsafe in HTML are written as
// \u escapes, which mean the same character inside a regular expression.
func jsRegExp(pattern string) string {
	var b strings.Builder
	b.WriteByte('/')
	escaped := false
	for _, r := range strings.ToValidUTF8(pattern, "\uFFFD") {
		switch {
		case r == '/' && !escaped:
			b.WriteString(`\/`)
		case r == '"' || r == '<' || r == '>' || r == '&' || r == '\'' || r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029:
			if escaped { // "\<" would lose its backslash's meaning: drop it
				s := b.String()
				b.Reset()
				b.WriteString(s[:len(s)-1])
			}
			fmt.Fprintf(&b, `\u%04x`, r)
			escaped = false
			continue
		default:
			b.WriteRune(r)
		}
		escaped = r == '\\' && !escaped
	}
	if escaped { // a trailing backslash would escape the closing slash
		b.WriteByte('\\')
	}
	b.WriteByte('/')
	return b.String()
}
