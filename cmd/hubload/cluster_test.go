package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// nodeEnv, when set to a NATS URL, makes the test binary run as one
// cluster node in its own process (see TestMain), so that a test can sum
// the usage of several real hub processes.
const nodeEnv = "HUBLOAD_TEST_NODE_NATS"

func TestMain(m *testing.M) {
	if natsURL := os.Getenv(nodeEnv); natsURL != "" {
		if err := serveNode(natsURL, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveNode joins the event log at natsURL, serves a hub on a free
// loopback port, prints its URL once it caught up with the log, and
// shuts down when stdin closes.
func serveNode(natsURL string, stdin io.Reader, stdout io.Writer) error {
	ctx := context.Background()
	l, err := cluster.Open(ctx, cluster.Config{URLs: natsURL}, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	h, err := hub.New(hub.Config{Log: l})
	if err != nil {
		return err
	}
	s, err := web.New(h, web.Config{})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(ln) // ends when srv.Close does, below
	if err := h.WaitCaughtUp(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	io.Copy(io.Discard, stdin) // until the test closes it
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	herr := h.Shutdown(sctx)
	srv.Close()
	return herr
}

// startNATS runs a NATS server with JetStream in this process, on a free
// loopback port, until the test ends.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	return ns.ClientURL()
}

// inProcessNode serves a hub on the event log at natsURL from this
// process, shut down (then its log closed) when the test ends.
func inProcessNode(t *testing.T, natsURL string) (*httptest.Server, *hub.Hub) {
	t.Helper()
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: natsURL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	h, err := hub.New(hub.Config{Log: l})
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(h, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
	if err := h.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv, h
}

// runJSON runs hubload with args plus -json and decodes its report.
func runJSON(t *testing.T, args ...string) report {
	t.Helper()
	var out bytes.Buffer
	if err := run(t.Context(), append(args, "-json"), strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	return rep
}

func TestNodeForSpreadsEveryTopicOverEveryNode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ items, topics, nodes int }{
		{30, 1, 3}, {90, 3, 3}, {180, 6, 3}, {24, 2, 4}, {10, 5, 1},
	} {
		t.Run(fmt.Sprintf("%d/%d/%d", tc.items, tc.topics, tc.nodes), func(t *testing.T) {
			t.Parallel()
			// count[topic][node]
			count := make([][]int, tc.topics)
			for i := range count {
				count[i] = make([]int, tc.nodes)
			}
			for i := range tc.items {
				n := nodeFor(i, tc.topics, tc.nodes)
				if n < 0 || n >= tc.nodes {
					t.Fatalf("item %d: node %d of %d", i, n, tc.nodes)
				}
				count[i%tc.topics][n]++
			}
			want := tc.items / tc.topics / tc.nodes
			for topic, byNode := range count {
				for node, c := range byNode {
					if c != want {
						t.Errorf("topic %d has %d items on node %d, want %d: %v", topic, c, node, want, count)
					}
				}
			}
		})
	}
}

func TestParseURLsAndPIDs(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"-url", "http://127.0.0.1:1, http://127.0.0.2:2/", "-hub-pid", "5,7", "-hub-pid", "5", "-hub-pid", "9"})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, u := range o.URLs {
		urls = append(urls, u.String())
	}
	if !slices.Equal(urls, []string{"http://127.0.0.1:1", "http://127.0.0.2:2"}) || !slices.Equal(o.HubPIDs, pidList{5, 7, 9}) {
		t.Fatalf("urls %v, pids %v", urls, o.HubPIDs)
	}
	for _, args := range [][]string{
		{"-url", "http://127.0.0.1:1,http://10.0.0.1:2"},
		{"-hub-pid", "5,x"},
		{"-hub-pid", "0"},
		{"-nats-pid", "-1"},
	} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// TestSpreadOverClusterNodes runs a load over three cluster nodes in this
// process: subscribers and publishes of each topic go to every node, and
// every subscriber gets every event of its topic once, whichever node it
// was published on. The hubs' own counters confirm the spread.
func TestSpreadOverClusterNodes(t *testing.T) {
	natsURL := startNATS(t)
	var urls []string
	var hubs []*hub.Hub
	for range 3 {
		srv, h := inProcessNode(t, natsURL)
		urls = append(urls, srv.URL)
		hubs = append(hubs, h)
	}
	// 30 subscribers over 2 topics and 3 nodes: 5 of each topic per node.
	// 120 publishes: 60 per topic, 20 per topic and node.
	rep := runJSON(t, "-url", strings.Join(urls, ","), "-subscribers", "30", "-topics", "2", "-count", "120",
		"-publishers", "3", "-size", "100", "-source-ips", "4", "-drain", "20s")
	if rep.Connected != 30 || rep.Published != 120 || rep.PublishErrors != 0 {
		t.Fatalf("connected %d, published %d (%d errors)", rep.Connected, rep.Published, rep.PublishErrors)
	}
	if rep.Expected != 30*60 || rep.Deliveries != rep.Expected || rep.Lost != 0 || rep.Dups != 0 {
		t.Fatalf("expected %d, delivered %d, lost %d, repeated %d", rep.Expected, rep.Deliveries, rep.Lost, rep.Dups)
	}
	if rep.Nodes != 3 || !slices.Equal(rep.NodeSubscribers, []int{10, 10, 10}) || !slices.Equal(rep.NodePublishes, []int{40, 40, 40}) {
		t.Fatalf("nodes %d, subscribers %v, publishes %v", rep.Nodes, rep.NodeSubscribers, rep.NodePublishes)
	}
	if rep.LatMaxMs <= 0 || rep.PubMaxMs <= 0 {
		t.Fatalf("no latency: %+v", rep)
	}
	for i, h := range hubs {
		st := h.Stats()
		// Each node took a third of the publishes and delivered all 60
		// events of each topic to its 10 subscribers: two thirds of them
		// arrived from the other nodes through the log.
		if st.Publishes != 40 || st.Deliveries != 10*60 {
			t.Errorf("node %d: %d publishes, %d deliveries; want 40 and 600", i, st.Publishes, st.Deliveries)
		}
	}
	// Three in-process hubs answer /metrics for one process: the sum
	// counts it three times.
	if rep.HubSource != "/metrics" || rep.HubProcesses != 3 {
		t.Fatalf("hub usage from %s over %d", rep.HubSource, rep.HubProcesses)
	}
	self, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.HubRSSMiB * (1 << 20); got < 2*float64(self.rss) || got > 4*float64(self.rss) {
		t.Errorf("summed RSS %.0f MiB for three reports of this process (%.0f MiB)", rep.HubRSSMiB, float64(self.rss)/(1<<20))
	}
}

// startNodeProcess runs this test binary as a cluster node (TestMain) and
// returns its URL and PID; it stops when the test ends.
func startNodeProcess(t *testing.T, natsURL string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), nodeEnv+"="+natsURL)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("node %d: %v", cmd.Process.Pid, err)
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("node did not start: %v", err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid
}

// TestSumsOverHubProcesses runs a load over three cluster nodes, each its
// own process, with NATS in this one: the hub figures are summed over the
// three processes and the NATS server's are reported beside them.
func TestSumsOverHubProcesses(t *testing.T) {
	natsURL := startNATS(t)
	var urls []string
	var pids []int
	for range 3 {
		u, pid := startNodeProcess(t, natsURL)
		urls = append(urls, u)
		pids = append(pids, pid)
	}
	rep := runJSON(t, "-url", strings.Join(urls, ","), "-hub-pid", (*pidList)(&pids).String(), "-nats-pid", fmt.Sprint(os.Getpid()),
		"-subscribers", "30", "-count", "60", "-publishers", "3", "-size", "100", "-source-ips", "4", "-drain", "20s")
	if rep.Connected != 30 || rep.Published != 60 || rep.Deliveries != 30*60 || rep.Lost != 0 || rep.Dups != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.HubSource != "/proc" || rep.HubProcesses != 3 || rep.NATSRSSMiB <= 0 {
		t.Fatalf("usage from %s over %d, NATS RSS %.1f MiB", rep.HubSource, rep.HubProcesses, rep.NATSRSSMiB)
	}

	// The sum lies between the processes' figures read just before and
	// just after it: exactly for CPU time, which only grows, and within
	// a tenth for the resident memory of processes now idle.
	readEach := func() (total usage) {
		for _, pid := range pids {
			u, err := readProc(pid)
			if err != nil {
				t.Fatal(err)
			}
			total.rss += u.rss
			total.cpu += u.cpu
		}
		return total
	}
	before := readEach()
	sum, err := sampleProcs(pids)
	if err != nil {
		t.Fatal(err)
	}
	after := readEach()
	if sum.procs != 3 || sum.cpu < before.cpu || sum.cpu > after.cpu {
		t.Errorf("summed CPU %.2fs over %d, want between %.2fs and %.2fs", sum.cpu, sum.procs, before.cpu, after.cpu)
	}
	lo, hi := min(before.rss, after.rss)*9/10, max(before.rss, after.rss)*11/10
	if sum.rss < lo || sum.rss > hi {
		t.Errorf("summed RSS %d, want between %d and %d", sum.rss, lo, hi)
	}
}
