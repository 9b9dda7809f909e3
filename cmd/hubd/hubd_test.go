package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain removes the binary that buildHubd made, once every test ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the daemon binary, compiled once for all the tests that run it.
var built struct {
	once     sync.Once
	dir, bin string
	out      []byte
	err      error
}

// buildHubd returns the path of the daemon binary, compiling it the first
// time into a temporary folder that TestMain removes.
func buildHubd(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "hubd-test-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "hubd")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// startHubd runs the binary and returns its base URL once it listens.
func startHubd(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...))
}

// startCmd starts a prepared hubd command and returns its base URL once it
// listens.
func startCmd(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, string) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() { // ends when hubd closes its stdout
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("hubd exited before listening")
		}
		_, url, _ := strings.Cut(line, "listening on ")
		return cmd, strings.TrimSuffix(url, "/")
	case <-time.After(30 * time.Second):
		t.Fatal("hubd did not start listening within 30s")
	}
	return nil, ""
}

// TestDaemonEndToEnd runs the real binary: health, a subscription that
// receives a publish, then SIGTERM, which must abort the stream (so that
// Datastar clients reconnect) and exit 0 within the grace period.
func TestDaemonEndToEnd(t *testing.T) {
	bin := buildHubd(t)
	var logs strings.Builder // written by the process's copier, read after Wait
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-shutdown-grace", "5s", "-log-level", "warn", "-log-format", "text")
	cmd.Stderr = &logs
	cmd, base := startCmd(t, cmd)

	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	stream, err := http.Get(base + "/topics/news")
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", stream, err)
	}
	defer stream.Body.Close()
	r := bufio.NewReader(stream.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "id: ") {
		t.Fatalf("first line %q (%v), want the cursor id", line, err)
	}

	pub, err := http.Post(base+"/topics/news", "text/html", strings.NewReader(`<div id="x">hi</div>`))
	if err != nil || pub.StatusCode != 200 {
		t.Fatalf("publish: %v %v", pub, err)
	}
	pub.Body.Close()
	var got []string
	for len(got) == 0 || got[len(got)-1] != "" {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\n" && len(got) == 0 {
			continue // the blank line after the cursor frame
		}
		got = append(got, strings.TrimSuffix(line, "\n"))
	}
	if !strings.Contains(strings.Join(got, "\n"), `data: elements <div id="x">hi</div>`) {
		t.Fatalf("event: %q", got)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, r)
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("stream after SIGTERM ended with %v, want an aborted connection", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("hubd exited with %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hubd did not exit within the 5s grace period")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	// A graceful stop is no error: once "watch hang-ups" logged the closed
	// epoll descriptor that stops the watcher as one.
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a graceful stop logged an error:\n%s", logs.String())
	}
}

// TestDaemonBadConfigExits2 checks that the binary refuses bad settings
// with status 2 and an error naming each of them, and prints its version
// however it is asked.
func TestDaemonBadConfigExits2(t *testing.T) {
	bin := buildHubd(t)
	tests := []struct {
		name   string
		args   []string
		want   []string
		absent []string
	}{
		{"two bad settings", []string{"-history-size", "nope", "-heartbeat", "-1s"}, []string{"history-size", "heartbeat"}, nil},
		{"port out of range", []string{"-addr", ":99999"}, []string{`addr (from flag -addr): ":99999": port "99999" is not a number from 0 to 65535`}, []string{"loopback"}},
		{"bad node ID", []string{"-node-id", "eu 1"}, []string{`node-id (from flag -node-id): hub: invalid node ID: "eu 1"`}, nil},
		{"embedded without data-dir", []string{"-cluster", "embedded", "-cluster-max-msgs", "0"},
			[]string{`data-dir "": the embedded server needs a directory`, `cluster-max-msgs (from flag -cluster-max-msgs): "0" is not a positive whole number, nor none (or -1)`},
			[]string{"DataDir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(bin, tt.args...).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2\n%s", err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(string(out), a) {
					t.Errorf("output mentions %q:\n%s", a, out)
				}
			}
		})
	}
	for _, arg := range []string{"version", "-version", "--version"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(bin, arg).CombinedOutput()
			if err != nil || string(out) != "hubd dev\n" {
				t.Errorf("hubd %s: %q %v, want \"hubd dev\\n\"", arg, out, err)
			}
		})
	}
}

