package web

import "runtime"

// turns bounds how many streams write to their connections at the same
// time; a stream takes a turn before it collects its queued frames and
// gives it back right after its write was tried.
//
// Without a bound, a publish to many subscribers makes every one of their
// goroutines runnable at once: each writes the one frame it has, and the
// next publish request waits in the run queue behind all of those writes.
// With a few turns, the streams wait in line on a channel instead; the
// publisher is served at once, and by the time a stream's turn comes the
// frames published meanwhile are queued for it and leave in one write.
// A write costs about the same whatever it carries (bench/writecost), so
// under load this multiplies deliveries per second; an idle hub hands out
// turns at once, so a lone event still leaves at once.
//
// A turn is held only around a write that never waits (rawStream.tryWrite):
// a client that does not read cannot hold up the others.
type turns chan struct{}

func newTurns(n int) turns { return make(turns, n) }

// take waits for a turn; streams waiting are served in order.
func (t turns) take() { t <- struct{}{} }

// give hands the turn back, to the stream that waited longest.
func (t turns) give() { <-t }

// writeTurns is how many streams may write at once: one per processor Go
// runs on. One turn puts more frames in each write at a higher p99, and
// no bound leaves the publisher waiting behind the writers: with 10,000 subscribers and one sequential publisher on two processors,
// one turn gave 1,153,496 deliveries/s at p99 229 ms, two 444,828/s at
// p99 139 ms, and no turns 149,244/s at p99 147 ms, back to back
// (bench/2026-11-26/vs/2026-11-26-ab-log.txt).
func writeTurns() int { return runtime.GOMAXPROCS(0) }
