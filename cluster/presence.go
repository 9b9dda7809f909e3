package cluster

import (
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/hub"
)

// Presence sharing. Every node publishes its subscriber counts by topic on
// the core NATS subject PREFIX-presence (outside the stream, so never
// stored: "hubd.events-presence" by default) every PresenceEvery, and
// once more, empty, when it stops. Each node sums the counts of the
// others it heard from within PresenceTTL, so that a node that dies
// without a word drops out of the count after PresenceTTL at most.
const (
	PresenceEvery = time.Second
	PresenceTTL   = 3*PresenceEvery + PresenceEvery/2
)

var _ hub.PresenceSharer = (*Log)(nil)

// presenceMsg is what a node publishes: its counts by topic, under an ID
// of its own that is new each time the node starts sharing.
type presenceMsg struct {
	Node   string         `json:"node"`
	Counts map[string]int `json:"counts,omitempty"`
	Gone   bool           `json:"gone,omitempty"` // the node stopped sharing
}

// presenceSubject is the subject nodes share their counts on.
func (c Config) presenceSubject() string { return c.SubjectPrefix + "-presence" }

// peer is what a node last said and when it was heard.
type peer struct {
	counts map[string]int
	seen   time.Time
}

// SharePresence shares this node's subscriber counts with the other
// nodes on the same stream's subject prefix (see PresenceEvery), for the
// hub's presence counts. It calls local every PresenceEvery, and remote,
// from the same goroutine, with the sum by topic of the other nodes'
// latest counts whenever that sum changes. stop ends the sharing (telling
// the others so) and waits for the goroutine; Shutdown ends it too.
func (l *Log) SharePresence(local func() map[string]int, remote func(map[string]int)) (stop func(), err error) {
	return l.share(l.cfg.presenceSubject(), func(msgs <-chan *nats.Msg, quit <-chan struct{}) {
		l.sharePresence(msgs, quit, local, remote)
	})
}

// share subscribes to subject, for one of the things nodes tell each
// other (presence, node info), and runs loop with its messages on a
// goroutine until stop is called or the Log shuts down (quit is closed
// on stop); stop waits for loop to return.
func (l *Log) share(subject string, loop func(msgs <-chan *nats.Msg, quit <-chan struct{})) (stop func(), err error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	msgs := make(chan *nats.Msg, 256) // a message dropped when full is sent again a second later
	sub, err := l.nc.ChanSubscribe(subject, msgs)
	if err == nil {
		// Have the server know the subscription before returning, so
		// that nothing published to it from now on is missed.
		err = l.nc.FlushTimeout(l.cfg.ConnectTimeout)
	}
	if err != nil {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		l.wg.Done()
		return nil, unavailable(err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() { // owned by the Log and the caller: ends on stop or Shutdown
		defer l.wg.Done()
		defer close(done)
		defer func() { _ = sub.Unsubscribe() }()
		loop(msgs, quit)
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}, nil
}

// tell publishes v, as JSON, to the other nodes on subject; a message
// that is lost is sent again at the next tick.
func (l *Log) tell(subject string, v any) {
	data, err := json.Marshal(v)
	if err == nil {
		err = l.nc.Publish(subject, data)
	}
	if err != nil {
		l.logger.Debug("tell the other nodes", "subject", subject, keyErr, err)
	}
}

// sharePresence is the sharing goroutine's loop.
func (l *Log) sharePresence(msgs <-chan *nats.Msg, quit <-chan struct{},
	local func() map[string]int, remote func(map[string]int)) {
	self := nats.NewInbox() // unique, even among nodes given the same node ID
	peers := make(map[string]peer)
	var sum map[string]int
	publish := func(m presenceMsg) {
		m.Node = self
		l.tell(l.cfg.presenceSubject(), m)
	}
	update := func(now time.Time) {
		next := make(map[string]int)
		for id, p := range peers {
			if now.Sub(p.seen) > PresenceTTL {
				delete(peers, id)
				continue
			}
			for topic, n := range p.counts {
				next[topic] += n
			}
		}
		if !maps.Equal(next, sum) {
			sum = next
			remote(maps.Clone(sum))
		}
	}
	defer publish(presenceMsg{Gone: true})
	l.loop(msgs, quit, func(now time.Time) {
		publish(presenceMsg{Counts: local()})
		update(now)
	}, func(data []byte, now time.Time) {
		var pm presenceMsg
		if err := json.Unmarshal(data, &pm); err != nil || pm.Node == "" || pm.Node == self {
			return
		}
		if pm.Gone {
			delete(peers, pm.Node)
		} else {
			peers[pm.Node] = peer{counts: pm.Counts, seen: now}
		}
		update(now)
	})
}

// loop is a sharing goroutine's loop, until quit is closed or the Log
// shuts down: tell at once and then every PresenceEvery, and hear each
// message from the subject, both with the time.
func (l *Log) loop(msgs <-chan *nats.Msg, quit <-chan struct{}, tell func(now time.Time), hear func(data []byte, now time.Time)) {
	tell(time.Now())
	tick := time.NewTicker(PresenceEvery)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			return
		case <-l.ctx.Done():
			return
		case now := <-tick.C:
			tell(now)
		case m := <-msgs:
			hear(m.Data, time.Now())
		}
	}
}