// TestListenerSetsUserTimeout checks that accepted connections carry the
// TCP user timeout, so that the kernel drops a peer that vanished.
func TestListenerSetsUserTimeout(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_USER_TIMEOUT is Linux only")
	}
	t.Parallel()
	cfg := &config{Addr: "127.0.0.1:0", Heartbeat: 15 * time.Second, WriteTimeout: 10 * time.Second}
	ln, err := listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	got := userTimeout(t, sc.(*net.TCPConn))
	if got != 25000 {
		t.Fatalf("accepted connection has TCP_USER_TIMEOUT %d ms, want 25000", got)
	}
}

// TestSlowHeadersAreCut checks the defence against slow-loris clients: a
// connection that never finishes its headers is closed once
// read-header-timeout passes, and the hub goes on serving.
func TestSlowHeadersAreCut(t *testing.T) {
	bin := buildHubd(t)
	_, base := startHubd(t, bin, "-addr", "127.0.0.1:0", "-read-header-timeout", "300ms", "-log-level", "warn")
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /topics/news HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	// Wait for the hub to act, bounded so that a hub that never does fails.
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", time.Since(start))
	}
	t.Logf("closed after %v (%v)", time.Since(start).Round(time.Millisecond), err)
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after the slow client: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestDashboardStats runs the binary as make run does and follows the
// dashboard's statistics topic: the hub must publish its counters to it
// every second, and serve the demos while authorization is off.
func TestDashboardStats(t *testing.T) {
	bin := buildHubd(t)
	_, base := startHubd(t, bin, "-addr", "127.0.0.1:0", "-log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/topics/%24hubd/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe to the stats: %v %v", resp, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	found := false
	for !found && sc.Scan() {
		found = strings.HasPrefix(sc.Text(), "data: signals ") && strings.Contains(sc.Text(), `"clients":1`)
	}
	if !found {
		t.Fatalf("no statistics arrived: %v", sc.Err())
	}
	for _, path := range []string{"/", "/demo/counter", "/demo/chat"} {
		r, err := http.Get(base + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, r, err)
		}
		r.Body.Close()
	}
}

// TestRestartKeepsHistory stops the binary gracefully and starts it again
// with the same history-file: a client reconnecting with an ID of the
// first run gets exactly the events it missed, and IDs go on.
func TestRestartKeepsHistory(t *testing.T) {
	bin := buildHubd(t)
	file := filepath.Join(t.TempDir(), "history")
	args := []string{"-addr", "127.0.0.1:0", "-history-file", file, "-log-level", "warn"}
	publishOne := func(base, html string) string { return publishHTML(t, base, "news", html) }

	cmd, base := startHubd(t, bin, args...)
	var ids []string
	for i := range 3 {
		ids = append(ids, publishOne(base, fmt.Sprintf("<p>%d</p>", i)))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first run exited with %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no history saved: %v", err)
	}

	_, base = startHubd(t, bin, args...)
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("history file still there after the start: %v", err)
	}
	next := publishOne(base, "<p>3</p>")
	req, _ := http.NewRequest(http.MethodGet, base+"/topics/news", nil)
	req.Header.Set("Last-Event-ID", ids[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reconnect: %v %v", resp, err)
	}
	defer resp.Body.Close()
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			got = append(got, id)
		}
		if strings.Contains(line, "_hubdMissed") {
			t.Errorf("told it missed events: %s", line)
		}
		if len(got) == 4 {
			break
		}
	}
	// The replay (2, 3 of the first run, 4 of this one), then the cursor.
	want := []string{ids[1], ids[2], next, next}
	if !slices.Equal(got, want) {
		t.Errorf("after reconnecting with %s got IDs %q, want %q", ids[0], got, want)
	}
	if epoch := strings.Split(next, "-")[0]; epoch != strings.Split(ids[0], "-")[0] {
		t.Errorf("new ID %s is of another epoch than %s", next, ids[0])
	}
}

