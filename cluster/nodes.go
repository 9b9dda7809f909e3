package cluster

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/hub"
)

// Node info. Every node tells the others what it says about itself
// (hub.NodeInfo: ID, version, start, clients, lag) on the core NATS
// subject PREFIX-nodes (never stored) every PresenceEvery, and once more,
// gone, when it stops; a node not heard from within PresenceTTL drops out,
// as for presence.

var _ hub.NodeSharer = (*Log)(nil)

// nodeMsg is what a node publishes, under an ID of its own that is new
// each time it starts sharing (node IDs given by operators may repeat).
type nodeMsg struct {
	Node string       `json:"node"`
	Info hub.NodeInfo `json:"info"`
	Gone bool         `json:"gone,omitempty"`
}

// nodesSubject is the subject nodes tell about themselves on.
func (c Config) nodesSubject() string { return c.SubjectPrefix + "-nodes" }

// ShareNodes tells the other nodes on the same subject prefix about this
// one, as local says, every PresenceEvery, and calls remote, from the same
// goroutine, with what every other live node said last, ordered by ID,
// each time one is heard from or drops out. stop ends the sharing
// (telling the others so) and waits for the goroutine; Shutdown ends it
// too.
func (l *Log) ShareNodes(local func() hub.NodeInfo, remote func([]hub.NodeInfo)) (stop func(), err error) {
	return l.share(l.cfg.nodesSubject(), func(msgs <-chan *nats.Msg, quit <-chan struct{}) {
		l.shareNodes(msgs, quit, local, remote)
	})
}

// shareNodes is the node-sharing goroutine's loop.
func (l *Log) shareNodes(msgs <-chan *nats.Msg, quit <-chan struct{}, local func() hub.NodeInfo, remote func([]hub.NodeInfo)) {
	self := nats.NewInbox()
	type heard struct {
		info hub.NodeInfo
		seen time.Time
	}
	peers := make(map[string]heard)
	report := func(now time.Time) {
		maps.DeleteFunc(peers, func(_ string, p heard) bool { return now.Sub(p.seen) > PresenceTTL })
		out := make([]hub.NodeInfo, 0, len(peers))
		for _, p := range peers {
			out = append(out, p.info)
		}
		slices.SortFunc(out, func(a, b hub.NodeInfo) int { return cmp.Compare(a.ID, b.ID) })
		remote(out)
	}
	tell := func(m nodeMsg) {
		m.Node = self
		if err := l.tell(l.cfg.nodesSubject(), m); err != nil {
			l.logger.Debug("cluster: node info not sent; the others get it at the next tick, or drop this node after the TTL", keyErr, err)
		}
	}
	defer tell(nodeMsg{Gone: true})
	l.loop(msgs, quit, func(now time.Time) {
		tell(nodeMsg{Info: local()})
		report(now)
	}, func(data []byte, now time.Time) {
		var nm nodeMsg
		if err := json.Unmarshal(data, &nm); err != nil || nm.Node == "" || nm.Node == self {
			return
		}
		if nm.Gone {
			delete(peers, nm.Node)
		} else {
			peers[nm.Node] = heard{info: nm.Info, seen: now}
		}
		report(now)
	})
}
