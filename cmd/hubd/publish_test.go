package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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
		out, errOut, code := hubdCLI(t, bin, env, stdin, append([]string{"publish", "-topic", "news"}, args...)...)
		if code != 0 {
			t.Fatalf("publish %q: exit %d: %s", args, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	start := publish("", env, "-token", cliKey, "-script", "start()")

	sub := exec.Command(bin, "subscribe", "-url", base, "-topic", "news", "-last-event-id", start)
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var subErr bytes.Buffer
	sub.Stderr = &subErr
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Process.Kill(); sub.Wait() })

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
	lines := make(chan string)
	go func() { // ends when subscribe's stdout closes at cleanup
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	for len(got) < strings.Count(want, "\n")+1 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("subscribe ended: %s", subErr.String())
			}
			got = append(got, l)
		case <-time.After(10 * time.Second):
			t.Fatalf("subscribe printed only %q", got)
		}
	}
	if strings.Join(got, "\n") != want {
		t.Errorf("subscribe printed\n%s\nwant\n%s", strings.Join(got, "\n"), want)
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
