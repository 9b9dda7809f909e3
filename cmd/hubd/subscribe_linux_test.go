//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal and returns its two ends: what a program
// writes to tty a test reads from pt. Both close at the end of the test.
func openPTY(t *testing.T) (pt, tty *os.File) {
	t.Helper()
	pt, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { pt.Close() })
	if err := unix.IoctlSetPointerInt(int(pt.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(pt.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return pt, tty
}

// TestSubscribeCLIEscapesControlsOnATerminal has a hostile hub send an
// event whose type, ID and data hold escape sequences (clear the screen,
// set the window title, a hyperlink), a C1 CSI, a backspace, DEL, and a
// byte that is not UTF-8: hubd subscribe must print them escaped when its
// stdout is a terminal, keep tabs, backslashes and other text as they
// are, and print the event byte for byte when stdout is not a terminal
// (a pipe to another program).
func TestSubscribeCLIEscapesControlsOnATerminal(t *testing.T) {
	bin := buildHubd(t)
	event := "event: datastar-patch-elements\x1b[2J\n" +
		"id: e-1\x07\n" +
		"data: elements <p>\x1b]0;owned\x07title\x1b]8;;http://evil.example\x1b\\link</p>\n" +
		"data: elements \u009b31mred\u009b0m back\x08space del\x7f\ttab \\x1b as text \xff\xfe café\n\n"
	srv := hostileStream(t, event, false)
	args := []string{"subscribe", "-url", srv.URL, "-topic", "news"}

	pt, tty := openPTY(t)
	onTTY := exec.Command(bin, args...)
	onTTY.Stdout, onTTY.Stderr = tty, os.Stderr
	if err := onTTY.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { onTTY.Process.Kill(); onTTY.Wait() })
	pt.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(pt)
	var got []string
	for len(got) < 5 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read from the terminal after %q: %v", got, err)
		}
		got = append(got, strings.TrimRight(line, "\r\n")) // the terminal writes CRLF
	}
	want := []string{
		`event: datastar-patch-elements\x1b[2J`,
		`id: e-1\x07`,
		`data: elements <p>\x1b]0;owned\x07title\x1b]8;;http://evil.example\x1b\link</p>`,
		"data: elements \\u009b31mred\\u009b0m back\\x08space del\\x7f\ttab \\x1b as text \\xff\\xfe café",
		"",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("terminal line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}

	// Through a pipe: the lines as they came.
	piped := readLines(t, subscribeCLI(t, bin, args[1:]...), 5)
	if got := strings.Join(piped, "\n") + "\n"; got != event {
		t.Errorf("through a pipe:\n got %q\nwant %q", got, event)
	}
}
