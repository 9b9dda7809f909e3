package main

import (
	"bufio"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPWithoutTLS sends SIGHUP, which `systemctl reload` sends, to a
// hubd without TLS: it must log that there is nothing to reload and go on
// serving, not die of the signal's default action. The binary runs under
// `env --default-signal=HUP` so that it starts with that default, as
// systemd starts services, whatever the test process ignores.
func TestSIGHUPWithoutTLS(t *testing.T) {
	if _, err := exec.LookPath("env"); err != nil {
		t.Skip("no env command")
	}
	bin := buildHubd(t)
	cmd := exec.Command("env", "--default-signal=HUP", bin, "-addr", "127.0.0.1:0", "-log-format", "text")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	noted := make(chan struct{})
	go func() { // ends when hubd closes its stderr
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "SIGHUP: nothing to reload") {
				close(noted)
			}
		}
	}()
	cmd, base := startCmd(t, cmd)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-noted:
	case <-time.After(10 * time.Second):
		t.Fatal("no log line saying SIGHUP had nothing to reload within 10s")
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after SIGHUP: /healthz %s", resp.Status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGHUP then SIGTERM: %v, want exit 0", err)
	}
}
