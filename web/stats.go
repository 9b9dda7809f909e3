package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

// DefaultStatsInterval is how often the dashboard's statistics are
// published.
const DefaultStatsInterval = time.Second

// statsTopicsShown bounds the rows of the dashboard's topic table.
const statsTopicsShown = 20

// chartSamples is how many intervals the dashboard's charts span: five
// minutes at DefaultStatsInterval.
const chartSamples = 300

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
	// load balancer, the dashboard a browser sees is one node's. Version
	// is the hubd it runs, Uptime how long it has run ("3h 05m").
	NodeID  string `json:"nodeId"`
	Version string `json:"version"`
	Uptime  string `json:"uptime"`
	// At is the time of the statistics, "15:04:05" UTC: the page shows
	// that they keep coming.
	At string `json:"at"`
	// Clustered: the hub follows a cluster's event log. Then Connected
	// says whether its connection is up (when the log reports it),
	// StreamSeq is the log's last sequence as this node knows it, and Lag
	// how many events of it this node has not applied yet.
	Clustered bool   `json:"clustered"`
	Connected bool   `json:"connected"`
	StreamSeq uint64 `json:"streamSeq"`
	Lag       uint64 `json:"lag"`
}

// rateSample is one interval's rates, a point of the charts.
type rateSample struct{ publishes, deliveries float64 }

// statsState is what RunStats keeps between intervals, for the charts;
// the pages render the charts from it too.
type statsState struct {
	mu       sync.Mutex
	samples  []rateSample // oldest first, at most chartSamples
	interval time.Duration
}

// record adds one interval's rates.
func (st *statsState) record(s rateSample, interval time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.samples) == chartSamples {
		st.samples = append(st.samples[:0], st.samples[1:]...)
	}
	st.samples = append(st.samples, s)
	st.interval = interval
}

// charts renders both charts from the samples so far.
func (st *statsState) charts() (publishes, deliveries string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	interval := st.interval
	if interval <= 0 {
		interval = DefaultStatsInterval
	}
	pub, del := make([]float64, len(st.samples)), make([]float64, len(st.samples))
	for i, s := range st.samples {
		pub[i], del[i] = s.publishes, s.deliveries
	}
	span := interval * chartSamples
	return chartHTML("chart-publishes", "Publishes per second", pub, span),
		chartHTML("chart-deliveries", "Deliveries per second", del, span)
}

// Chart geometry, in the SVG's own units.
const (
	chartW, chartH = 600.0, 150.0
	chartTop       = 14.0 // room above the top grid line for its label
)

