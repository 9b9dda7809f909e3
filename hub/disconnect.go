package hub

import "context"

// Disconnect names the streams an operator ends: those of a user, those
// of a topic, or one stream (its ID as logged, stream_id, or NODE/ID to
// name the node too). One field is set.
type Disconnect struct {
	User   string `json:"user,omitempty"`
	Topic  string `json:"topic,omitempty"`
	Stream string `json:"stream,omitempty"`
}

// DisconnectSender sends a disconnect to a cluster's other nodes and
// returns, once they have answered (or ctx ends), how many streams they
// ended and how many nodes answered.
type DisconnectSender func(ctx context.Context, d Disconnect) (ended, nodes int, err error)

// DisconnectSharer is an optional ability of an EventLog (Config.Log): it
// carries an operator's disconnects to every node of the cluster, so that
// a user's streams end wherever they are. The hub finds it by type
// assertion.
type DisconnectSharer interface {
	// ShareDisconnects calls apply, from one goroutine, with every
	// disconnect another node sends, until stop is called, and tells the
	// sender what apply returned (the streams it ended). send delivers a
	// disconnect to every other live node; it never calls this node's
	// apply. stop must not return while apply runs, nor call it after.
	ShareDisconnects(apply func(Disconnect) int) (send DisconnectSender, stop func(), err error)
}

// ShareDisconnects shares disconnects through the hub's event log when it
// has that ability (see DisconnectSharer); otherwise it returns nil
// functions and no error: a hub on its own has no one to tell.
func (h *Hub) ShareDisconnects(apply func(Disconnect) int) (send DisconnectSender, stop func(), err error) {
	ds, ok := h.cfg.Log.(DisconnectSharer)
	if !ok {
		return nil, nil, nil
	}
	return ds.ShareDisconnects(apply)
}
