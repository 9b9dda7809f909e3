package sse

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultRetry is the reconnection delay the Datastar client assumes when an
// event carries no retry field. An event whose Retry equals it, or is zero,
// is written without a retry line.
const DefaultRetry = time.Second

// Errors returned by the encoder. They are wrapped with the name of the
// offending field; test for them with errors.Is.
var (
	// ErrInvalidField means an event name, ID or data key contains a
	// character that would change the meaning of the stream (CR, LF, NUL,
	// or for data keys a space).
	ErrInvalidField = errors.New("sse: invalid field")
	// ErrInvalidUTF8 means a field is not valid UTF-8. Browsers would replace
	// the bad bytes, so the event would not arrive as it was sent.
	ErrInvalidUTF8 = errors.New("sse: invalid UTF-8")
)

// Field is one keyed value of an event's data. Datastar reads every data
// line as a key, a space, and a value; a value with line breaks is written as
// several data lines with the same key, and the client joins them with "\n".
// A Field with an empty Key writes its lines as plain data lines, for
// non-Datastar consumers of the stream.
type Field struct {
	Key   string
	Value string
}

// Event is one server-sent event as it travels on the wire. The zero Type
// writes no event line (an EventSource then sees a "message" event).
type Event struct {
	Type   string        // event name, such as "datastar-patch-elements"
	ID     string        // event ID; empty writes no id line
	Retry  time.Duration // reconnection delay, in whole milliseconds (rounded down); zero or DefaultRetry writes none
	Fields []Field       // data lines, in order
	// ExplicitRetry writes Retry even when it is DefaultRetry: for
	// EventSource clients, whose own default is not Datastar's, a retry
	// of 1000 ms that a publisher asked for must reach them.
	ExplicitRetry bool
}

// writesRetry reports whether e's encoding has a retry line: the one
// rule appendValid writes by and EncodedLen counts by.
func (e *Event) writesRetry() bool {
	return e.Retry > 0 && (e.Retry != DefaultRetry || e.ExplicitRetry)
}

// Validate reports whether e can be written without changing its meaning.
// The error names the field at fault. A Retry must be zero (no retry
// field) or at least a millisecond, the field's unit: a shorter one would
// be written as "retry: 0", which makes clients reconnect at once.
func (e *Event) Validate() error {
	if err := checkLine("event type", e.Type); err != nil {
		return err
	}
	if err := checkLine("event id", e.ID); err != nil {
		return err
	}
	if e.Retry < 0 {
		return fmt.Errorf("%w: retry %v is negative", ErrInvalidField, e.Retry)
	}
	if e.Retry > 0 && e.Retry < time.Millisecond {
		return fmt.Errorf("%w: retry %v is under a millisecond, the field's unit (zero writes no retry field)", ErrInvalidField, e.Retry)
	}
	for _, f := range e.Fields {
		if err := checkLine("data key", f.Key); err != nil {
			return err
		}
		if strings.IndexByte(f.Key, ' ') >= 0 {
			return fmt.Errorf("%w: data key %q contains a space", ErrInvalidField, f.Key)
		}
		if !utf8.ValidString(f.Value) {
			return fmt.Errorf("%w: data %q", ErrInvalidUTF8, orUnnamed(f.Key))
		}
	}
	return nil
}

func orUnnamed(key string) string {
	if key == "" {
		return "(plain data)"
	}
	return key
}

// checkLine rejects values that would end a line or an SSE field early, or
// that a browser would silently alter.
func checkLine(name, v string) error {
	if i := strings.IndexAny(v, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: %s %q contains %q", ErrInvalidField, name, v, v[i])
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s %q", ErrInvalidUTF8, name, v)
	}
	return nil
}

// AppendEvent validates e and appends its wire form to dst: the event line,
// the id line, the retry line, the data lines, and one blank line. On error
// dst is returned unchanged, so a partly encoded event is never written.
func AppendEvent(dst []byte, e *Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	return appendValid(dst, e), nil
}

// appendValid encodes an event that has passed Validate.
func appendValid(dst []byte, e *Event) []byte {
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.writesRetry() {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, e.Retry.Milliseconds(), 10)
		dst = append(dst, '\n')
	}
	for _, f := range e.Fields {
		dst = appendField(dst, f)
	}
	return append(dst, '\n')
}

// appendField writes one data line per line of f.Value, splitting on CRLF,
// LF and a lone CR, the three line ends of the SSE grammar (see cutLine).
func appendField(dst []byte, f Field) []byte {
	v := f.Value
	for {
		line, rest, more := cutLine(v)
		dst = append(dst, "data: "...)
		if f.Key != "" {
			dst = append(dst, f.Key...)
			dst = append(dst, ' ')
		}
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if !more {
			return dst
		}
		v = rest
	}
}

// cutLine splits v at its first line break (CRLF, CR or LF): line comes
// before it and rest after it. more is false when v has no break; line is
// then all of v.
func cutLine(v string) (line, rest string, more bool) {
	i := strings.IndexAny(v, "\r\n")
	if i < 0 {
		return v, "", false
	}
	j := i + 1
	if v[i] == '\r' && j < len(v) && v[j] == '\n' {
		j++
	}
	return v[:i], v[j:], true
}

// EncodedLen returns the length of e's wire form, as AppendEvent writes
// it, without writing it: to size a buffer or check a limit. It is
// meaningful only for an event that passes Validate.
func (e *Event) EncodedLen() int {
	n := 1 // the blank line that ends the event
	if e.Type != "" {
		n += len("event: ") + len(e.Type) + 1
	}
	if e.ID != "" {
		n += len("id: ") + len(e.ID) + 1
	}
	if e.writesRetry() {
		var digits [20]byte
		n += len("retry: ") + len(strconv.AppendInt(digits[:0], e.Retry.Milliseconds(), 10)) + 1
	}
	for _, f := range e.Fields {
		prefix := len("data: ")
		if f.Key != "" {
			prefix += len(f.Key) + 1
		}
		v := f.Value
		for {
			line, rest, more := cutLine(v)
			n += prefix + len(line) + 1
			if !more {
				break
			}
			v = rest
		}
	}
	return n
}

// AppendComment appends an SSE comment (": text\n\n"). Clients ignore
// comments, which makes them suitable as heartbeats. Line breaks in text are
// written as further comment lines.
func AppendComment(dst []byte, text string) []byte {
	for {
		line, rest, more := cutLine(text)
		dst = append(dst, ':')
		if line != "" {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if !more {
			return append(dst, '\n')
		}
		text = rest
	}
}
