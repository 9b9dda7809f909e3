package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// conformanceDir finds the Datastar SDK golden cases: HUBD_CONFORMANCE_DIR,
// or shared/conformance beside the repository. Without them the test
// skips, except under CI=true, where it must run.
func conformanceDir(t *testing.T) string {
	dir := os.Getenv("HUBD_CONFORMANCE_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "conformance", "datastar-sdk", "golden")
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance cases not found at %s (CI=true requires them): %v", dir, err)
		}
		t.Skipf("conformance cases not found at %s; set HUBD_CONFORMANCE_DIR", dir)
	}
	return dir
}

// startSDKTest builds and starts the example program on a free port.
func startSDKTest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sdktest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() { // ends when the program closes its stdout
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("sdktest exited before listening")
		}
		return a
	case <-ctx.Done():
		t.Fatal("sdktest did not listen within 30s")
	}
	return ""
}

// TestConformance runs every golden case against the example server over
// real HTTP and compares as the conformance README prescribes.
func TestConformance(t *testing.T) {
	dir := conformanceDir(t)
	base := startSDKTest(t)
	n := 0
	for _, method := range []string{"get", "post"} {
		cases, err := os.ReadDir(filepath.Join(dir, method))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if !c.IsDir() {
				continue
			}
			n++
			caseDir := filepath.Join(dir, method, c.Name())
			t.Run(method+"/"+c.Name(), func(t *testing.T) {
				t.Parallel()
				input, err := os.ReadFile(filepath.Join(caseDir, "input.json"))
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join(caseDir, "output.txt"))
				if err != nil {
					t.Fatal(err)
				}
				var req *http.Request
				if method == "get" {
					req, err = http.NewRequest(http.MethodGet, base+"/test?datastar="+url.QueryEscape(string(input)), nil)
				} else {
					req, err = http.NewRequest(http.MethodPost, base+"/test", strings.NewReader(string(input)))
					req.Header.Set("Content-Type", "application/json")
				}
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Datastar-Request", "true")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
					t.Fatalf("%s %q: %s", resp.Status, resp.Header.Get("Content-Type"), got)
				}
				if err := compareStreams(string(want), string(got)); err != nil {
					t.Fatalf("%v\nwant:\n%s\ngot:\n%s", err, want, got)
				}
			})
		}
	}
	if n == 0 {
		t.Fatalf("no cases under %s", dir)
	}
}

// compareStreams compares two event streams as the conformance README
// says: events split at blank lines; event, id and retry exactly; data lines
// grouped by their first word, in order within a group; elements compared
// as HTML with each element's attributes sorted.
func compareStreams(want, got string) error {
	we, ge := splitEvents(want), splitEvents(got)
	if len(we) != len(ge) {
		return fmt.Errorf("%d events, want %d", len(ge), len(we))
	}
	for i := range we {
		if err := compareEvent(we[i], ge[i]); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	return nil
}

func splitEvents(s string) [][]string {
	var events [][]string
	var cur []string
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if line == "" {
			if len(cur) > 0 {
				events = append(events, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		events = append(events, cur)
	}
	return events
}

type parsedEvent struct {
	fields map[string]string   // event, id, retry
	groups map[string][]string // data lines by key
}

func parseEvent(lines []string) parsedEvent {
	p := parsedEvent{fields: map[string]string{}, groups: map[string][]string{}}
	for _, line := range lines {
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		if name != "data" {
			p.fields[name] = value
			continue
		}
		key, rest, _ := strings.Cut(value, " ")
		p.groups[key] = append(p.groups[key], rest)
	}
	return p
}

func compareEvent(wantLines, gotLines []string) error {
	w, g := parseEvent(wantLines), parseEvent(gotLines)
	for _, f := range []string{"event", "id", "retry"} {
		if w.fields[f] != g.fields[f] {
			return fmt.Errorf("%s: got %q, want %q", f, g.fields[f], w.fields[f])
		}
	}
	if len(w.fields) != len(g.fields) {
		return fmt.Errorf("fields: got %v, want %v", g.fields, w.fields)
	}
	if len(w.groups) != len(g.groups) {
		return fmt.Errorf("data keys: got %v, want %v", keys(g.groups), keys(w.groups))
	}
	for key, wl := range w.groups {
		gl, ok := g.groups[key]
		if !ok {
			return fmt.Errorf("data %q missing", key)
		}
		if key == "elements" {
			wn, err1 := normalizeHTML(strings.Join(wl, "\n"))
			gn, err2 := normalizeHTML(strings.Join(gl, "\n"))
			if err1 != nil || err2 != nil {
				return fmt.Errorf("elements do not parse: %v %v", err1, err2)
			}
			if wn != gn {
				return fmt.Errorf("elements: got %q, want %q", gn, wn)
			}
			continue
		}
		if strings.Join(wl, "\n") != strings.Join(gl, "\n") {
			return fmt.Errorf("data %q: got %q, want %q", key, gl, wl)
		}
	}
	return nil
}

func keys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// normalizeHTML parses a fragment and renders it with every element's
// attributes sorted by name.
func normalizeHTML(s string) (string, error) {
	ctx := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, n := range nodes {
		sortAttrs(n)
		if err := html.Render(&b, n); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func sortAttrs(n *html.Node) {
	sort.Slice(n.Attr, func(i, j int) bool { return n.Attr[i].Key < n.Attr[j].Key })
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		sortAttrs(c)
	}
}

// TestComparatorCanFail proves the comparison notices what it must and
// forgives what the README allows.
func TestComparatorCanFail(t *testing.T) {
	t.Parallel()
	base := "event: datastar-patch-elements\nid: e1\nretry: 2000\ndata: selector #a\ndata: mode append\n" +
		"data: elements <div class=\"x\" id=\"y\">\ndata: elements <span>1</span>\ndata: elements </div>\n\n" +
		"event: datastar-patch-signals\ndata: signals {\"a\":1}\n\n"
	differ := map[string]string{
		"missing event":           strings.SplitAfterN(base, "\n\n", 2)[0],
		"changed id":              strings.Replace(base, "id: e1", "id: e2", 1),
		"extra data line":         strings.Replace(base, "data: mode append\n", "data: mode append\ndata: useViewTransition true\n", 1),
		"element lines reordered": strings.Replace(base, "data: elements <span>1</span>\ndata: elements </div>", "data: elements </div>\ndata: elements <span>1</span>", 1),
		"attribute value":         strings.Replace(base, `class="x"`, `class="z"`, 1),
		"retry missing":           strings.Replace(base, "retry: 2000\n", "", 1),
		"signals changed":         strings.Replace(base, `{"a":1}`, `{"a":2}`, 1),
	}
	for name, got := range differ {
		if err := compareStreams(base, got); err == nil {
			t.Errorf("%s: reported equal", name)
		}
	}
	same := map[string]string{
		"attributes reordered": strings.Replace(base, `<div class="x" id="y">`, `<div id="y" class="x">`, 1),
		"groups reordered":     strings.Replace(base, "data: selector #a\ndata: mode append\n", "data: mode append\ndata: selector #a\n", 1),
	}
	for name, got := range same {
		if err := compareStreams(base, got); err != nil {
			t.Errorf("%s: reported different: %v", name, err)
		}
	}
}
