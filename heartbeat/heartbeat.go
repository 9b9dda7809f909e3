// Package heartbeat runs one ticker for a whole hub. Every interval it calls
// a beat function, which offers a heartbeat frame to every client; writing
// that frame is what finds dead connections. One ticker serves all clients,
// so an idle client costs no timer of its own.
package heartbeat

import (
	"sync"
	"time"
)

// DefaultInterval is the heartbeat interval when none is configured: well
// under the idle timeouts of common proxies (often 60 s).
const DefaultInterval = 15 * time.Second

// Frame is the heartbeat written to clients: an SSE comment, which
// EventSource and the Datastar client both ignore.
var Frame = []byte(":\n\n")

// Ticker calls its beat function every interval until Stop.
type Ticker struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Start calls beat every interval (DefaultInterval if interval <= 0) on one
// goroutine that the returned Ticker owns. beat must not block for long.
func Start(interval time.Duration, beat func(now time.Time)) *Ticker {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := &Ticker{stop: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case now := <-tk.C:
				beat(now)
			case <-t.stop:
				return
			}
		}
	}()
	return t
}

// Stop ends the ticker and waits for a beat in progress to return. It may
// be called more than once.
func (t *Ticker) Stop() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
}