// chartHTML draws values (the newest last, one per interval) as an area
// chart in an SVG of a div with the given id, which the dashboard patches:
// the newest value at the right edge, chartSamples values across, the
// vertical scale rounded up to 1, 2 or 5 times a power of ten.
func chartHTML(id, label string, values []float64, span time.Duration) string {
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	top := niceCeil(peak)
	step := chartW / float64(chartSamples-1)
	y := func(v float64) float64 { return chartH - v/top*(chartH-chartTop) }
	var b strings.Builder
	fmt.Fprintf(&b, `<div id="%s"><svg viewBox="0 0 %g %g" role="img" aria-label="%s over the last %s, peak %s">`,
		id, chartW, chartH+1, label, spanText(span), formatRate(peak))
	fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%g" y2="%g" stroke="#e3e6ee"/>`, chartW, chartH, chartH)
	for _, frac := range []float64{.5, 1} { // dashed grid lines, labelled
		gy := y(top * frac)
		fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%.1f" y2="%.1f" stroke="#e3e6ee" stroke-dasharray="4 4"/>`, chartW, gy, gy)
		fmt.Fprintf(&b, `<text x="4" y="%.1f" font-size="11" fill="#5d6576">%s/s</text>`, gy-4, formatRate(top*frac))
	}
	if len(values) > 0 {
		x0 := chartW - float64(len(values)-1)*step
		var line strings.Builder
		for i, v := range values {
			cmd := 'L'
			if i == 0 {
				cmd = 'M'
			}
			fmt.Fprintf(&line, "%c%.1f %.1f", cmd, x0+float64(i)*step, y(v))
		}
		fmt.Fprintf(&b, `<path d="%sL%g %gL%.1f %gZ" fill="#4f46e5" fill-opacity=".12"/>`, line.String(), chartW, chartH, x0, chartH)
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#4f46e5" stroke-width="2" stroke-linejoin="round"/>`, line.String())
	}
	fmt.Fprintf(&b, `</svg><div class="axis"><span>%s ago</span><span>now</span></div></div>`, spanText(span))
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, at least 1.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// formatRate writes a rate with one decimal at most.
func formatRate(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// spanText says a chart's span: "5 min", "75 s".
func spanText(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return fmt.Sprintf("%g s", d.Seconds())
}

// uptime says how long since started, to the two largest units.
func uptime(started, now time.Time) string {
	d := now.Sub(started).Round(time.Second)
	switch {
	case started.IsZero() || d < 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd %02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

// statsRows are the dashboard's tables: the busiest topics, but the
// hub's own (each name links to the topic's view), and the nodes.
var statsRows = template.Must(template.New("rows").Parse(
	`{{define "topics"}}<tbody id="hubd-topics">{{range .}}<tr><td>` +
		`<a href="{{.View}}"><code>{{.Name}}</code></a>` +
		`</td><td class="num">{{.Subscribers}}</td><td class="num">{{.History}}</td></tr>` +
		`{{else}}<tr><td colspan="3" class="empty">No topics yet: publish to one, or open a page that follows one.</td></tr>{{end}}</tbody>{{end}}` +
		`{{define "nodes"}}<tbody id="hubd-nodes">{{range $i, $n := .}}<tr>` +
		`<td><code>{{or $n.ID "(unnamed)"}}</code>{{if eq $i 0}} <span class="tag">this node</span>{{end}}</td>` +
		`<td>{{or $n.Version "–"}}</td><td>{{$n.Uptime}}</td><td class="num">{{$n.Clients}}</td><td class="num">{{$n.Lag}}</td></tr>` +
		`{{end}}</tbody>{{end}}`))

// topicRow is a row of the topic table.
type topicRow struct {
	hub.TopicInfo
	View string // the path of the topic's view
}

// nodeRow is a row of the node table.
type nodeRow struct {
	hub.NodeInfo
	Uptime string
}

// dashboardParts renders what the dashboard patches besides its signals:
// the charts and the two tables.
func (s *Server) dashboardParts(now time.Time) (charts [2]string, topics, nodes string) {
	charts[0], charts[1] = s.stats.charts()
	var rows []topicRow
	for _, t := range s.hub.Topics(0) { // Topics sorts them all anyway
		if hub.Reserved(t.Name) {
			continue // the hub's own, such as the dashboard's: plumbing, not traffic
		}
		if rows = append(rows, topicRow{TopicInfo: t, View: topicViewPath(t.Name)}); len(rows) == statsTopicsShown {
			break
		}
	}
	var nrows []nodeRow
	for _, n := range s.hub.Nodes() {
		nrows = append(nrows, nodeRow{NodeInfo: n, Uptime: uptime(n.Started, now)})
	}
	var b strings.Builder
	if err := statsRows.ExecuteTemplate(&b, "topics", rows); err != nil {
		panic(err) // the template and its data are ours
	}
	topics = b.String()
	b.Reset()
	if err := statsRows.ExecuteTemplate(&b, "nodes", nrows); err != nil {
		panic(err)
	}
	return charts, topics, b.String()
}

// RunStats publishes the hub's statistics to hub.StatsTopic every
// interval while anyone subscribes to it, until ctx ends: a "hubd" signal
// with counters and rates, the node ID and, in a cluster, the state of
// the event log; the charts of the rates over the last chartSamples
// intervals (recorded whether or not anyone looks, so that a dashboard
// opened later shows them); the table of the busiest topics and that of
// the nodes. It also publishes the view of every topic a topic view
// follows (see topicview.go). The events are transient: they keep no
// place in history.
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
			st := s.statsOf(prev, cur, now.Sub(prevAt), now)
			s.stats.record(rateSample{publishes: st.PublishesPerSec, deliveries: st.DeliveriesPerSec}, interval)
			if s.hub.Subscribers(hub.StatsTopic) > 0 {
				s.publishStats(ctx, st, now)
			}
			s.publishTopicViews(ctx, now)
			prev, prevAt = cur, now
		}
	}
}

// statsOf is the "hubd" signal for the interval from prev to cur.
func (s *Server) statsOf(prev, cur hub.Stats, elapsed time.Duration, now time.Time) dashboardStats {
	rate := func(a, b uint64) float64 {
		if elapsed <= 0 {
			return 0
		}
		return math.Round(float64(b-a)/elapsed.Seconds()*10) / 10
	}
	node := s.hub.Node()
	st := dashboardStats{
		Clients: cur.Clients, Topics: cur.Topics, Evictions: cur.Evictions, Pruned: cur.Pruned,
		PublishesPerSec: rate(prev.Publishes, cur.Publishes), DeliveriesPerSec: rate(prev.Deliveries, cur.Deliveries),
		History: cur.HistoryLen, LastID: cur.LastID,
		NodeID: node.ID, Version: node.Version, Uptime: uptime(node.Started, now), At: now.UTC().Format(time.TimeOnly),
		Clustered: s.hub.Clustered(), Lag: cur.Lag,
	}
	if ls, ok := s.hub.LogStats(); ok {
		st.Connected, st.StreamSeq = ls.Connected, ls.LastSeq
	}
	return st
}

func (s *Server) publishStats(ctx context.Context, st dashboardStats, now time.Time) {
	signals, err := json.Marshal(map[string]dashboardStats{"hubd": st})
	if err != nil {
		panic(err) // plain numbers and strings always encode
	}
	charts, topics, nodes := s.dashboardParts(now)
	// One element per patch: a fragment is parsed in the context of its
	// first element, which would drop table rows after a div.
	if _, err := s.hub.PublishTransient([]string{hub.StatsTopic}, sse.PatchSignals{Signals: signals},
		sse.PatchElements{Elements: charts[0]}, sse.PatchElements{Elements: charts[1]},
		sse.PatchElements{Elements: topics}, sse.PatchElements{Elements: nodes}); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "publish stats", slog.Any("err", err))
	}
}
