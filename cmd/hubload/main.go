// Command hubload measures a hubd: it holds many subscribers open, publishes
// at a given rate and size, and reports deliveries per second,
// publish-to-receive latency, events lost and repeated per subscriber, and
// the hub's memory and CPU.
//
// Subscribers are spread over loopback source addresses (127.0.0.2, ...)
// and, with -workers, over several processes, because one process may hold
// only so many open files. Every run ends by itself, and traffic goes only
// to the hub URLs given, which must be loopback addresses.
//
// Given several URLs (the nodes of a cluster), hubload spreads both the
// subscribers and the publishes of every topic over all of them, so that
// most events are published on one node and received on the others; loss,
// repeats and latency are counted end to end, whichever node delivered.
// Memory and CPU are then summed over every hub process (-hub-pid takes a
// list), and the NATS server's are reported beside them (-nats-pid).
//
// With -target nchan, the hub is nginx with the nchan module (the
// reference of bench/nchan.conf): subscribers read GET /sub/<topic> as an
// EventSource and publishes go to POST /pub/<topic>, with the same
// payloads, so that both hubs are measured by the same tool. Its -hub-pid
// list is the nginx master and its workers.
//
// hubload -summarize FILE... reads the reports of earlier runs (their
// last JSON line) and prints a markdown table, one row per scenario and
// one group of columns per -label, with the ratios of the first label's
// figures to each other's (see summarize.go).
//
//	hubload -url http://127.0.0.1:8080 -subscribers 10000 -rate 20 -duration 60s -hub-pid 1234
//	hubload -url http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083 \
//		-hub-pid 11,12,13 -nats-pid 10 -subscribers 9000 -rate 5 -duration 30s
//	hubload -target nchan -url http://127.0.0.1:18090 -hub-pid 20,21,22 -subscribers 10000 -count 1000
//	hubload -summarize bench/2026-11-26/vs/2026-11-26-*.txt
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hubload:", err)
		os.Exit(1)
	}
}

