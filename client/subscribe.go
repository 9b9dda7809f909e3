package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MissedSignal is the signal the hub sets when a reconnecting subscriber
// missed events that it no longer holds.
const MissedSignal = "_hubdMissed"

// Errors of a stream that breaks the client's limits (WithStreamLimits).
var (
	ErrLineTooLong   = errors.New("client: stream line too long")
	ErrEventTooLarge = errors.New("client: stream event too large")
)

// Event is one server-sent event as a subscriber receives it.
type Event struct {
	Type string   // the event name, such as "datastar-patch-elements"
	ID   string   // the event ID, if the event carried one
	Data []string // the data lines, in order
	// Missed is true for the hub's signal that events were missed before
	// this point (MissedSignal): what follows is what the hub still held.
	Missed bool
}

// Subscribe streams the events of topics, starting after lastEventID (""
// for live events only). The iterator yields each event as it arrives;
// after a cut or a clean end of the stream, a 429 or a 5xx (a proxy in
// front of a hub that restarts answers 502), it reconnects
// by itself with backoff (resetting once events flow again) and resumes
// after the last event ID it saw, so that nothing is lost or repeated
// while the hub still holds the events (else an event with Missed comes
// first). It yields an error and stops only when the hub refuses the
// subscription with a 4xx (an *Error), sends a line or an event past the
// client's limits (an error wrapping ErrLineTooLong or ErrEventTooLarge:
// a hub that does so would do it again), or ctx ends (ctx's error), or
// when the loop breaks.
func (c *Client) Subscribe(ctx context.Context, topics []string, lastEventID string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		q := url.Values{"topic": topics}
		target := c.endpoint("/subscribe") + "?" + q.Encode()
		for try := 0; ; try++ {
			resp, err := c.open(ctx, target, lastEventID)
			var wait time.Duration
			if err == nil {
				got := false
				err = readEvents(resp.Body, c.maxLine, c.maxEvent, func(ev Event) bool {
					got = true
					if ev.ID != "" {
						lastEventID = ev.ID
					}
					if len(ev.Data) == 0 {
						return true // a frame that only moves the ID
					}
					return yield(ev, nil)
				})
				resp.Body.Close()
				if errors.Is(err, errStop) {
					return
				}
				if errors.Is(err, ErrLineTooLong) || errors.Is(err, ErrEventTooLarge) {
					yield(Event{}, fmt.Errorf("subscribe: %w", err))
					return
				}
				if got {
					try = 0
				}
			} else {
				var apiErr *Error
				if errors.As(err, &apiErr) {
					if apiErr.Status < 500 && !retryable(apiErr.Status) {
						yield(Event{}, fmt.Errorf("subscribe: %w", err))
						return
					}
					wait = apiErr.retryAfter
				}
			}
			if ctx.Err() != nil {
				yield(Event{}, ctx.Err())
				return
			}
			if sleep(ctx, max(wait, c.backoff(try))) != nil {
				yield(Event{}, ctx.Err())
				return
			}
		}
	}
}

// open starts one stream request.
func (c *Client) open(ctx context.Context, target, lastEventID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		wait := retryAfter(resp.Header.Get("Retry-After"))
		err := answerError(resp).(*Error)
		err.retryAfter = wait
		return nil, err
	}
	return resp, nil
}

// errStop is readEvents' error when its callback asked to stop.
var errStop = errors.New("client: stop")

// readEvents parses an event stream (the HTML standard's rules: fields
// split at the first colon, one leading space dropped, comments skipped,
// an event dispatched at a blank line if it has data or an ID) and hands
// each event to emit, until the stream ends (its error, io.EOF for a clean
// end), emit returns false (errStop), or a line is longer than maxLine
// bytes (ErrLineTooLong) or the lines of an event other than comments
// take more than maxEvent bytes together (ErrEventTooLarge). Only so much
// of a line is ever held: past maxLine it is not read on.
func readEvents(r io.Reader, maxLine, maxEvent int, emit func(Event) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev Event
	var buf []byte
	size := 0 // bytes of ev's lines so far
	for {
		var err error
		buf, err = readLine(br, buf[:0], maxLine)
		if err != nil {
			// An unterminated last line is an incomplete event: dropped.
			return err
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
		if line == "" {
			if len(ev.Data) > 0 || ev.ID != "" {
				ev.Missed = missed(&ev)
				if !emit(ev) {
					return errStop
				}
			}
			ev, size = Event{}, 0
			continue
		}
		if line[0] == ':' {
			continue
		}
		if size += len(buf); size > maxEvent {
			return fmt.Errorf("%w: an event of more than %d bytes (the client's limit)", ErrEventTooLarge, maxEvent)
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value
			}
		case "data":
			ev.Data = append(ev.Data, value)
		}
	}
}

// readLine appends to dst the next line of br, with its line feed, unless
// it is longer than max bytes (ErrLineTooLong): then it stops reading it.
func readLine(br *bufio.Reader, dst []byte, max int) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(dst)+len(chunk) > max+1 { // the line feed is not the line's
			return dst, fmt.Errorf("%w: a line of more than %d bytes (the client's limit)", ErrLineTooLong, max)
		}
		dst = append(dst, chunk...)
		if err != bufio.ErrBufferFull {
			return dst, err
		}
	}
}

// missed says whether ev is the hub's MissedSignal set to true.
func missed(ev *Event) bool {
	if ev.Type != "datastar-patch-signals" {
		return false
	}
	var signals strings.Builder
	for _, d := range ev.Data {
		if v, ok := strings.CutPrefix(d, "signals "); ok {
			signals.WriteString(v)
			signals.WriteByte('\n')
		}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(signals.String()), &m) != nil {
		return false
	}
	return string(m[MissedSignal]) == "true"
}