// publishHTML publishes one patch-elements event to topic and returns its
// event ID.
func publishHTML(t *testing.T, base, topic, html string) string {
	t.Helper()
	resp, err := http.Post(base+"/topics/"+topic, "text/html", strings.NewReader(html))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("publish: %s %s", resp.Status, b)
	}
	var res struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatalf("publish response: %v", err)
	}
	return res.ID
}

// openStream opens a stream of topic on base, resuming after lastID when it
// is not empty. The stream is closed when the test ends.
func openStream(ctx context.Context, t *testing.T, base, topic, lastID string) *bufio.Reader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/topics/"+topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Datastar-Request", "true")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe to %s: %s", base, resp.Status)
	}
	return bufio.NewReader(resp.Body)
}

// sseEvent is one event read from a stream: its id, event type and data
// lines (with the "data: " prefix removed).
type sseEvent struct {
	id, event string
	data      []string
}

// readEvent reads the next event of a stream, skipping comments (the
// heartbeats) and blocks that carry no field.
func readEvent(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	fields := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if fields > 0 {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
			fields++
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
			fields++
		case strings.HasPrefix(line, "data: "):
			ev.data = append(ev.data, strings.TrimPrefix(line, "data: "))
			fields++
		default:
			fields++ // retry: and anything else still makes an event
		}
	}
}

// TestCrashRestartReplaysHistory kills the binary with SIGKILL, so that it
// saves no history, and starts it again on the same address and files: a
// client reconnecting with an ID of the first run is told it missed events,
// then gets what was published since the restart, then live events.
func TestCrashRestartReplaysHistory(t *testing.T) {
	bin := buildHubd(t)
	file := filepath.Join(t.TempDir(), "history")
	cmd, base := startHubd(t, bin, "-addr", "127.0.0.1:0", "-history-file", file, "-log-level", "warn")
	publishHTML(t, base, "news", `<p id="n">0</p>`)
	old := publishHTML(t, base, "news", `<p id="n">1</p>`)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("hubd exited cleanly after SIGKILL")
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("history file after a crash: %v, want none", err)
	}

	_, again := startHubd(t, bin, "-addr", strings.TrimPrefix(base, "http://"), "-history-file", file, "-log-level", "warn")
	if again != base {
		t.Fatalf("restarted on %s, want %s", again, base)
	}
	after := publishHTML(t, base, "news", `<p id="n">after the restart</p>`)
	if strings.Split(after, "-")[0] == strings.Split(old, "-")[0] {
		t.Fatalf("the run after the crash kept the epoch of %s: %s", old, after)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := openStream(ctx, t, base, "news", old)
	next := func(what string) sseEvent {
		t.Helper()
		ev, err := readEvent(r)
		if err != nil {
			t.Fatalf("reading %s: %v", what, err)
		}
		return ev
	}

	if ev := next("the missed signal"); ev.event != "datastar-patch-signals" || ev.id != "" ||
		!slices.Equal(ev.data, []string{`signals {"_hubdMissed":true}`}) {
		t.Fatalf("first event %+v, want the _hubdMissed signal without an id", ev)
	}
	if ev := next("the event published after the restart"); ev.id != after || !slices.Contains(ev.data, `elements <p id="n">after the restart</p>`) {
		t.Fatalf("second event %+v, want %s: the event published after the restart", ev, after)
	}
	if ev := next("the cursor"); ev.id != after || ev.event != "" || len(ev.data) != 0 {
		t.Fatalf("third event %+v, want the cursor at %s", ev, after)
	}
	live := publishHTML(t, base, "news", `<p id="n">live</p>`)
	if ev := next("the live event"); ev.id != live || !slices.Contains(ev.data, `elements <p id="n">live</p>`) {
		t.Fatalf("live event %+v, want %s", ev, live)
	}
}
