package sse_test

import (
	"strconv"
	"strings"
	"time"
)

// wireEvent is an event as a browser's event-stream parser dispatches it,
// with the data lines also split the way the Datastar client reads them.
type wireEvent struct {
	Type   string
	ID     string
	HasID  bool
	Retry  time.Duration
	Data   string
	Fields map[string]string // data lines by their first word, joined with "\n"
	Keys   []string          // the data keys in order of first appearance
}

// parseStream parses an event stream following the HTML standard's rules
// (lines end in CRLF, LF or CR; a field is the text up to the first colon;
// one leading space of the value is dropped; an id with NUL is ignored; a
// blank line dispatches), independently of the package's encoder.
func parseStream(s string) []wireEvent {
	var out []wireEvent
	var cur wireEvent
	var data []string
	started := false
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 { // an unterminated last line is not dispatched
			break
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
		if line == "" {
			if started {
				cur.Data = strings.Join(data, "\n")
				cur.Fields = map[string]string{}
				for _, d := range data {
					k, v, _ := strings.Cut(d, " ")
					if old, ok := cur.Fields[k]; ok {
						cur.Fields[k] = old + "\n" + v
					} else {
						cur.Fields[k] = v
						cur.Keys = append(cur.Keys, k)
					}
				}
				out = append(out, cur)
			}
			cur, data, started = wireEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		started = true
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "event":
			cur.Type = value
		case "id":
			if !strings.Contains(value, "\x00") {
				cur.ID, cur.HasID = value, true
			}
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil {
				cur.Retry = time.Duration(ms) * time.Millisecond
			}
		case "data":
			data = append(data, value)
		}
	}
	return out
}

// normalizeNewlines turns CRLF and lone CR into LF, as a round trip through
// the stream does.
func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
