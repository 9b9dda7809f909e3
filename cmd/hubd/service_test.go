package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unitFile is the shipped systemd unit, relative to this package.
const unitFile = "../../configs/hubd.service"

// unit is what the tests read of the shipped unit: the [Service] section's
// keys with their values in order, and the HUBD_ assignments its comments
// document for /etc/hubd/hubd.env, in blocks (runs of consecutive lines).
type unit struct {
	service    map[string][]string
	documented [][][2]string // blocks of name, value
}

var documentedEnv = regexp.MustCompile(`^#\s+(HUBD_[A-Z0-9_]+)=(.*)$`)

func readUnit(t *testing.T) unit {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{service: map[string][]string{}}
	section, inBlock := "", false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if m := documentedEnv.FindStringSubmatch(line); m != nil {
			if !inBlock {
				u.documented = append(u.documented, nil)
			}
			last := &u.documented[len(u.documented)-1]
			*last = append(*last, [2]string{m[1], m[2]})
			inBlock = true
			continue
		}
		inBlock = false
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not key=value", unitFile, line)
			}
			u.service[k] = append(u.service[k], v)
		}
	}
	return u
}

// one returns the single value of key in [Service].
func (u unit) one(t *testing.T, key string) string {
	t.Helper()
	if v := u.service[key]; len(v) == 1 {
		return v[0]
	}
	t.Fatalf("%s: [Service] has %q %d times, want once", unitFile, key, len(u.service[key]))
	return ""
}

// environment returns the unit's Environment= assignments with the state
// directory specifier %S replaced by stateRoot, as systemd expands it.
func (u unit) environment(t *testing.T, stateRoot string) [][2]string {
	t.Helper()
	var env [][2]string
	for _, v := range u.service["Environment"] {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			t.Fatalf("Environment=%s is not NAME=value", v)
		}
		env = append(env, [2]string{k, strings.ReplaceAll(val, "%S", stateRoot)})
	}
	return env
}

// TestServiceUnitVerifies: systemd itself finds nothing wrong with the
// unit (no unknown key, no bad value, the binary exists), and its
// security review rates it well hardened. It needs systemd-analyze, and
// skips without it except under CI=true.
func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no systemd-analyze: %v", err)
		}
		t.Skipf("no systemd-analyze: %v", err)
	}
	u := readUnit(t)
	exe := strings.Fields(u.one(t, "ExecStart"))[0]
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	// verify insists that ExecStart's binary exists: the built one stands
	// in for the installed one.
	copied := filepath.Join(t.TempDir(), "hubd.service")
	text := strings.ReplaceAll(string(b), "ExecStart="+exe, "ExecStart="+buildHubd(t))
	if err := os.WriteFile(copied, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", copied).CombinedOutput()
	// verify answers 0 with warnings for unknown keys: any word is a fault.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The threshold is in tenths of the printed level; 2.0 and under is OK.
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", copied).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security rates the unit above 2.0: %v\n%s", err, out)
	}
}

