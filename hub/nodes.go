package hub

import (
	"sync"
	"time"
)

// NodeInfo is what a node tells about itself: to the dashboard, and with
// a NodeSharer to the cluster's other nodes.
type NodeInfo struct {
	ID      string    `json:"id"`      // Config.NodeID
	Version string    `json:"version"` // Config.Version
	Started time.Time `json:"started"` // when the hub was made
	Clients int       `json:"clients"` // open subscriptions on the node
	Lag     uint64    `json:"lag"`     // events of the log the node has not applied yet (Stats.Lag)
}

// NodeSharer is an optional ability of an EventLog (Config.Log): it tells
// the cluster's nodes about each other, for the dashboard's table of
// nodes. The hub finds it by type assertion.
type NodeSharer interface {
	// ShareNodes starts sharing until stop is called. It publishes what
	// local returns regularly, and calls remote with what every other
	// live node said last, ordered by ID, each time it hears from one or
	// one drops out (a node that stops publishing drops out after a
	// while). It must not call local or remote after stop has returned;
	// remote's argument is its caller's to keep.
	ShareNodes(local func() NodeInfo, remote func([]NodeInfo)) (stop func(), err error)
}

// nodes is what the hub knows of the cluster's other nodes.
type nodes struct {
	mu     sync.Mutex
	others []NodeInfo
	stop   func() // stops the NodeSharer, or nil
}

// startNodes shares node info through l if it can.
func (h *Hub) startNodes(l EventLog) error {
	ns, ok := l.(NodeSharer)
	if !ok {
		return nil
	}
	stop, err := ns.ShareNodes(h.Node, func(others []NodeInfo) {
		h.nodes.mu.Lock()
		h.nodes.others = others
		h.nodes.mu.Unlock()
	})
	if err != nil {
		return err
	}
	h.nodes.stop = stop
	return nil
}

// stopNodes stops the sharing, if any.
func (h *Hub) stopNodes() {
	if h.nodes.stop != nil {
		h.nodes.stop()
	}
}

// Node returns what this node tells about itself now.
func (h *Hub) Node() NodeInfo {
	st := h.Stats()
	return NodeInfo{ID: h.cfg.NodeID, Version: h.cfg.Version, Started: h.started, Clients: st.Clients, Lag: st.Lag}
}

// Nodes returns this node first, then, with a NodeSharer, the cluster's
// other live nodes as they last told about themselves, ordered by ID.
func (h *Hub) Nodes() []NodeInfo {
	self := h.Node()
	h.nodes.mu.Lock()
	defer h.nodes.mu.Unlock()
	return append([]NodeInfo{self}, h.nodes.others...) // ordered by the NodeSharer
}
