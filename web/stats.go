package web

import (
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// DefaultStatsInterval is how often the dashboard's statistics are
// published.
const DefaultStatsInterval = time.Second

// statsTopicsShown bounds the rows of the dashboard's topic table.
const statsTopicsShown = 20

// dashboardStats is the "hubd" signal the dashboard shows.
type dashboardStats struct {
	Clients          int     `json:"clients"`
	Topics           int     `json:"topics"`
	PublishesPerSec  float64 `json:"publishesPerSec"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	Evictions        uint64  `json:"evictions"`
	Pruned           uint64  `json:"pruned"`
	History          int     `json:"history"`
	LastID           string  `json:"lastId"`
	// NodeID names this node (hub.Hub.NodeID): with a cluster behind a
	// load balancer, the dashboard a browser sees is one node's.
	NodeID string `json:"nodeId"`
	// Clustered: the hub follows a cluster's event log. Then Connected
	// says whether its connection is up (when the log reports it),
	// StreamSeq is the log's last sequence as this node knows it, and Lag
	// how many events of it this node has not applied yet.
	Clustered bool   `json:"clustered"`
	Connected bool   `json:"connected"`
	StreamSeq uint64 `json:"streamSeq"`
	Lag       uint64 `json:"lag"`
}

var topicRows = template.Must(template.New("rows").Parse(
	`<tbody id="hubd-topics">{{range .}}<tr><td><code>{{.Name}}</code></td><td>{{.Subscribers}}</td><td>{{.History}}</td></tr>` +
		`{{else}}<tr><td colspan="3">No topics yet.</td></tr>{{end}}</tbody>`))

// RunStats publishes the hub's statistics to hub.StatsTopic every
// interval while anyone subscribes to it, until ctx ends: a "hubd" signal
// with counters and rates, the node ID and, in a cluster, the state of
// the event log, and the table of the busiest topics. The events
// are transient: they keep no place in history.
func (s *Server) RunStats(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultStatsInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	prev, prevAt := s.hub.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur := s.hub.Stats()
			if s.hub.Subscribers(hub.StatsTopic) > 0 {
				s.publishStats(ctx, prev, cur, now.Sub(prevAt))
			}
			prev, prevAt = cur, now
		}
	}
}

func (s *Server) publishStats(ctx context.Context, prev, cur hub.Stats, elapsed time.Duration) {
	rate := func(a, b uint64) float64 {
		if elapsed <= 0 {
			return 0
		}
		return math.Round(float64(b-a)/elapsed.Seconds()*10) / 10
	}
	st := dashboardStats{
		Clients: cur.Clients, Topics: cur.Topics, Evictions: cur.Evictions, Pruned: cur.Pruned,
		PublishesPerSec: rate(prev.Publishes, cur.Publishes), DeliveriesPerSec: rate(prev.Deliveries, cur.Deliveries),
		History: cur.HistoryLen, LastID: cur.LastID,
		NodeID: s.hub.NodeID(), Clustered: s.hub.Clustered(), Lag: cur.Lag,
	}
	if ls, ok := s.hub.LogStats(); ok {
		st.Connected, st.StreamSeq = ls.Connected, ls.LastSeq
	}
	signals, err := json.Marshal(map[string]dashboardStats{"hubd": st})
	if err != nil {
		panic(err) // plain numbers and strings always encode
	}
	var rows strings.Builder
	if err := topicRows.Execute(&rows, s.hub.Topics(statsTopicsShown)); err != nil {
		panic(err) // the template and its data are ours
	}
	if _, err := s.hub.PublishTransient([]string{hub.StatsTopic},
		sse.PatchSignals{Signals: signals}, sse.PatchElements{Elements: rows.String()}); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "publish stats", slog.Any("err", err))
	}
}
