package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// hostileStream serves, at any path, an event stream whose first event is
// payload and, after it, an endless line if endless is set; it stops
// writing once the client has gone.
func hostileStream(t *testing.T, payload string, endless bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, payload)
		rc := http.NewResponseController(w)
		rc.Flush()
		if !endless {
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, "data: ")
		chunk := strings.Repeat("x", 64<<10)
		for {
			if _, err := io.WriteString(w, chunk); err != nil {
				return // the client hung up
			}
			if rc.Flush() != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSubscribeCLIBoundsLines runs hubd subscribe against a hub that sends
// one endless line: it must stop with an error naming the limit in force,
// its own (-max-line-bytes) or the default, within bounded memory, and
// refuse a limit that lets nothing through.
func TestSubscribeCLIBoundsLines(t *testing.T) {
	bin := buildHubd(t)
	srv := hostileStream(t, "id: e-1\ndata: ok\n\n", true)
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
		// The process held at most the limit and its buffers, not the line.
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
		t.Logf("%s: peak resident memory %d MiB", c.name, rss>>20)
		if rss > 128<<20 {
			t.Errorf("%s: peak resident memory %d MiB, want far less than the endless line", c.name, rss>>20)
		}
	}
	for _, bad := range [][]string{{"-max-line-bytes", "0"}, {"-max-event-bytes", "-1"}} {
		_, errOut, code := hubdCLI(t, bin, nil, "", append([]string{"subscribe", "-url", srv.URL, "-topic", "news"}, bad...)...)
		if code != 2 || !strings.Contains(errOut, bad[0]+" "+bad[1]+": want more than 0") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming the flag", bad, code, errOut)
		}
	}
}