// options are hubload's flags; workers get the same ones plus their share.
type options struct {
	URL         string // as given: one URL, or several separated by commas
	URLs        []*url.URL
	Target      string // "hubd" or "nchan": which wire protocol the hub speaks
	proto       *protocol
	Label       string // the target's name in the report and the summary
	Scenario    string
	Subscribers int
	Workers     int
	Topics      int
	Prefix      string
	SourceIPs   int
	Ramp        int // connections per second, over all workers
	Hold        time.Duration
	Rate        float64 // publishes per second; 0 = as fast as the publishers go
	Count       int     // publishes in all; 0 = until Duration
	Duration    time.Duration
	Publishers  int
	Size        int
	Drain       time.Duration
	HubPIDs     pidList
	NATSPID     int
	JSON        bool
	NoPublish   bool

	worker bool
	first  int // the worker's first subscriber index
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("hubload", flag.ContinueOnError)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "hub base URL, or the nodes' URLs separated by commas, over which subscribers and publishes are spread (loopback only)")
	fs.StringVar(&o.Target, "target", "hubd", "what the hub is: hubd, or nchan (nginx with bench/nchan.conf)")
	fs.StringVar(&o.Label, "label", "", "name of the target in the report and in -summarize tables (default: -target)")
	fs.StringVar(&o.Scenario, "scenario", "custom", "name printed in the report")
	fs.IntVar(&o.Subscribers, "subscribers", 1000, "subscribers to hold open")
	fs.IntVar(&o.Workers, "workers", 1, "worker processes to spread subscribers over (each may hold ~19,000)")
	fs.IntVar(&o.Topics, "topics", 1, "topics; subscriber i follows topic i mod topics, publish j goes to topic j mod topics")
	fs.StringVar(&o.Prefix, "prefix", "", "topic name prefix (default: load-<time>)")
	fs.IntVar(&o.SourceIPs, "source-ips", 64, "loopback source addresses to spread connections over")
	fs.IntVar(&o.Ramp, "ramp", 2000, "new connections per second")
	fs.DurationVar(&o.Hold, "hold", 0, "how long to hold the subscribers before publishing")
	fs.Float64Var(&o.Rate, "rate", 0, "publishes per second over all publishers; 0 = unthrottled")
	fs.IntVar(&o.Count, "count", 0, "publishes in all; 0 = until -duration")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "longest publishing phase")
	fs.IntVar(&o.Publishers, "publishers", 1, "concurrent publishers, each waiting for every answer")
	fs.IntVar(&o.Size, "size", 256, "payload size in bytes")
	fs.DurationVar(&o.Drain, "drain", 10*time.Second, "longest wait for the last deliveries after publishing")
	fs.Var(&o.HubPIDs, "hub-pid", "hub process IDs, comma separated or repeated, to read and sum their RSS and CPU from /proc (else summed from each URL's /metrics)")
	fs.IntVar(&o.NATSPID, "nats-pid", 0, "NATS server process ID, to report its RSS and CPU from /proc beside the hubs'")
	fs.BoolVar(&o.JSON, "json", false, "print only the JSON result line")
	fs.BoolVar(&o.NoPublish, "no-publish", false, "only hold the subscribers (for -hold), publish nothing")
	fs.BoolVar(&o.worker, "worker", false, "internal: run as a worker")
	fs.IntVar(&o.first, "first", 0, "internal: first subscriber index of a worker")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var errs []error
	for raw := range strings.SplitSeq(o.URL, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("-url %q: %v", raw, err))
		case u.Scheme != "http" || !isLoopback(u.Host):
			errs = append(errs, fmt.Errorf("-url %q: must be http:// on a loopback address", raw))
		default:
			u.Path = strings.TrimSuffix(u.Path, "/")
			o.URLs = append(o.URLs, u)
		}
	}
	var ok bool
	if o.proto, ok = protocols[o.Target]; !ok {
		errs = append(errs, fmt.Errorf("-target %q: want hubd or nchan", o.Target))
	}
	if o.Label == "" {
		o.Label = o.Target
	}
	if o.Target == "nchan" && len(o.HubPIDs) == 0 && !o.worker {
		errs = append(errs, errors.New("-target nchan needs -hub-pid (the nginx master and workers): nginx has no /metrics"))
	}
	if o.NATSPID < 0 {
		errs = append(errs, fmt.Errorf("-nats-pid %d: must be a process ID", o.NATSPID))
	}
	if o.Subscribers < 0 || o.Workers < 1 || o.Topics < 1 || o.Publishers < 1 || o.Size < 32 || o.Ramp < 1 {
		errs = append(errs, errors.New("-subscribers >= 0, -workers, -topics, -publishers, -ramp >= 1 and -size >= 32 are required"))
	}
	if o.Rate < 0 || o.Count < 0 || o.Duration <= 0 {
		errs = append(errs, errors.New("-rate and -count must not be negative, -duration must be positive"))
	}
	if o.Prefix == "" {
		o.Prefix = fmt.Sprintf("load-%d", time.Now().Unix())
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) > 0 && (args[0] == "-summarize" || args[0] == "--summarize") {
		return summarizeFiles(args[1:], stdout)
	}
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	raiseFileLimit()
	if o.worker {
		return runWorker(ctx, o, stdin, stdout)
	}
	return runParent(ctx, o, stdout)
}

// raiseFileLimit lifts the soft open-file limit to the hard one.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) // best effort: the run reports what it reached
	}
}

// Messages between the parent and its workers, one JSON object a line.
type (
	readyMsg struct {
		Connected int    `json:"connected"`
		PerNode   []int  `json:"per_node"` // connected, by index in -url
		Failed    int    `json:"failed"`
		Err       string `json:"err,omitempty"`
	}
	finishMsg struct {
		Published int `json:"published"` // publishes in all, round robin over the topics
	}
	resultMsg struct {
		Connected  int       `json:"connected"`
		Received   uint64    `json:"received"`
		Expected   uint64    `json:"expected"`
		Lost       uint64    `json:"lost"`
		Dups       uint64    `json:"dups"`
		Reconnects int       `json:"reconnects"`
		Latency    histogram `json:"latency"`
	}
)

// expectedFor returns how many of published round-robin publishes went to
// topic index t of topics.
func expectedFor(published, topics, t int) uint64 {
	n := published / topics
	if t < published%topics {
		n++
	}
	return uint64(n)
}

// nodeFor returns which of nodes the i-th subscriber (or publish) of a run
// goes to. Item i belongs to topic i mod topics and is that topic's
// (i / topics)-th; consecutive items of one topic go to consecutive
// nodes, so every topic has subscribers and publishes on every node, even
// when topics and nodes share a factor.
func nodeFor(i, topics, nodes int) int { return (i / max(topics, 1)) % max(nodes, 1) }

// pidList is a flag of process IDs, comma separated or repeated, each
// kept once.
type pidList []int

func (p *pidList) String() string {
	parts := make([]string, len(*p))
	for i, pid := range *p {
		parts[i] = strconv.Itoa(pid)
	}
	return strings.Join(parts, ",")
}

func (p *pidList) Set(v string) error {
	for f := range strings.SplitSeq(v, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return fmt.Errorf("%q is not a process ID", f)
		}
		if !slices.Contains(*p, pid) {
			*p = append(*p, pid)
		}
	}
	return nil
}

