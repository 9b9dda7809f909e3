package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	nchanModule = "/usr/lib/nginx/modules/ngx_nchan_module.so"
	nginxBinary = "/usr/sbin/nginx"
)

// startNchan runs nginx with bench/nchan.conf on a free loopback port from
// a temporary prefix, as scripts/bench-vs.sh does, and returns its URL and
// the PIDs of its master and workers; it stops when the test ends. The
// test skips where nginx or the nchan module is not installed.
func startNchan(t *testing.T) (string, []int) {
	t.Helper()
	for _, f := range []string{nginxBinary, nchanModule} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("nchan reference not installed (%v); scripts/bench-vs.sh installs it", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nginx takes the port; a race with another process fails the start below

	conf, err := os.ReadFile(filepath.Join("..", "..", "bench", "nchan.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, bytes.ReplaceAll(conf, []byte("@PORT@"), []byte(strconv.Itoa(port))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginxBinary, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "logs", "error.log"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once nginx has exited and waitErr is set, so that
	// both the start loop and the cleanup can wait for it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }() // ends when nginx does; the cleanup waits for it
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // fails, harmlessly, if nginx has exited
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Error("nginx did not stop on SIGTERM")
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Logf("nginx output: %s\nerror log:\n%s", stderr.String(), log)
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("nginx exited: %v: %s", waitErr, stderr.String())
		default:
		}
		workers := childPIDs(t, cmd.Process.Pid)
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusNotFound && len(workers) == 2 {
			return url, append([]int{cmd.Process.Pid}, workers...)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not serving with 2 workers after 10s: %v, workers %v", err, workers)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		// pid (comm) state ppid ...
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, child)
		}
	}
	return kids
}

// TestRunAgainstNchan runs a small load against real nginx + nchan with
// the benchmark's configuration: every subscriber counted as connected
// gets every event of its topic once, even the first publish, sent the
// moment the last subscriber is counted; nchan's own channel info agrees
// on what was published; and the hub's figures are summed over the master
// and both workers.
func TestRunAgainstNchan(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("hub usage is read from /proc")
	}
	url, pids := startNchan(t)
	prefix := fmt.Sprintf("nchantest-%d", time.Now().UnixNano())
	// 60 subscribers over 3 topics and 600 publishes: 200 per topic, each
	// to 20 subscribers.
	rep := runJSON(t, "-target", "nchan", "-url", url, "-hub-pid", (*pidList)(&pids).String(), "-prefix", prefix,
		"-subscribers", "60", "-topics", "3", "-count", "600", "-publishers", "3", "-size", "200",
		"-source-ips", "4", "-drain", "20s", "-label", "nginx+nchan")
	if rep.Target != "nchan" || rep.Label != "nginx+nchan" {
		t.Errorf("target %q, label %q", rep.Target, rep.Label)
	}
	if rep.Connected != 60 || rep.Published != 600 || rep.PublishErrors != 0 {
		t.Fatalf("connected %d, published %d (%d errors)", rep.Connected, rep.Published, rep.PublishErrors)
	}
	if rep.Expected != 60*200 || rep.Deliveries != rep.Expected || rep.Lost != 0 || rep.Dups != 0 || rep.Reconnects != 0 {
		t.Fatalf("expected %d, delivered %d, lost %d, repeated %d, reconnects %d",
			rep.Expected, rep.Deliveries, rep.Lost, rep.Dups, rep.Reconnects)
	}
	if rep.LatMaxMs <= 0 || rep.PubMaxMs <= 0 {
		t.Fatalf("no latency: %+v", rep)
	}
	for topic := range 3 {
		if got := nchanQueued(t, url, topicName(prefix, topic)); got != 200 {
			t.Errorf("nchan holds %d messages of topic %d, want 200", got, topic)
		}
	}

	if rep.HubSource != "/proc" || rep.HubProcesses != 3 {
		t.Fatalf("hub usage from %s over %d processes", rep.HubSource, rep.HubProcesses)
	}
	// The CPU charged to the deliveries is some, and no more than the
	// nginx processes have used in all.
	all, err := sampleProcs(pids)
	if err != nil {
		t.Fatal(err)
	}
	total := all.cpu
	if charged := rep.HubCPUPerDelivU * float64(rep.Deliveries) / 1e6; charged <= 0 || charged > total+1e-9 {
		t.Errorf("CPU per delivery %.2fµs: %.3fs over %d deliveries, nginx used %.3fs in all",
			rep.HubCPUPerDelivU, charged, rep.Deliveries, total)
	}
}

// nchanQueued asks nchan's publisher location how many messages a channel
// holds.
func nchanQueued(t *testing.T, url, topic string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/pub/"+topic, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "queued messages: "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("channel info %q: %v", body, err)
			}
			return n
		}
	}
	t.Fatalf("channel info of %s: %s %q", topic, resp.Status, body)
	return 0
}
