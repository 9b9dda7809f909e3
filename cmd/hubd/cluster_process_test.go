package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startJetStream starts a NATS server with JetStream in the test process,
// on a free loopback port and a temporary store, and returns the
// server. It shuts down when the test ends.
func startJetStream(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready within 10s")
	}
	return srv
}

// waitReadyz polls base's /readyz until it answers 200, failing the test
// after 20 seconds.
func waitReadyz(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 within 20s (last: %v %v)", base, resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readPatches reads n events from r, each of which must be a
// patch-elements event (not the missed-events signal, not a cursor), and
// returns their IDs.
func readPatches(t *testing.T, name string, r *bufio.Reader, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		ev, err := readEvent(r)
		if err != nil {
			t.Fatalf("%s: after %v: %v", name, ids, err)
		}
		if ev.event != "datastar-patch-elements" {
			t.Fatalf("%s: after %v got %+v, want a patch-elements event", name, ids, ev)
		}
		ids = append(ids, ev.id)
	}
	return ids
}

// TestThreeNodeProcesses runs three hubd binaries joined to one NATS
// server: they behave as one hub. A publish on node 2 reaches readers on
// nodes 1 and 3 with the same IDs, in order. When node 1 dies by SIGKILL,
// its reader resumes on node 3 with its Last-Event-ID and gets exactly the
// events published meanwhile: none lost, none repeated, no missed signal.
func TestThreeNodeProcesses(t *testing.T) {
	bin := buildHubd(t)
	natsURL := startJetStream(t).ClientURL()
	var cmds [3]*exec.Cmd
	var bases [3]string
	for i := range 3 {
		cmds[i], bases[i] = startHubd(t, bin, "-addr", "127.0.0.1:0", "-cluster", natsURL,
			"-node-id", fmt.Sprintf("node-%d", i+1), "-log-level", "warn")
	}
	for _, base := range bases {
		waitReadyz(t, base)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	readers := [3]*bufio.Reader{0: openStream(ctx, t, bases[0], "news", ""), 2: openStream(ctx, t, bases[2], "news", "")}
	var cursor string
	for _, i := range []int{0, 2} {
		ev, err := readEvent(readers[i])
		if err != nil || ev.event != "" {
			t.Fatalf("node %d: first event %+v (%v), want the cursor", i+1, ev, err)
		}
		if cursor == "" {
			cursor = ev.id
		} else if ev.id != cursor {
			t.Fatalf("cursors differ between nodes: %s on node 1, %s on node 3", cursor, ev.id)
		}
	}

	var before []string
	for i := range 3 {
		before = append(before, publishHTML(t, bases[1], "news", fmt.Sprintf(`<p id="n">before %d</p>`, i)))
	}
	for _, i := range []int{0, 2} {
		if got := readPatches(t, fmt.Sprintf("node %d", i+1), readers[i], len(before)); !slices.Equal(got, before) {
			t.Fatalf("node %d read %v, want what node 2 published: %v", i+1, got, before)
		}
	}

	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmds[0].Wait(); err == nil {
		t.Fatal("node 1 exited cleanly after SIGKILL")
	}
	if _, err := io.Copy(io.Discard, readers[0]); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("node 1's stream ended with %v after SIGKILL, want a broken stream", err)
	}

	var meanwhile []string
	for i := range 4 {
		meanwhile = append(meanwhile, publishHTML(t, bases[1], "news", fmt.Sprintf(`<p id="n">meanwhile %d</p>`, i)))
	}
	// Node 3's own reader first, so that node 3 has applied all of them:
	// a client resuming earlier gets what the node has applied, its cursor,
	// then the rest live, which is just as complete but another shape.
	if got := readPatches(t, "node 3", readers[2], len(meanwhile)); !slices.Equal(got, meanwhile) {
		t.Fatalf("node 3's own reader read %v, want %v", got, meanwhile)
	}
	resumed := openStream(ctx, t, bases[2], "news", before[len(before)-1])
	if got := readPatches(t, "resumed on node 3", resumed, len(meanwhile)); !slices.Equal(got, meanwhile) {
		t.Fatalf("resumed on node 3 with %s: replay %v, want exactly %v", before[len(before)-1], got, meanwhile)
	}
	if ev, err := readEvent(resumed); err != nil || ev.event != "" || ev.id != meanwhile[len(meanwhile)-1] {
		t.Fatalf("after the replay: %+v (%v), want the cursor %s", ev, err, meanwhile[len(meanwhile)-1])
	}

	live := publishHTML(t, bases[1], "news", `<p id="n">live</p>`)
	for name, r := range map[string]*bufio.Reader{"resumed": resumed, "node 3": readers[2]} {
		ev, err := readEvent(r)
		if err != nil || ev.id != live || !strings.Contains(strings.Join(ev.data, "\n"), "live") {
			t.Fatalf("%s: next event %+v (%v), want only the live one %s", name, ev, err, live)
		}
	}
}

