package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// hostileStream serves, at any path, an event stream whose first event is
// payload and, after it, an endless line if endless is set; it stops
// writing once the client has gone.
func hostileStream(t *testing.T, payload string, endless bool) *httptest.Server {
	srv, _ := countedStream(t, payload, endless)
	return srv
}

// countedStream is hostileStream that also tells, on the channel, how
// many bytes of the endless line each request was sent before its client
// hung up, once its handler has returned.
func countedStream(t *testing.T, payload string, endless bool) (*httptest.Server, <-chan int64) {
	t.Helper()
	sent := make(chan int64, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, payload)
		rc := http.NewResponseController(w)
		rc.Flush()
		if !endless {
			<-r.Context().Done()
			return
		}
		var n int64
		defer func() { sent <- n }()
		fmt.Fprint(w, "data: ")
		chunk := strings.Repeat("x", 64<<10)
		for {
			if _, err := io.WriteString(w, chunk); err != nil {
				return // the client hung up
			}
			if rc.Flush() != nil {
				return
			}
			n += int64(len(chunk))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, sent
}

// TestSubscribeCLIBoundsLines runs hubd subscribe against a hub that sends
// one endless line: it must stop with an error naming the limit in force,
// its own (-max-line-bytes) or the default, within bounded memory, and
// refuse a limit that lets nothing through.
func TestSubscribeCLIBoundsLines(t *testing.T) {
	bin := buildHubd(t)
	srv, sent := countedStream(t, "id: e-1\ndata: ok\n\n", true)
	// The default limit (2 MiB) and socket buffers of a few MiB each way.
	const maxSent = 32 << 20
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"own limit", []string{"-max-line-bytes", "4096"}, "a line of more than 4096 bytes"},
		{"default limit", nil, "a line of more than 2097152 bytes"},
	} {
		cmd := exec.Command(bin, append([]string{"subscribe", "-url", srv.URL, "-topic", "news"}, c.args...)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); !ok || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%s: %v, stderr %q; want a non-zero exit naming %q", c.name, err, errOut.String(), c.want)
		}
		if out.String() != "id: e-1\ndata: ok\n\n" {
			t.Errorf("%s: printed %q, want the first event alone", c.name, out.String())
		}
		// It stopped reading near the limit: what the hub got out before
		// the hang-up is the limit plus what the sockets' buffers hold.
		// (A child's peak RSS cannot tell: Linux counts the test
		// process's own, which the child shares until it execs.)
		n := <-sent
		t.Logf("%s: the hub sent %d KiB of the line before the hang-up", c.name, n>>10)
		if n > maxSent {
			t.Errorf("%s: the hub sent %d KiB of the line before the hang-up, want at most %d KiB", c.name, n>>10, maxSent>>10)
		}
	}
	for _, bad := range [][]string{{"-max-line-bytes", "0"}, {"-max-event-bytes", "-1"}} {
		_, errOut, code := hubdCLI(t, bin, nil, "", append([]string{"subscribe", "-url", srv.URL, "-topic", "news"}, bad...)...)
		if code != 2 || !strings.Contains(errOut, bad[0]+" "+bad[1]+": want more than 0") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming the flag", bad, code, errOut)
		}
	}
}
