package browser_test

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startTodo builds examples/todo and runs it on a free port with the
// official client from bundle; it returns the app's base URL.
func startTodo(t *testing.T, bundle string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "todo")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/todo").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/todo: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-datastar-client", bundle)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n') // fails if it exits first
	if err != nil {
		t.Fatalf("todo exited before listening: %v", err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("todo printed %q, want its address", line)
	}
	return base
}

// TestTodoExampleAcrossTabs: examples/todo, built with the sse package
// alone and served with the official client, shows one list in every tab:
// a todo added, marked done or cleared in one tab changes both; what a
// visitor types shows as text and never runs.
func TestTodoExampleAcrossTabs(t *testing.T) {
	const hostile = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
	base := startTodo(t, datastarBundle(t))
	first := newBrowser(t)
	problems := watchConsole(t, first)
	tabs := []context.Context{first, newTab(t, first)}
	for _, tab := range tabs {
		open(t, tab, base+"/")
		// The stream is open once it has sent the (empty) list.
		waitFor(t, tab, 5*time.Second, `document.querySelector("#left").textContent === "0 left"`)
	}
	const (
		field = `input[aria-label="new todo"]`
		items = `#todos li span`
	)
	// shows waits until every tab shows want as the list, and left.
	shows := func(t *testing.T, want []string, left int) {
		t.Helper()
		for i, tab := range tabs {
			pred := fmt.Sprintf(`document.querySelectorAll(%q).length === %d && document.querySelector("#left").textContent === "%d left"`, items, len(want), left)
			if err := pollFor(tab, 5*time.Second, pred); err != nil {
				t.Fatalf("tab %d shows %q, want %q with %d left: %v", i, texts(t, tab, items), want, left, err)
			}
			if got := texts(t, tab, items); !slices.Equal(got, want) {
				t.Fatalf("tab %d shows %q, want %q", i, got, want)
			}
		}
	}

	typeInto(t, tabs[0], field, hostile)
	click(t, tabs[0], `form button`)
	shows(t, []string{hostile}, 1)
	waitFor(t, tabs[0], 5*time.Second, fmt.Sprintf(`document.querySelector(%q).value === ""`, field))

	typeInto(t, tabs[1], field, "bread")
	click(t, tabs[1], `form button`)
	shows(t, []string{hostile, "bread"}, 2)

	click(t, tabs[1], `#todo-1 .toggle`) // the hostile one is done
	shows(t, []string{hostile, "bread"}, 1)
	if n := eval[int](t, tabs[0], `document.querySelectorAll("#todo-1 s").length`); n != 1 {
		t.Errorf("the todo marked done in tab 1 is not struck through in tab 0")
	}

	click(t, tabs[0], `#clear`)
	shows(t, []string{"bread"}, 1)

	typeInto(t, tabs[0], field, "   ")
	click(t, tabs[0], `form button`)
	waitFor(t, tabs[0], 5*time.Second, `document.querySelector("form .error").textContent === "text: write something to do first"`)
	shows(t, []string{"bread"}, 1)

	for i, tab := range tabs {
		if n := eval[int](t, tab, `document.querySelectorAll("#todos img, #todos script").length`); n != 0 {
			t.Errorf("tab %d: %d elements made from a visitor's markup", i, n)
		}
		if got := eval[string](t, tab, `typeof window.pwned`); got != "undefined" {
			t.Errorf("tab %d: window.pwned is %s: a visitor's script ran", i, got)
		}
	}
	noProblems(t, first, problems)
}
