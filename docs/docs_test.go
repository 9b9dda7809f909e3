package docs_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// A page's blocks are fenced code blocks. A runnable block is one whose
// language is sh, python or js; the HTML comment right before a block
// (blank lines between are allowed) changes what happens to it:
//
//	<!-- doc: skip REASON -->    not run (a cluster, a remote host, root)
//	<!-- doc: background -->     a server: started, not waited for; hubd is
//	                             waited for until ready, others until the
//	                             ports the block names accept connections
//	<!-- doc: file NAME -->      written to NAME in the page's folder
//
// A block of language output right after a runnable block is what that
// block must print; "…" in it matches any text within a line. The ports
// 8080 (the hub) and 3000 (a page server) are replaced with free ones, so
// that pages run in parallel; hubd gets its address from HUBD_ADDR.
type block struct {
	file      string // the page
	line      int    // of the opening fence
	lang      string
	text      string
	directive string // "skip", "background", "file" or ""
	arg       string
	want      *block // the output block, if any
}

var directiveRE = regexp.MustCompile(`^<!--\s*doc:\s*(skip|background|file)\b\s*(.*?)\s*-->$`)

// parse reads the fenced blocks of a Markdown file.
func parse(path string) ([]*block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []*block
	var cur *block
	var pending []string // the directive before the next block
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				blocks = append(blocks, cur)
				cur = nil
				continue
			}
			cur.text += line + "\n"
			continue
		}
		if m := directiveRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			pending = m[1:]
			continue
		}
		if strings.HasPrefix(line, "```") {
			cur = &block{file: path, line: n, lang: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
			if pending != nil {
				cur.directive, cur.arg = pending[0], pending[1]
			}
			pending = nil
			continue
		}
		if strings.TrimSpace(line) != "" {
			pending = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: a block is not closed", path, cur.line)
	}
	// Attach each output block to the runnable block before it.
	var out []*block
	for _, b := range blocks {
		if b.lang == "output" {
			if len(out) == 0 || !runnable(out[len(out)-1]) || out[len(out)-1].want != nil {
				return nil, fmt.Errorf("%s:%d: an output block follows no command block", path, b.line)
			}
			out[len(out)-1].want = b
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

func runnable(b *block) bool {
	switch b.lang {
	case "sh", "python", "js":
		return b.directive != "skip"
	}
	return false
}

// startsHubd says whether a block runs the hub itself: hubd with flags or
// none, not one of its sub-commands (hubd subscribe, hubd token, ...).
func startsHubd(b *block) bool {
	words := strings.Fields(b.text)
	return len(words) > 0 && words[0] == "hubd" && (len(words) == 1 || strings.HasPrefix(words[1], "-"))
}

// pages are every Markdown page the runner checks: the README, the
// contributing guide and every page in docs/, including pages added later.
func pages(t *testing.T) []string {
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md", "../CONTRIBUTING.md"}, docs...)
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var portRE = regexp.MustCompile(`\b(8080|3000)\b`)

// script turns a page's blocks into a testscript script and its files.
func script(t *testing.T, page string, blocks []*block, hubPort, pagePort int) string {
	ports := map[string]string{"8080": strconv.Itoa(hubPort), "3000": strconv.Itoa(pagePort)}
	subst := func(s string) string {
		return portRE.ReplaceAllStringFunc(s, func(p string) string { return ports[p] })
	}
	var cmds, files strings.Builder
	fmt.Fprintf(&cmds, "env HUBD_ADDR=127.0.0.1:%d\n", hubPort)
	hubRunning := false
	startHub := func(file string) {
		if hubRunning {
			cmds.WriteString("kill -INT hub\nwait hub\n") // hubd stops gracefully, status 0
		}
		fmt.Fprintf(&cmds, "exec sh %s &hub&\nwaitready %d\n", file, hubPort)
		hubRunning = true
	}
	needsHub := false
	selfStarts := false
	for _, b := range blocks {
		if runnable(b) && b.directive != "background" {
			needsHub = true
		}
		if b.directive == "background" && startsHubd(b) {
			selfStarts = true
		}
	}
	if needsHub && !selfStarts {
		files.WriteString("-- hubd.sh --\nexec hubd\n")
		startHub("hubd.sh")
	}
	for i, b := range blocks {
		where := fmt.Sprintf("%s:%d", page, b.line)
		name := fmt.Sprintf("block%d", i)
		if b.directive == "file" {
			fmt.Fprintf(&files, "-- %s --\n%s", b.arg, subst(b.text))
			continue
		}
		if !runnable(b) {
			continue
		}
		fmt.Fprintf(&cmds, "\n# %s\n", where)
		switch b.lang {
		case "python":
			if _, err := exec.LookPath("python3"); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s: python3 is missing, and CI=true makes the Python recipes mandatory", where)
				}
				fmt.Fprintf(&cmds, "# skipped: python3 is not installed\n")
				continue
			}
			fmt.Fprintf(&files, "-- %s.py --\n%s", name, subst(b.text))
			fmt.Fprintf(&cmds, "exec python3 %s.py\n", name)
		case "js":
			if _, err := exec.LookPath("node"); err != nil {
				fmt.Fprintf(&cmds, "# skipped: node is not installed\n")
				continue
			}
			fmt.Fprintf(&files, "-- %s.mjs --\n%s", name, subst(b.text))
			fmt.Fprintf(&cmds, "exec node %s.mjs\n", name)
		case "sh":
			text := subst(b.text)
			if b.directive == "background" {
				lines := strings.Split(strings.TrimSpace(text), "\n")
				if len(lines) != 1 {
					t.Fatalf("%s: a background block must be one command", where)
				}
				text = "exec " + lines[0] + "\n"
				fmt.Fprintf(&files, "-- %s.sh --\n%s", name, text)
				if startsHubd(b) {
					startHub(name + ".sh")
					continue
				}
				fmt.Fprintf(&cmds, "exec sh %s.sh &%s&\n", name, name)
				for _, p := range portRE.FindAllString(b.text, -1) {
					fmt.Fprintf(&cmds, "waitport %s\n", ports[p])
				}
				continue
			}
			fmt.Fprintf(&files, "-- %s.sh --\nset -e\n%s", name, text)
			fmt.Fprintf(&cmds, "exec sh %s.sh\n", name)
		}
		if b.want != nil {
			fmt.Fprintf(&files, "-- %s.want --\n%s", name, subst(b.want.text))
			fmt.Fprintf(&cmds, "matchout %s.want\n", name)
		}
	}
	return cmds.String() + files.String()
}

// wantRE turns an output block into a pattern: "…" matches any text
// within a line, trailing spaces are ignored.
func wantRE(want string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, line := range strings.Split(strings.TrimRight(want, "\n"), "\n") {
		parts := strings.Split(strings.TrimRight(line, " "), "…")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(`[^\n]*`)
			}
			b.WriteString(regexp.QuoteMeta(p))
		}
		b.WriteString(` *\n`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// pageDeadline bounds one run of every page's commands.
const pageDeadline = 4 * time.Minute

// TestDocs runs the command blocks of every page against a built hubd.
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every page's commands")
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "hubd"), "../cmd/hubd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is missing, and the docs' commands use it")
		}
		t.Skip("the docs' commands use curl, which is not installed")
	}
	dir := t.TempDir()
	for _, page := range pages(t) {
		blocks, err := parse(page)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.NewReplacer("../", "", "/", "-", ".md", "").Replace(page)
		s := script(t, page, blocks, freePort(t), freePort(t))
		if err := os.WriteFile(filepath.Join(dir, name+".txtar"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testscript.Run(t, testscript.Params{
		Dir: dir,
		// A command that never ends (a subscribe not marked background)
		// fails its page after this, instead of holding up the suite.
		Deadline: time.Now().Add(pageDeadline),
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("HUBD_LOG_LEVEL", "warn")
			for _, k := range []string{"CI", "LANG"} {
				env.Setenv(k, os.Getenv(k))
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitport":  waitPort,
			"waitready": waitReady,
			"matchout":  matchOut,
		},
	})
}

// waitPort waits until 127.0.0.1:PORT accepts connections.
func waitPort(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+args[0])
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nothing listens on port %s after 30s", args[0])
		}
		time.Sleep(20 * time.Millisecond) // a process we do not own: nothing to await but its port
	}
}

// waitReady waits until the hub on 127.0.0.1:PORT answers /readyz.
func waitReady(ts *testscript.TestScript, neg bool, args []string) {
	waitPort(ts, neg, args)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("curl", "-sf", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:"+args[0]+"/readyz").Output()
		if err == nil && string(out) == "200" {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the hub on port %s is not ready after 30s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matchOut compares the last command's standard output with a want file.
func matchOut(ts *testscript.TestScript, neg bool, args []string) {
	got, want := strings.ReplaceAll(ts.ReadFile("stdout"), "\r\n", "\n"), ts.ReadFile(args[0])
	if !wantRE(want).MatchString(got) {
		ts.Fatalf("output:\n%s\nwant (… matches any text):\n%s", got, want)
	}
}