// consecutiveFreePorts returns the first of n loopback ports in a row that
// were free a moment ago.
func consecutiveFreePorts(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		first := 20000 + rand.IntN(30000)
		var lns []net.Listener
		for p := first; p < first+n; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if len(lns) == n {
			return first
		}
	}
	t.Fatalf("found no %d free ports in a row", n)
	return 0
}

// TestClusterScript runs make cluster (scripts/cluster.sh, which the
// cluster load scenario runs too) on free ports: it prints "ready" once its
// three nodes are ready, and they share one event log; Ctrl-C (SIGINT to
// its process group) stops the script with status 0 and every process it
// started.
func TestClusterScript(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("scripts/cluster.sh polls /readyz with curl, which is not installed")
	}
	hubdBin := buildHubd(t)
	natsBin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	natsPort, basePort := freePort(t), consecutiveFreePorts(t, 3)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make cluster needs make, which is not installed")
	}
	cmd := exec.Command("make", "-C", filepath.Join("..", ".."), "--no-print-directory", "cluster")
	cmd.Env = append(os.Environ(), "SKIP_BUILD=1", "HUBD_BIN="+hubdBin, "NATS_SERVER_BIN="+natsBin,
		"NATS_PORT="+strconv.Itoa(natsPort), "BASE_PORT="+strconv.Itoa(basePort),
		"CLUSTER_DIR="+t.TempDir(), "HUBD_FLAGS=-log-level warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan bool, 1)
	go func() { // ends when the script and its children close stdout
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		close(ready)
	}()
	t.Cleanup(func() { // the script's group, should the test stop early
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("cluster.sh ended before ready: %v\n%s", cmd.Wait(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("cluster.sh not ready within 60s:\n%s", stderr.String())
	}

	bases := make([]string, 3)
	for i := range bases {
		bases[i] = fmt.Sprintf("http://127.0.0.1:%d", basePort+i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := openStream(ctx, t, bases[0], "news", "")
	if ev, err := readEvent(r); err != nil || ev.event != "" {
		t.Fatalf("first event %+v (%v), want the cursor", ev, err)
	}
	id := publishHTML(t, bases[2], "news", `<p id="n">through the script's cluster</p>`)
	if got := readPatches(t, "node 1", r, 1); got[0] != id {
		t.Fatalf("node 1 read %v, want %s published on node 3", got, id)
	}

	// Ctrl-C in a terminal: SIGINT to the whole foreground process group,
	// the script and whatever it started in it. make reports any status
	// but 0 as an error.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		// make itself dies of the SIGINT, as any program does, once the
		// script has stopped; what it must not do is report the script
		// as failed ("make: *** [Makefile:…: cluster] Error 1") or as
		// interrupted, which would say the nodes were not stopped in
		// order.
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
			t.Errorf("make cluster ended with %v after Ctrl-C, want status 0 or SIGINT", err)
		}
		if strings.Contains(stderr.String(), "make: ***") || !strings.Contains(stderr.String(), "stopped") {
			t.Fatalf("make cluster after Ctrl-C:\n%s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("cluster.sh still running 30s after Ctrl-C:\n%s", stderr.String())
	}
	for _, port := range []int{natsPort, basePort, basePort + 1, basePort + 2} {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			t.Errorf("port %d still answers after cluster.sh stopped", port)
		}
	}
}
