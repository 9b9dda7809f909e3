package web

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubd-dev/hubd/hub"
)

// collector exports the hub's Stats at scrape time, so that the publish
// and delivery paths pay for no metric of their own beyond an atomic add.
type collector struct {
	hub     *hub.Hub
	descs   map[string]*prometheus.Desc
	refused refusalCounts
	refDesc *prometheus.Desc
	logs    map[string]*prometheus.Desc // with a cluster's event log only
}

var _ prometheus.Collector = (*collector)(nil)

// metricHelp names every exported metric and says what it counts.
var metricHelp = map[string]string{
	"hubd_clients":                "Open subscriber streams.",
	"hubd_topics":                 "Topics with subscribers or history.",
	"hubd_history_events":         "Events held in the replay history.",
	"hubd_history_bytes":          "Encoded size of the replay history.",
	"hubd_publishes_total":        "Successful publish requests.",
	"hubd_events_total":           "Events published.",
	"hubd_deliveries_total":       "Frames queued for subscribers.",
	"hubd_evictions_total":        "Subscribers evicted because their buffer was full.",
	"hubd_heartbeat_pruned_total": "Subscribers dropped because they were gone: a write (such as a heartbeat) failed or timed out, or the client hung up.",
	"hubd_replayed_events_total":  "Events replayed from history to reconnecting subscribers.",
	"hubd_written_bytes_total":    "Bytes written to subscribers, before compression.",
	"hubd_retained_topics":        "Topics holding retained state for late subscribers.",
	"hubd_retained_bytes":         "Size of the retained state, as counted against retained-bytes.",
}

// logMetricHelp are the metrics of a hub whose event log keeps counters
// (hub.LogStatser): a cluster node.
var logMetricHelp = map[string]string{
	"hubd_cluster_connected":            "1 while the connection to the cluster's event log (NATS) is up, else 0.",
	"hubd_cluster_lag_events":           "Events stored in the event log that this node has not applied yet.",
	"hubd_cluster_appends_total":        "Events the event log acknowledged storing for this node.",
	"hubd_cluster_append_seconds_total": "Time acknowledged appends waited for their acks; divide by hubd_cluster_appends_total for the mean.",
	"hubd_cluster_unavailable_total":    "Appends refused because the event log could not be reached (answered 503).",
	"hubd_cluster_replay_reads_total":   "Reads of older events from the event log for reconnecting subscribers.",
	"hubd_cluster_replay_entries_total": "Events those reads delivered.",
	"hubd_cluster_lost_events_total":    "Events the event log's store lost, as found when this node started or while it followed the log (see /readyz for which).",
}

func newCollector(h *hub.Hub, refused refusalCounts) *collector {
	c := &collector{hub: h, descs: make(map[string]*prometheus.Desc, len(metricHelp)), refused: refused}
	for name, help := range metricHelp {
		c.descs[name] = prometheus.NewDesc(name, help, nil, nil)
	}
	if _, ok := h.LogStats(); ok {
		c.logs = make(map[string]*prometheus.Desc, len(logMetricHelp))
		for name, help := range logMetricHelp {
			c.logs[name] = prometheus.NewDesc(name, help, nil, nil)
		}
	}
	c.refDesc = prometheus.NewDesc("hubd_streams_refused_total",
		"Subscribers turned away for a while, by reason: max-streams, max-streams-per-ip, shutting-down, max-streams-per-user, auth-request-unavailable.",
		[]string{"reason"}, nil)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	for _, d := range c.logs {
		ch <- d
	}
	ch <- c.refDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	gauge := func(name string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v)
	}
	counter := func(name string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v))
	}
	gauge("hubd_clients", float64(st.Clients))
	gauge("hubd_topics", float64(st.Topics))
	gauge("hubd_history_events", float64(st.HistoryLen))
	gauge("hubd_history_bytes", float64(st.HistoryBytes))
	counter("hubd_publishes_total", st.Publishes)
	counter("hubd_events_total", st.Events)
	counter("hubd_deliveries_total", st.Deliveries)
	counter("hubd_evictions_total", st.Evictions)
	counter("hubd_heartbeat_pruned_total", st.Pruned)
	counter("hubd_replayed_events_total", st.Replayed)
	counter("hubd_written_bytes_total", st.BytesWritten)
	retainedTopics, retainedBytes := c.hub.RetainedStats()
	gauge("hubd_retained_topics", float64(retainedTopics))
	gauge("hubd_retained_bytes", float64(retainedBytes))
	if ls, ok := c.hub.LogStats(); ok && c.logs != nil {
		metric := func(name string, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(c.logs[name], t, v)
		}
		connected := 0.0
		if ls.Connected {
			connected = 1
		}
		metric("hubd_cluster_connected", prometheus.GaugeValue, connected)
		metric("hubd_cluster_lag_events", prometheus.GaugeValue, float64(st.Lag))
		metric("hubd_cluster_appends_total", prometheus.CounterValue, float64(ls.Appends))
		metric("hubd_cluster_append_seconds_total", prometheus.CounterValue, ls.AppendLatency.Seconds())
		metric("hubd_cluster_unavailable_total", prometheus.CounterValue, float64(ls.Unavailable))
		metric("hubd_cluster_replay_reads_total", prometheus.CounterValue, float64(ls.Reads))
		metric("hubd_cluster_replay_entries_total", prometheus.CounterValue, float64(ls.ReadEntries))
		metric("hubd_cluster_lost_events_total", prometheus.CounterValue, float64(ls.Lost))
	}
	for _, r := range refusals {
		ch <- prometheus.MustNewConstMetric(c.refDesc, prometheus.CounterValue, float64(c.refused[r].Load()), r.name)
	}
}
