package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// report is hubload's result, printed as a summary and as one JSON line.
type report struct {
	Scenario        string  `json:"scenario"`
	Target          string  `json:"target"` // the protocol: hubd or nchan
	Label           string  `json:"label"`  // the target's name in tables
	Subscribers     int     `json:"subscribers"`
	Connected       int     `json:"connected"`
	Failed          int     `json:"failed"`
	Topics          int     `json:"topics"`
	Nodes           int     `json:"nodes"`
	NodeSubscribers []int   `json:"node_subscribers"` // connected, by index in -url
	NodePublishes   []int   `json:"node_publishes"`   // acknowledged, by index in -url
	Published       int     `json:"published"`
	PublishErrors   int64   `json:"publish_errors"`
	PublishSeconds  float64 `json:"publish_seconds"`
	PublishesPerSec float64 `json:"publishes_per_sec"`
	Deliveries      uint64  `json:"deliveries"`
	Expected        uint64  `json:"expected"`
	DeliveriesPerS  float64 `json:"deliveries_per_sec"`
	Lost            uint64  `json:"lost"`
	Dups            uint64  `json:"duplicates"`
	Reconnects      int     `json:"reconnects"`
	LatP50Ms        float64 `json:"latency_p50_ms"`
	LatP99Ms        float64 `json:"latency_p99_ms"`
	LatP999Ms       float64 `json:"latency_p999_ms"`
	LatMaxMs        float64 `json:"latency_max_ms"`
	PubP50Ms        float64 `json:"publish_rtt_p50_ms"`
	PubP99Ms        float64 `json:"publish_rtt_p99_ms"`
	PubMaxMs        float64 `json:"publish_rtt_max_ms"`
	HubRSSBeforeMiB float64 `json:"hub_rss_before_mib"`
	HubRSSMiB       float64 `json:"hub_rss_connected_mib"`
	HubRSSPerConnKB float64 `json:"hub_rss_per_conn_kib"`
	HubRSSHeldMiB   float64 `json:"hub_rss_held_mib,omitempty"`
	HubRSSHeldKB    float64 `json:"hub_rss_held_per_conn_kib,omitempty"`
	HubCPUCores     float64 `json:"hub_cpu_cores"`
	HubCPUPerDelivU float64 `json:"hub_cpu_us_per_delivery"` // hub CPU from the first publish until every delivery arrived (or -drain ended), per delivery
	HubSource       string  `json:"hub_source"`
	HubProcesses    int     `json:"hub_processes"` // how many hub processes (or /metrics endpoints) the figures sum
	NATSRSSMiB      float64 `json:"nats_rss_end_mib,omitempty"`
	NATSCPUCores    float64 `json:"nats_cpu_cores,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runParent(ctx context.Context, o *options, stdout io.Writer) error {
	rep := report{Scenario: o.Scenario, Target: o.Target, Label: o.Label, Subscribers: o.Subscribers, Topics: o.Topics, Nodes: len(o.URLs),
		NodeSubscribers: make([]int, len(o.URLs))}
	before, err := sampleHub(o)
	if err != nil {
		return fmt.Errorf("read hub usage: %w", err)
	}
	rep.HubSource, rep.HubProcesses = before.source, before.procs
	rep.HubRSSBeforeMiB = float64(before.rss) / (1 << 20)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	procs, err := startWorkers(ctx, o)
	defer func() {
		for _, p := range procs {
			_ = p.wait() // its result, if any, was read already
		}
	}()
	if err != nil {
		return err
	}
	for _, p := range procs {
		rep.Connected += p.ready.Connected
		for i, n := range p.ready.PerNode {
			if i < len(rep.NodeSubscribers) {
				rep.NodeSubscribers[i] += n
			}
		}
		rep.Failed += p.ready.Failed
		if p.ready.Err != "" {
			fmt.Fprintln(os.Stderr, "hubload: a subscriber failed:", p.ready.Err)
		}
	}
	connected, err := sampleHub(o)
	if err != nil {
		return err
	}
	rep.HubRSSMiB = float64(connected.rss) / (1 << 20)
	if rep.Connected > 0 {
		rep.HubRSSPerConnKB = float64(connected.rss-before.rss) / 1024 / float64(rep.Connected)
	}
	if o.Hold > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.Hold):
		}
		held, err := sampleHub(o)
		if err != nil {
			return err
		}
		rep.HubRSSHeldMiB = float64(held.rss) / (1 << 20)
		if rep.Connected > 0 {
			rep.HubRSSHeldKB = float64(held.rss-before.rss) / 1024 / float64(rep.Connected)
		}
	}

	start, err := sampleHub(o)
	if err != nil {
		return err
	}
	natsStart, err := sampleNATS(o)
	if err != nil {
		return err
	}
	var pubLat histogram
	var published int
	var pubErrs atomic.Int64
	rep.NodePublishes = make([]int, len(o.URLs))
	if !o.NoPublish {
		published, pubLat = publish(ctx, o, &pubErrs, rep.NodePublishes)
	}
	end, err := sampleHub(o)
	if err != nil {
		return err
	}
	natsEnd, err := sampleNATS(o)
	if err != nil {
		return err
	}
	elapsed := end.at.Sub(start.at).Seconds()
	rep.Published = published
	rep.PublishErrors = pubErrs.Load()
	rep.PublishSeconds = elapsed
	if elapsed > 0 {
		rep.PublishesPerSec = float64(published) / elapsed
		rep.HubCPUCores = (end.cpu - start.cpu) / elapsed
		if o.NATSPID > 0 {
			rep.NATSCPUCores = (natsEnd.cpu - natsStart.cpu) / elapsed
		}
	}
	rep.NATSRSSMiB = float64(natsEnd.rss) / (1 << 20)

	var lat histogram
	fin, _ := json.Marshal(finishMsg{Published: published})
	for _, p := range procs {
		if _, err := p.in.Write(append(fin, '\n')); err != nil {
			return err
		}
	}
	for _, p := range procs {
		var res resultMsg
		if err := p.out.Decode(&res); err != nil {
			return fmt.Errorf("worker result: %w", err)
		}
		rep.Deliveries += res.Received
		rep.Expected += res.Expected
		rep.Lost += res.Lost
		rep.Dups += res.Dups
		rep.Reconnects += res.Reconnects
		lat.merge(&res.Latency)
	}
	if elapsed > 0 {
		rep.DeliveriesPerS = float64(rep.Deliveries) / elapsed
	}
	// The workers answer once every delivery arrived: the hub's CPU since
	// the first publish is then all it spent on them (and idle otherwise).
	drained, err := sampleHub(o)
	if err != nil {
		return err
	}
	if rep.Deliveries > 0 {
		rep.HubCPUPerDelivU = (drained.cpu - start.cpu) / float64(rep.Deliveries) * 1e6
	}
	rep.LatP50Ms, rep.LatP99Ms, rep.LatP999Ms = ms(lat.quantile(.5)), ms(lat.quantile(.99)), ms(lat.quantile(.999))
	rep.LatMaxMs = float64(lat.Max) / 1000
	rep.PubP50Ms, rep.PubP99Ms, rep.PubMaxMs = ms(pubLat.quantile(.5)), ms(pubLat.quantile(.99)), float64(pubLat.Max)/1000

	line, _ := json.Marshal(rep)
	if !o.JSON {
		printSummary(stdout, &rep)
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return nil
}

func printSummary(w io.Writer, r *report) {
	fmt.Fprintf(w, "scenario %s against %s (%s): %d/%d subscribers connected (%d failed) over %d topics\n", r.Scenario, r.Label, r.Target, r.Connected, r.Subscribers, r.Failed, r.Topics)
	if r.Nodes > 1 {
		fmt.Fprintf(w, "  %d nodes: subscribers per node %v, publishes per node %v\n", r.Nodes, r.NodeSubscribers, r.NodePublishes)
	}
	fmt.Fprintf(w, "  hub RSS %.1f MiB before, %.1f MiB connected: %.2f KiB per connection (%s, summed over %d)\n",
		r.HubRSSBeforeMiB, r.HubRSSMiB, r.HubRSSPerConnKB, r.HubSource, r.HubProcesses)
	if r.HubRSSHeldMiB > 0 {
		fmt.Fprintf(w, "  hub RSS %.1f MiB after the hold: %.2f KiB per connection\n", r.HubRSSHeldMiB, r.HubRSSHeldKB)
	}
	if r.Published > 0 {
		fmt.Fprintf(w, "  published %d in %.2fs (%.0f/s, %d errors), publish RTT p50 %.2fms p99 %.2fms max %.2fms\n",
			r.Published, r.PublishSeconds, r.PublishesPerSec, r.PublishErrors, r.PubP50Ms, r.PubP99Ms, r.PubMaxMs)
		fmt.Fprintf(w, "  delivered %d of %d expected (%.0f/s): lost %d, duplicated %d, reconnects %d\n",
			r.Deliveries, r.Expected, r.DeliveriesPerS, r.Lost, r.Dups, r.Reconnects)
		fmt.Fprintf(w, "  latency p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms; hub CPU %.2f cores, %.2f µs per delivery\n",
			r.LatP50Ms, r.LatP99Ms, r.LatP999Ms, r.LatMaxMs, r.HubCPUCores, r.HubCPUPerDelivU)
	}
	if r.NATSRSSMiB > 0 {
		fmt.Fprintf(w, "  NATS server RSS %.1f MiB at the end, CPU %.2f cores while publishing\n", r.NATSRSSMiB, r.NATSCPUCores)
	}
}

// publish runs the publishers and returns how many publishes succeeded and
// their round-trip times. Publish i goes to the node nodeFor names; perNode
// counts the successes by node.
func publish(ctx context.Context, o *options, errs *atomic.Int64, perNode []int) (int, histogram) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Publishers}, Timeout: 30 * time.Second}
	var next atomic.Int64
	var mu sync.Mutex
	var rtt histogram
	stopAt := time.Now().Add(o.Duration)
	pad := strings.Repeat("x", max(o.Size-64, 0))
	var wg sync.WaitGroup
	start := time.Now()
	for p := 0; p < o.Publishers; p++ {
		wg.Go(func() {
			var local histogram
			localPerNode := make([]int, len(perNode))
			defer func() {
				mu.Lock()
				rtt.merge(&local)
				for n, c := range localPerNode {
					perNode[n] += c
				}
				mu.Unlock()
			}()
			var body bytes.Buffer
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				i := next.Add(1) - 1
				if o.Count > 0 && i >= int64(o.Count) {
					return
				}
				if o.Rate > 0 { // publish i is due at start + i/rate
					if d := time.Until(start.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				topic := int(i % int64(o.Topics))
				seq := i/int64(o.Topics) + 1
				body.Reset()
				t0 := time.Now()
				fmt.Fprintf(&body, `{"t":%d,"s":%d,"p":"%s"}`, t0.UnixNano(), seq, pad)
				node := nodeFor(int(i), o.Topics, len(o.URLs))
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.URLs[node].String()+o.proto.pubPath+topicName(o.Prefix, topic), bytes.NewReader(body.Bytes()))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if !o.proto.accepted(resp.StatusCode) {
					errs.Add(1)
					continue
				}
				local.record(time.Since(t0))
				localPerNode[node]++
			}
		})
	}
	wg.Wait()
	return int(rtt.N), rtt // every success is recorded once
}

// usage is the resident memory and CPU time of one or more processes at
// one moment, summed.
type usage struct {
	at     time.Time
	rss    int64   // bytes
	cpu    float64 // seconds
	procs  int     // processes (or /metrics endpoints) summed
	source string
}

// sampleHub sums the usage of every hub: from /proc when their PIDs are
// known, else from each URL's Prometheus metrics.
func sampleHub(o *options) (usage, error) {
	if len(o.HubPIDs) > 0 {
		return sampleProcs(o.HubPIDs)
	}
	return sampleMetrics(o.URLs)
}

// sampleNATS reads the NATS server's usage, or nothing without -nats-pid.
func sampleNATS(o *options) (usage, error) {
	if o.NATSPID == 0 {
		return usage{at: time.Now()}, nil
	}
	return sampleProcs([]int{o.NATSPID})
}

// sampleProcs sums the usage of processes from /proc.
func sampleProcs(pids []int) (usage, error) {
	sum := usage{at: time.Now(), source: "/proc"}
	for _, pid := range pids {
		u, err := readProc(pid)
		if err != nil {
			return sum, err
		}
		sum.rss += u.rss
		sum.cpu += u.cpu
		sum.procs++
	}
	return sum, nil
}

// readProc reads one process's resident memory and CPU time from /proc.
func readProc(pid int) (usage, error) {
	u := usage{at: time.Now(), procs: 1, source: "/proc"}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			u.rss = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) > 12 {
		ut, _ := strconv.ParseFloat(fields[11], 64)
		st, _ := strconv.ParseFloat(fields[12], 64)
		u.cpu = (ut + st) / 100 // clock ticks; USER_HZ is 100 on Linux
	}
	return u, nil
}

// sampleMetrics sums process_resident_memory_bytes and
// process_cpu_seconds_total over the hubs' /metrics.
func sampleMetrics(urls []*url.URL) (usage, error) {
	sum := usage{at: time.Now(), source: "/metrics"}
	for _, base := range urls {
		resp, err := http.Get(base.String() + "/metrics")
		if err != nil {
			return sum, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return sum, err
		}
		if resp.StatusCode != http.StatusOK {
			return sum, fmt.Errorf("%s/metrics: %s", base, resp.Status)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			name, val, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			f, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
			switch name {
			case "process_resident_memory_bytes":
				sum.rss += int64(f)
			case "process_cpu_seconds_total":
				sum.cpu += f
			}
		}
		sum.procs++
	}
	return sum, nil
}