// TestServiceUnitSettings: every HUBD_ variable the unit sets or documents
// is a setting of hubd (hubd ignores unknown variables, so a misspelt one
// would silently do nothing), and systemd waits longer than hubd's
// graceful stop before it kills.
func TestServiceUnitSettings(t *testing.T) {
	u := readUnit(t)
	known := map[string]bool{"HUBD_CONFIG": true}
	for _, s := range settings {
		known[envName(s.name)] = true
	}
	names := 0
	check := func(name, where string) {
		names++
		if !known[name] {
			t.Errorf("%s: %s is not a hubd setting", where, name)
		}
	}
	for _, kv := range u.environment(t, "/var/lib") {
		check(kv[0], "Environment=")
	}
	for _, block := range u.documented {
		for _, kv := range block {
			check(kv[0], "the documented hubd.env")
		}
	}
	if names < 5 {
		t.Fatalf("found only %d HUBD_ names in %s: is the parser still right?", names, unitFile)
	}

	grace := DefaultShutdownGrace
	for _, kv := range u.environment(t, "/var/lib") {
		if kv[0] == envName("shutdown-grace") {
			d, err := time.ParseDuration(kv[1])
			if err != nil {
				t.Fatal(err)
			}
			grace = d
		}
	}
	stop, err := time.ParseDuration(u.one(t, "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if stop < grace+5*time.Second {
		t.Errorf("TimeoutStopSec=%v leaves no time past shutdown-grace %v to save the history", stop, grace)
	}
}

// TestServiceUnitRuns runs the built binary as the unit does: its
// arguments, its environment with %S pointing at a temporary state
// directory, and a hubd.env as the unit's comments describe (TLS, an
// address). ExecReload, run as written, reloads the certificate without a
// restart; KillSignal stops hubd within TimeoutStopSec with exit 0 and the
// history saved where the unit says. The documented embedded-cluster
// variant starts too and keeps its log in the state directory.
func TestServiceUnitRuns(t *testing.T) {
	bin := buildHubd(t)
	u := readUnit(t)
	args := strings.Fields(u.one(t, "ExecStart"))[1:]
	reload := strings.Fields(u.one(t, "ExecReload"))
	if len(reload) != 3 || reload[2] != "$MAINPID" {
		t.Fatalf("ExecReload=%s: want a kill command for $MAINPID", u.one(t, "ExecReload"))
	}
	kill := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}[u.one(t, "KillSignal")]
	if kill == 0 {
		t.Fatalf("KillSignal=%s: want SIGTERM or SIGINT, which stop hubd gracefully", u.one(t, "KillSignal"))
	}
	timeout, err := time.ParseDuration(u.one(t, "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	stateName := u.one(t, "StateDirectory")

	// start runs hubd with the unit's environment, then envFile's, in a
	// fresh state directory, as systemd would.
	start := func(t *testing.T, envFile [][2]string) (*exec.Cmd, string, string) {
		root := t.TempDir()
		state := filepath.Join(root, stateName)
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for _, kv := range append(u.environment(t, root), envFile...) {
			cmd.Env = append(cmd.Env, kv[0]+"="+strings.ReplaceAll(kv[1], "/var/lib/"+stateName, state))
		}
		cmd, base := startCmd(t, cmd)
		return cmd, base, state
	}
	stop := func(t *testing.T, cmd *exec.Cmd) {
		t.Helper()
		if err := cmd.Process.Signal(kill); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("hubd exited with %v after KillSignal", err)
			}
		case <-time.After(timeout):
			t.Fatalf("hubd still running %v after KillSignal: systemd would kill it", timeout)
		}
	}

	t.Run("single node with TLS", func(t *testing.T) {
		certDir := t.TempDir()
		certFile, keyFile, first := writeCert(t, certDir, 1)
		cmd, base, state := start(t, [][2]string{
			{"HUBD_ADDR", "127.0.0.1:0"}, {"HUBD_TLS_CERT", certFile}, {"HUBD_TLS_KEY", keyFile},
		})
		pool := x509.NewCertPool()
		pool.AddCert(first)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		publish := func() {
			t.Helper()
			resp, err := client.Post(base+"/topics/unit", "text/html", strings.NewReader(`<p id="u">u</p>`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("publish: %s", resp.Status)
			}
		}
		publish()

		_, _, second := writeCert(t, certDir, 2)
		reloadCmd := exec.Command(reload[0], reload[1], strings.Replace(reload[2], "$MAINPID", strconv.Itoa(cmd.Process.Pid), 1))
		if out, err := reloadCmd.CombinedOutput(); err != nil {
			t.Fatalf("ExecReload: %v\n%s", err, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("after ExecReload: %v", err)
			}
			serial := conn.ConnectionState().PeerCertificates[0].SerialNumber
			conn.Close()
			if serial.Cmp(second.SerialNumber) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still serving certificate %v 10s after ExecReload", serial)
			}
			time.Sleep(10 * time.Millisecond) // the reload has no event to wait for
		}
		pool.AddCert(second)
		publish()

		stop(t, cmd)
		if _, err := os.Stat(filepath.Join(state, "history")); err != nil {
			t.Errorf("no history in the state directory after the stop: %v", err)
		}
	})

	t.Run("embedded cluster as documented", func(t *testing.T) {
		var embedded [][2]string
		for _, block := range u.documented {
			for _, kv := range block {
				if kv == [2]string{"HUBD_CLUSTER", "embedded"} {
					embedded = block
				}
			}
		}
		if embedded == nil {
			t.Fatalf("%s documents no HUBD_CLUSTER=embedded block", unitFile)
		}
		cmd, base, state := start(t, append([][2]string{{"HUBD_ADDR", "127.0.0.1:0"}}, embedded...))
		publishHTML(t, base, "unit", `<p id="u">u</p>`)
		stop(t, cmd)
		entries, err := os.ReadDir(state)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if len(names) != 1 || !entries[0].IsDir() {
			t.Errorf("state directory holds %q, want the cluster's data directory only (no history file)", names)
		}
		if _, err := os.Stat(filepath.Join(state, "history")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a history file in cluster mode: %v", err)
		}
	})
}