// runWorker holds subscribers [first, first+subscribers), says when they
// are all connected, waits for the number of publishes, then reports what
// its subscribers received.
func runWorker(ctx context.Context, o *options, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := make([]*subscriber, o.Subscribers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ready := readyMsg{PerNode: make([]int, len(o.URLs))}
	var connWG sync.WaitGroup
	interval := time.Second / time.Duration(o.Ramp)
	start := time.Now()
	for i := range subs {
		idx := o.first + i
		node := nodeFor(idx, o.Topics, len(o.URLs))
		subs[i] = &subscriber{
			topic: topicFor(o.Prefix, idx, o.Topics), local: sourceIP(idx, o.SourceIPs),
			target: o.URLs[node], proto: o.proto, bufSize: o.Size + 1024,
		}
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		connWG.Add(1)
		wg.Go(func() {
			subs[i].run(ctx, func(err error) {
				mu.Lock()
				if err != nil {
					ready.Failed++
					if ready.Err == "" {
						ready.Err = err.Error()
					}
				} else {
					ready.Connected++
					ready.PerNode[node]++
				}
				mu.Unlock()
				connWG.Done()
			})
		})
	}
	connWG.Wait()
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(ready); err != nil {
		return err
	}

	var fin finishMsg
	if err := json.NewDecoder(stdin).Decode(&fin); err != nil {
		return fmt.Errorf("worker: read finish: %w", err)
	}
	expected := func(s *subscriber, idx int) uint64 { return expectedFor(fin.Published, o.Topics, idx%o.Topics) }
	deadline := time.Now().Add(o.Drain)
	for time.Now().Before(deadline) {
		done := true
		for i, s := range subs {
			s.mu.Lock()
			short := s.connected && s.received-s.dups < expected(s, o.first+i)
			s.mu.Unlock()
			if short {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	var res resultMsg
	for i, s := range subs {
		if !s.connected {
			continue
		}
		want := expected(s, o.first+i)
		got := min(s.received-s.dups, want)
		res.Connected++
		res.Received += s.received
		res.Expected += want
		res.Lost += want - got
		res.Dups += s.dups
		res.Reconnects += s.reconnects
		res.Latency.merge(&s.lat)
	}
	return enc.Encode(res)
}

// workerProc is a running worker: a process, or with -workers 1 a
// goroutine of this one.
type workerProc struct {
	cmd   *exec.Cmd
	done  chan error // the in-process worker's result
	in    io.WriteCloser
	out   *json.Decoder
	ready readyMsg
}

// wait waits for the worker to end after its input is closed.
func (p *workerProc) wait() error {
	p.in.Close()
	if p.cmd != nil {
		return p.cmd.Wait()
	}
	return <-p.done
}

// startInProcess runs the only worker as a goroutine that talks to the
// parent through pipes, exactly as a worker process would.
func startInProcess(ctx context.Context, o *options) *workerProc {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	w := *o
	w.worker, w.first = true, 0
	p := &workerProc{done: make(chan error, 1), in: inW, out: json.NewDecoder(outR)}
	go func() { // ends when runWorker does; wait collects it
		err := runWorker(ctx, &w, inR, outW)
		outW.CloseWithError(err)
		p.done <- err
	}()
	return p
}

func startWorkers(ctx context.Context, o *options) ([]*workerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var procs []*workerProc
	if o.Workers == 1 {
		procs = append(procs, startInProcess(ctx, o))
	}
	per := (o.Subscribers + o.Workers - 1) / o.Workers
	for w := 0; w < o.Workers && o.Workers > 1; w++ {
		first := w * per
		n := min(per, o.Subscribers-first)
		if n <= 0 {
			break
		}
		args := []string{"-worker", "-url", o.URL, "-target", o.Target, "-prefix", o.Prefix, "-topics", fmt.Sprint(o.Topics),
			"-subscribers", fmt.Sprint(n), "-first", fmt.Sprint(first), "-source-ips", fmt.Sprint(o.SourceIPs),
			"-ramp", fmt.Sprint(max(o.Ramp/o.Workers, 1)), "-size", fmt.Sprint(o.Size), "-drain", o.Drain.String()}
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return procs, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return procs, err
		}
		if err := cmd.Start(); err != nil {
			return procs, err
		}
		procs = append(procs, &workerProc{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out))})
	}
	for _, p := range procs {
		if err := p.out.Decode(&p.ready); err != nil {
			return procs, fmt.Errorf("worker did not get ready: %w", err)
		}
	}
	return procs, nil
}
