package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const cliKey = "pk_cli_0123456789abcdefghijklmn"

// hubdCLI runs the built binary with args, env added to the test's, and
// stdin; it returns stdout, stderr and the exit code.
func hubdCLI(t *testing.T, bin string, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestPublishSubscribeCLI runs hubd, then hubd publish and hubd subscribe
// against it: what publish sends (from an argument and from stdin, each
// kind) subscribe prints in order with the IDs publish printed; the token
// comes from -token, HUBD_TOKEN or -token-file; refusals exit non-zero
// with the hub's message.
func TestPublishSubscribeCLI(t *testing.T) {
	bin := buildHubd(t)
	_, base := startHubd(t, bin, "-addr", "127.0.0.1:0", "-log-level", "warn", "-publish-keys", cliKey, "-anonymous-subscribe", "**")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(cliKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HUBD_URL=" + base}

	publish := func(stdin string, env []string, args ...string) string {
		t.Helper()
		if !slices.Contains(args, "-topic") {
			args = append([]string{"-topic", "news"}, args...)
		}
		out, errOut, code := hubdCLI(t, bin, env, stdin, append([]string{"publish"}, args...)...)
		if code != 0 {
			t.Fatalf("publish %q: exit %d: %s", args, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	start := publish("", env, "-token", cliKey, "-script", "start()")

	lines := subscribeCLI(t, bin, "-url", base, "-topic", "news", "-last-event-id", start)

	ids := []string{
		publish("", env, "-token", cliKey, "-selector", "#list", "-mode", "append", "<li>one</li>"),
		publish(`{"count":2}`+"\n", append(env, "HUBD_TOKEN="+cliKey), "-signals"),
		publish("", env, "-token-file", tokenFile, "-id", "k1", "-script", "alert(1)"),
		publish("", env, "-token-file", tokenFile, "-id", "k1", "-script", "alert(1)"), // a repeat: no event
	}
	if ids[2] != ids[3] {
		t.Errorf("a repeated -id printed %s then %s, want the same ID", ids[2], ids[3])
	}
	want := strings.Join([]string{
		"event: datastar-patch-elements", "id: " + ids[0], "data: mode append", "data: selector #list", "data: elements <li>one</li>", "",
		"event: datastar-patch-signals", "id: " + ids[1], `data: signals {"count":2}`, "",
		"event: datastar-patch-elements", "id: " + ids[2], "data: mode append", "data: selector body",
		`data: elements <script data-effect="el.remove()">alert(1)</script>`, "",
	}, "\n")
	got := readLines(t, lines, strings.Count(want, "\n")+1)
	if strings.Join(got, "\n") != want {
		t.Errorf("subscribe printed\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}

	// -retain: a subscriber without -last-event-id gets the retained state.
	publish(`{"kept":true}`, env, "-token", cliKey, "-topic", "kept", "-signals", "-retain")
	kept := readLines(t, subscribeCLI(t, bin, "-url", base, "-topic", "kept"), 3)
	if kept[0] != "event: datastar-patch-signals" || !slices.Contains(kept, `data: signals {"kept":true}`) {
		t.Errorf("a late subscriber printed %q, want the retained signals", kept)
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"publish", "-topic", "news", "<p id=x>x</p>"}, "401"},
		{"reserved topic", []string{"publish", "-token", cliKey, "-topic", "$stats", "<p id=x>x</p>"}, "reserved"},
		{"no topic", []string{"publish", "-token", cliKey, "x"}, "-topic"},
		{"bad mode", []string{"publish", "-token", cliKey, "-topic", "news", "-mode", "sideways", "<p id=x>x</p>"}, "sideways"},
		{"subscribe refused", []string{"subscribe", "-topic", "$nope"}, "$nope"},
	} {
		_, errOut, code := hubdCLI(t, bin, env, "", c.args...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want an error naming %q", c.name, code, errOut, c.want)
		}
	}
}

// subscribeCLI runs hubd subscribe with args until the end of the test and
// returns the lines it prints.
func subscribeCLI(t *testing.T, bin string, args ...string) <-chan string {
	t.Helper()
	sub := exec.Command(bin, append([]string{"subscribe"}, args...)...)
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Process.Kill(); sub.Wait() })
	lines := make(chan string, 100)
	go func() { // ends when subscribe's stdout closes at cleanup
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

// readLines returns the next n lines, failing the test if they do not
// come within 10 seconds.
func readLines(t *testing.T, lines <-chan string, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("subscribe ended after %q", got)
			}
			got = append(got, l)
		case <-time.After(10 * time.Second):
			t.Fatalf("subscribe printed only %q", got)
		}
	}
	return got
}
