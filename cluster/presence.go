package cluster

import (
	"encoding/json"
	"maps"
	"strconv"
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
//
// One sending of a node's counts (a round) is split into messages of at
// most PresencePartBytes (less when the server's max payload is smaller),
// each holding a share of the topics, however many topics there are.
// A node takes another's counts when it got every part of a round, and
// keeps the previous complete round until then.
const (
	PresenceEvery = time.Second
	PresenceTTL   = 3*PresenceEvery + PresenceEvery/2
	// PresencePartBytes bounds one presence message: far below NATS's
	// default max payload of 1 MiB, so that a round of 100,000 topics is
	// a few dozen messages.
	PresencePartBytes = 64 << 10
)

var _ hub.PresenceSharer = (*Log)(nil)

// keyTopics names how many topics a log line is about.
const keyTopics = "topics"

// presenceMsg is what a node publishes: its counts by topic, or part
// i of Parts of them, under an ID of its own that is new each time the
// node starts sharing. Parts of 0 or 1 is a whole round in one message
// (as nodes sent before rounds were split).
type presenceMsg struct {
	Node   string         `json:"node"`
	Round  uint64         `json:"round,omitempty"` // counts up with each sending
	Part   int            `json:"part,omitempty"`
	Parts  int            `json:"parts,omitempty"`
	Counts map[string]int `json:"counts,omitempty"`
	Gone   bool           `json:"gone,omitempty"` // the node stopped sharing
}

// presenceSubject is the subject nodes share their counts on.
func (c Config) presenceSubject() string { return c.SubjectPrefix + "-presence" }

// peer is what a node last said and when it was heard.
type peer struct {
	counts map[string]int // its last complete round
	seen   time.Time      // when that round completed
	heard  time.Time      // when any message of it last arrived
	// The round being put together from its parts.
	round   uint64
	partial map[string]int
	got     []bool // got[i]: part i arrived
}

// take adds a message from the peer at now, and reports whether that
// completed a round (p.counts then changed). Only a complete round
// renews the peer's counts (seen): the counts of one whose rounds never
// arrive whole (their parts are lost) stop counting after PresenceTTL
// instead of standing for ever.
func (p *peer) take(m presenceMsg, now time.Time) bool {
	p.heard = now
	if m.Parts <= 1 {
		p.counts, p.partial, p.got, p.seen = m.Counts, nil, nil, now
		return true
	}
	if m.Part < 0 || m.Part >= m.Parts {
		return false
	}
	if p.got == nil || m.Round != p.round || len(p.got) != m.Parts {
		// A new round: a part of the one before went missing (it is
		// dropped; the complete round before it stands).
		p.round, p.partial, p.got = m.Round, make(map[string]int), make([]bool, m.Parts)
	}
	if p.got[m.Part] {
		return false
	}
	p.got[m.Part] = true
	maps.Copy(p.partial, m.Counts)
	for _, ok := range p.got {
		if !ok {
			return false
		}
	}
	p.counts, p.partial, p.got, p.seen = p.partial, nil, nil, now
	return true
}

// presenceParts splits counts into parts whose JSON stays within limit
// bytes (with room for the message's other fields), each topic in one
// part. Nothing to count is one empty part.
func presenceParts(counts map[string]int, limit int) []map[string]int {
	const overhead = 256 // "node", "round", "part", "parts" and braces
	parts := []map[string]int{{}}
	size := overhead
	for topic, n := range counts {
		// "topic":n, with room for escapes of '"' or '\\' (topics hold
		// neither, but the bound must not depend on it).
		entry := 2*len(topic) + 4 + len(strconv.Itoa(n))
		if size+entry > limit && len(parts[len(parts)-1]) > 0 {
			parts = append(parts, map[string]int{})
			size = overhead
		}
		parts[len(parts)-1][topic] = n
		size += entry
	}
	return parts
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
// other (presence, node info, disconnects), and runs loop with its messages on a
// goroutine until stop is called or the Log shuts down (quit is closed
// on stop); stop waits for loop to return.
func (l *Log) share(subject string, loop func(msgs <-chan *nats.Msg, quit <-chan struct{})) (stop func(), err error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	// A message dropped when the channel is full is sent again a second
	// later; 1024 holds whole rounds of several nodes of many topics.
	msgs := make(chan *nats.Msg, 1024)
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

// tell publishes v, as JSON, to the other nodes on subject.
func (l *Log) tell(subject string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return l.nc.Publish(subject, data)
}

// sharePresence is the sharing goroutine's loop.
func (l *Log) sharePresence(msgs <-chan *nats.Msg, quit <-chan struct{},
	local func() map[string]int, remote func(map[string]int)) {
	self := nats.NewInbox() // unique, even among nodes given the same node ID
	peers := make(map[string]*peer)
	var sum map[string]int
	limit := PresencePartBytes
	if mp := int(l.nc.MaxPayload()); mp > 0 {
		limit = min(limit, mp/2)
	}
	var round uint64
	failing := false // the last sending failed; logged once until one works
	send := func(m presenceMsg) error {
		m.Node = self
		return l.tell(l.cfg.presenceSubject(), m)
	}
	publish := func(counts map[string]int) {
		round++
		parts := presenceParts(counts, limit)
		var err error
		for i, part := range parts {
			if err = send(presenceMsg{Round: round, Part: i, Parts: len(parts), Counts: part}); err != nil {
				break
			}
		}
		switch {
		case err != nil && !failing:
			failing = true
			l.logger.Warn("cluster: cannot share presence; the other nodes drop this node's subscribers from their counts until it can", keyErr, err, keyTopics, len(counts))
		case err == nil && failing:
			failing = false
			l.logger.Info("cluster: sharing presence again", keyTopics, len(counts))
		}
	}
	update := func(now time.Time) {
		next := make(map[string]int)
		for id, p := range peers {
			if now.Sub(p.heard) > PresenceTTL {
				delete(peers, id)
				continue
			}
			if now.Sub(p.seen) > PresenceTTL {
				continue // no complete round lately: its counts are stale
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
	defer func() {
		if err := send(presenceMsg{Gone: true}); err != nil {
			l.logger.Debug("cluster: presence goodbye not sent; the others drop this node after the TTL", keyErr, err)
		}
	}()
	l.loop(msgs, quit, func(now time.Time) {
		publish(local())
		update(now)
	}, func(data []byte, now time.Time) {
		var pm presenceMsg
		if err := json.Unmarshal(data, &pm); err != nil || pm.Node == "" || pm.Node == self {
			return
		}
		if pm.Gone {
			delete(peers, pm.Node)
			update(now)
			return
		}
		p := peers[pm.Node]
		if p == nil {
			p = &peer{}
			peers[pm.Node] = p
		}
		if p.take(pm, now) {
			update(now)
		}
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
