package cluster

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/hub"
)

// Disconnect sharing. A node that an operator asks to disconnect streams
// publishes the request on the core NATS subject PREFIX-disconnect
// (outside the stream, never stored), with a reply inbox; every other
// node ends its matching streams and answers how many. The sender counts
// the answers until none has come for DisconnectQuiet, or its context
// ends: nodes share no list of members, so silence is the end.
const DisconnectQuiet = 250 * time.Millisecond

var _ hub.DisconnectSharer = (*Log)(nil)

// disconnectMsg is a disconnect on the wire, with the sending node's own
// ID so that it ignores its own.
type disconnectMsg struct {
	From string `json:"from"`
	hub.Disconnect
}

func (c Config) disconnectSubject() string { return c.SubjectPrefix + "-disconnect" }

// ShareDisconnects implements hub.DisconnectSharer over core NATS.
func (l *Log) ShareDisconnects(apply func(hub.Disconnect) int) (hub.DisconnectSender, func(), error) {
	self := nats.NewInbox()
	stop, err := l.share(l.cfg.disconnectSubject(), func(msgs <-chan *nats.Msg, quit <-chan struct{}) {
		for {
			select {
			case <-quit:
				return
			case <-l.ctx.Done():
				return
			case m := <-msgs:
				var dm disconnectMsg
				if err := json.Unmarshal(m.Data, &dm); err != nil || dm.From == self || m.Reply == "" {
					continue
				}
				n := apply(dm.Disconnect)
				if err := l.nc.Publish(m.Reply, strconv.AppendInt(nil, int64(n), 10)); err != nil {
					l.logger.Debug("answer disconnect", keyErr, err)
				}
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	send := func(ctx context.Context, d hub.Disconnect) (ended, nodes int, err error) {
		data, err := json.Marshal(disconnectMsg{From: self, Disconnect: d})
		if err != nil {
			return 0, 0, err
		}
		inbox := nats.NewInbox()
		answers := make(chan *nats.Msg, 64)
		asub, err := l.nc.ChanSubscribe(inbox, answers)
		if err != nil {
			return 0, 0, unavailable(err)
		}
		defer func() { _ = asub.Unsubscribe() }()
		if err := l.nc.PublishRequest(l.cfg.disconnectSubject(), inbox, data); err != nil {
			return 0, 0, unavailable(err)
		}
		quiet := time.NewTimer(DisconnectQuiet)
		defer quiet.Stop()
		for {
			select {
			case <-ctx.Done():
				return ended, nodes, nil
			case <-quiet.C:
				return ended, nodes, nil
			case m := <-answers:
				n, err := strconv.Atoi(string(m.Data))
				if err != nil {
					continue
				}
				ended += n
				nodes++
				quiet.Reset(DisconnectQuiet)
			}
		}
	}
	return send, stop, nil
}
