package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Bounds of quietLog as the Server uses it: per message, at most
// quietBurst lines every quietEvery.
const (
	quietBurst = 10
	quietEvery = 10 * time.Second
)

// Log keys of the summary line.
const (
	keyMessage    = "message"
	keySuppressed = "suppressed"
	keyInterval   = "interval"
)

// quietLog logs lines that many clients can cause at once (a stream that
// fails to start, an eviction storm) without letting them flood the log:
// of each message, at most burst lines go through per interval. The lines
// past it are counted, and when the interval ends one line says how many
// of that message were suppressed ("suppressed similar lines", with the
// message and the count). Messages are the constant texts of the call
// sites, so the set of them is small.
//
// The summaries are written by timers, whose goroutines close stops or
// waits for; after close every line goes through.
type quietLog struct {
	log   *slog.Logger
	burst int
	every time.Duration

	mu     sync.Mutex
	msgs   map[string]*quietWindow
	closed bool
	wg     sync.WaitGroup // the summary timers that have fired and run
}

// quietWindow is one message's current interval.
type quietWindow struct {
	start      time.Time
	n          int         // lines let through in this interval
	suppressed int         // lines held back in this interval
	level      slog.Level  // of the lines held back: the summary's level
	timer      *time.Timer // writes the summary at the end of the interval; nil if none is due
}

func newQuietLog(log *slog.Logger, burst int, every time.Duration) *quietLog {
	return &quietLog{log: log, burst: burst, every: every, msgs: map[string]*quietWindow{}}
}

// LogAttrs logs like slog.Logger.LogAttrs, unless msg has had its burst
// of lines in the current interval.
func (q *quietLog) LogAttrs(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if !q.log.Enabled(ctx, level) {
		return
	}
	q.mu.Lock()
	if !q.closed {
		now := time.Now()
		win := q.msgs[msg]
		if win == nil {
			win = &quietWindow{start: now}
			q.msgs[msg] = win
		} else if win.timer == nil && now.Sub(win.start) >= q.every {
			win.start, win.n = now, 0
		}
		if win.n >= q.burst {
			if win.suppressed == 0 || level > win.level {
				win.level = level
			}
			win.suppressed++
			if win.timer == nil {
				q.wg.Add(1)
				win.timer = time.AfterFunc(win.start.Add(q.every).Sub(now), func() {
					defer q.wg.Done()
					q.summarize(msg, win)
				})
			}
			q.mu.Unlock()
			return
		}
		win.n++
	}
	q.mu.Unlock()
	q.log.LogAttrs(ctx, level, msg, attrs...)
}

// summarize ends win's interval: it writes how many lines of msg were
// held back and starts the next interval.
func (q *quietLog) summarize(msg string, win *quietWindow) {
	q.mu.Lock()
	n, level := win.suppressed, win.level
	win.start, win.n, win.suppressed, win.level, win.timer = time.Now(), 0, 0, 0, nil
	q.mu.Unlock()
	q.log.LogAttrs(context.Background(), level, "suppressed similar lines",
		slog.String(keyMessage, msg), slog.Int(keySuppressed, n), slog.Duration(keyInterval, q.every))
}

// close writes the pending summaries now, and waits for those that their
// timers are writing.
func (q *quietLog) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	due := map[string]*quietWindow{}
	for msg, win := range q.msgs {
		if win.timer != nil && win.timer.Stop() {
			q.wg.Done() // its function will not run
			due[msg] = win
		}
	}
	q.mu.Unlock()
	for msg, win := range due {
		q.summarize(msg, win)
	}
	q.wg.Wait()
}

// clientGone reports whether err, from writing a stream's response, means
// that the client went away, which is normal and worth no more than a
// Debug line: the request's context has ended (net/http ends it when the
// client closes the connection or resets an HTTP/2 stream, before a write
// to it fails), the connection is closed or reset, or the client did not
// take the write in time.
func clientGone(ctx context.Context, err error) bool {
	return ctx.Err() != nil ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, os.ErrDeadlineExceeded)
}
