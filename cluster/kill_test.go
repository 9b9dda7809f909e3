package cluster_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/cluster"
)

// killDirEnv, when set, makes TestEmbeddedSurvivesSIGKILL the child: it
// appends to an embedded log in that directory and prints each
// acknowledged sequence, until it is killed.
const killDirEnv = "HUBD_CLUSTER_KILL_DIR"

func killData(i int) string { return fmt.Sprintf("data: elements <p>%d</p>\n\n", i) }

// TestEmbeddedSurvivesSIGKILL runs an embedded log in a child process
// (this test binary again), kills it with SIGKILL while it appends, and
// opens the store again: every append the child saw acknowledged is
// there, with its bytes and its sequence.
func TestEmbeddedSurvivesSIGKILL(t *testing.T) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		killChild(t, dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child's lines: "acked SEQ I" once Append(killData(I)) returned SEQ.
	acked := map[uint64]int{}
	lines := bufio.NewScanner(out)
	killed := false
	timer := time.AfterFunc(waitFor, func() { cmd.Process.Kill() }) // if the child hangs
	defer timer.Stop()
	for lines.Scan() {
		var seq uint64
		var i int
		if _, err := fmt.Sscanf(lines.Text(), "acked %d %d", &seq, &i); err != nil {
			continue // the testing package's own lines
		}
		acked[seq] = i
		if len(acked) == 50 && !killed {
			// Kill it in the middle of its appends; lines already written
			// to the pipe are still read below.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed, after %d acks: %v", len(acked), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not by SIGKILL", cmd.ProcessState)
	}

	l := open(t, cluster.Config{URLs: cluster.Embedded, DataDir: dir})
	st, err := l.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]string{}
	if err := l.Read(t.Context(), nil, 0, st.Last, func(e cluster.Entry) error {
		stored[e.Seq] = string(e.Data)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for seq, i := range acked {
		if got, ok := stored[seq]; !ok || got != killData(i) {
			t.Errorf("acknowledged seq %d (append %d): stored %q, %v", seq, i, got, ok)
		}
	}
	t.Logf("%d appends acknowledged before SIGKILL, %d stored", len(acked), st.Msgs)
}

// killChild appends until it is killed.
func killChild(t *testing.T, dir string) {
	l, err := cluster.Open(t.Context(), cluster.Config{URLs: cluster.Embedded, DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		seq, err := l.Append(t.Context(), cluster.Message{Topics: []string{"t"}, Data: []byte(killData(i))}, "")
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString("acked " + strconv.FormatUint(seq, 10) + " " + strconv.Itoa(i) + "\n")
		w.Flush()
	}
}
