package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// event is one server-sent event as read off the wire: its type and its
// data lines joined, "key value" each.
type event struct {
	typ  string
	data string
}

// readEvent reads the next event from r, skipping comments.
func readEvent(t *testing.T, r *bufio.Reader) event {
	t.Helper()
	var ev event
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %+v)", err, ev)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.typ != "":
			ev.data = strings.Join(data, "\n")
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// openStream opens GET /updates, as a tab does, and returns its reader.
func openStream(t *testing.T, base string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/updates", nil)
	req.Header.Set("Datastar-Request", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /updates: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body)
}

// post sends signals to path as the Datastar client does and returns the
// answer's status and, for a stream, its one event.
func post(t *testing.T, base, path, signals string, datastar bool) (int, event) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(signals))
	req.Header.Set("Content-Type", "application/json")
	if datastar {
		req.Header.Set("Datastar-Request", "true")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, event{}
	}
	return resp.StatusCode, readEvent(t, bufio.NewReader(resp.Body))
}

// signalsOf decodes a patch-signals event's JSON.
func signalsOf(t *testing.T, ev event) map[string]any {
	t.Helper()
	js, ok := strings.CutPrefix(ev.data, "signals ")
	if ev.typ != "datastar-patch-signals" || !ok {
		t.Fatalf("got %+v, want a datastar-patch-signals event", ev)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("signals %q: %v", js, err)
	}
	return m
}

// readView reads one change off a stream: the list, then what is left.
func readView(t *testing.T, r *bufio.Reader) (list string, left float64) {
	t.Helper()
	ev := readEvent(t, r)
	list, ok := strings.CutPrefix(ev.data, "elements ")
	if ev.typ != "datastar-patch-elements" || !ok {
		t.Fatalf("got %+v, want the list as datastar-patch-elements", ev)
	}
	n, _ := signalsOf(t, readEvent(t, r))["left"].(float64)
	return list, n
}

func newServer(t *testing.T) string {
	t.Helper()
	a, err := newApp("https://cdn.example/datastar.js")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.routes())
	t.Cleanup(func() { a.closeStreams(); srv.Close() })
	return srv.URL
}

// TestSharedList: every action posted by one tab, with the page's signals
// as its body, reaches every open stream as the new list and count; the
// poster gets a signal patch; a visitor's markup travels as text.
func TestSharedList(t *testing.T) {
	base := newServer(t)
	tabs := []*bufio.Reader{openStream(t, base), openStream(t, base)}
	for i, tab := range tabs {
		if list, left := readView(t, tab); list != `<ul id="todos"></ul>` || left != 0 {
			t.Fatalf("tab %d starts with %q, %v left", i, list, left)
		}
	}
	const hostile = `<img src=x onerror="alert(1)"> milk`
	steps := []struct {
		path, signals string
		wantAnswer    map[string]any
		wantItems     []string // in the list, in order
		wantLeft      float64
	}{
		{"/add", `{"text":` + quote(hostile) + `,"id":0,"error":"","left":0}`, map[string]any{"text": "", "error": ""},
			[]string{`<span>&lt;img src=x onerror=&#34;alert(1)&#34;&gt; milk</span>`}, 1},
		{"/add", `{"text":"  bread  "}`, map[string]any{"text": "", "error": ""},
			[]string{"milk</span>", "<span>bread</span>"}, 2},
		{"/toggle", `{"id":1}`, map[string]any{"error": ""},
			[]string{"<s>&lt;img", `<span>bread</span>`}, 1},
		{"/clear", `{}`, map[string]any{"error": ""},
			[]string{`<li id="todo-2"><span>bread</span>`}, 1},
		{"/delete", `{"id":2}`, map[string]any{"error": ""}, nil, 0},
	}
	for _, s := range steps {
		status, answer := post(t, base, s.path, s.signals, true)
		if status != http.StatusOK {
			t.Fatalf("POST %s %s: %d", s.path, s.signals, status)
		}
		if got := signalsOf(t, answer); !equalJSON(got, s.wantAnswer) {
			t.Errorf("POST %s %s answered %v, want %v", s.path, s.signals, got, s.wantAnswer)
		}
		for i, tab := range tabs {
			list, left := readView(t, tab)
			if strings.Contains(list, "<img") {
				t.Fatalf("tab %d got the visitor's markup as markup: %s", i, list)
			}
			if n := strings.Count(list, "<li "); n != len(s.wantItems) {
				t.Errorf("after %s, tab %d shows %d items, want %d: %s", s.path, i, n, len(s.wantItems), list)
			}
			at := 0
			for _, item := range s.wantItems {
				j := strings.Index(list[at:], item)
				if j < 0 {
					t.Fatalf("after %s, tab %d shows %s\nwithout %s (in order)", s.path, i, list, item)
				}
				at += j + len(item)
			}
			if left != s.wantLeft {
				t.Errorf("after %s, tab %d shows %v left, want %v", s.path, i, left, s.wantLeft)
			}
		}
	}
}

// TestRefusedActions: bad input is answered with an error signal naming
// the field, or an HTTP error, and changes nothing: the next event every
// stream gets is the next accepted change.
func TestRefusedActions(t *testing.T) {
	base := newServer(t)
	tab := openStream(t, base)
	readView(t, tab)
	cases := []struct {
		name, path, signals string
		datastar            bool
		wantStatus          int
		wantError           string
	}{
		{"empty text", "/add", `{"text":"   "}`, true, 200, "text: write something to do first"},
		{"text too long", "/add", `{"text":"` + strings.Repeat("é", maxTodoText+1) + `"}`, true, 200, "text: a todo holds at most 200 characters"},
		{"unknown id", "/toggle", `{"id":99}`, true, 200, "id: no todo 99 (another tab may have deleted it)"},
		{"delete unknown id", "/delete", `{"id":0}`, true, 200, "id: no todo 0 (another tab may have deleted it)"},
		{"not JSON", "/add", `{"text":`, true, 400, ""},
		{"not from Datastar", "/add", `{"text":"cross-site"}`, false, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, answer := post(t, base, c.path, c.signals, c.datastar)
			if status != c.wantStatus {
				t.Fatalf("status %d, want %d", status, c.wantStatus)
			}
			if c.wantStatus == 200 {
				if got := signalsOf(t, answer)["error"]; got != c.wantError {
					t.Errorf("error signal %q, want %q", got, c.wantError)
				}
			}
		})
	}
	post(t, base, "/add", `{"text":"accepted"}`, true)
	if list, _ := readView(t, tab); strings.Count(list, "<li ") != 1 || !strings.Contains(list, "<span>accepted</span>") {
		t.Fatalf("the stream's next list is %s, want only the accepted todo", list)
	}
}

// TestListBounded: past maxTodos an add is refused with the reason, and
// the list keeps what it had.
func TestListBounded(t *testing.T) {
	base := newServer(t)
	for i := range maxTodos {
		if _, ev := post(t, base, "/add", `{"text":"x"}`, true); signalsOf(t, ev)["error"] != "" {
			t.Fatalf("add %d refused: %v", i, ev)
		}
	}
	_, ev := post(t, base, "/add", `{"text":"one too many"}`, true)
	if got, want := signalsOf(t, ev)["error"], "the list holds at most 100 todos: clear some first"; got != want {
		t.Fatalf("add past the bound: error %q, want %q", got, want)
	}
	list, left := readView(t, openStream(t, base))
	if n := strings.Count(list, "<li "); n != maxTodos || left != maxTodos {
		t.Fatalf("list has %d items, %v left, want %d", n, left, maxTodos)
	}
}

// TestDatastarClient: -datastar-client takes a URL, which the page loads, or a
// file, which the app serves at /datastar.js; anything else is refused.
func TestDatastarClient(t *testing.T) {
	file := filepath.Join(t.TempDir(), "datastar.js")
	if err := os.WriteFile(file, []byte("// the client\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ client, wantSrc, wantJS string }{
		{"https://cdn.example/ds.js", `src="https://cdn.example/ds.js"`, ""},
		{file, `src="/datastar.js"`, "// the client\n"},
	} {
		a, err := newApp(c.client)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.routes())
		defer srv.Close()
		if page := get(t, srv.URL+"/", 200); !strings.Contains(page, c.wantSrc) {
			t.Errorf("-datastar-client %s: page without %s:\n%s", c.client, c.wantSrc, page)
		}
		status := 200
		if c.wantJS == "" {
			status = 404
		}
		if js := get(t, srv.URL+"/datastar.js", status); c.wantJS != "" && js != c.wantJS {
			t.Errorf("-datastar-client %s: /datastar.js serves %q", c.client, js)
		}
	}
	if _, err := newApp("no/such/file.js"); err == nil || !strings.Contains(err.Error(), `-datastar-client "no/such/file.js"`) {
		t.Errorf("a missing file: %v, want an error naming -datastar-client", err)
	}
}

// TestShutdownEndsStreams: run returns once asked to stop, although a tab
// still holds a stream open.
func TestShutdownEndsStreams(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, pw); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr) // ends when run's goroutine closes pw
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	readView(t, openStream(t, base))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return within 5s with a stream open")
	}
}

func get(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, wantStatus)
	}
	return string(b)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestStalledTabHoldsUpNoOne: a tab that stops reading (its socket's
// buffers full) holds up no post and no other tab, and keeps its stream:
// once it reads again, it gets the newest list, as the other tab does.
// The list is filled to its bound with long todos and toggled until the
// stalled tab's buffers, several megabytes on loopback, are full.
func TestStalledTabHoldsUpNoOne(t *testing.T) {
	base := newServer(t)
	addr := strings.TrimPrefix(base, "http://")
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	stalled.SetDeadline(time.Now().Add(time.Minute)) // a hung test fails instead of hanging
	fmt.Fprintf(stalled, "GET /updates HTTP/1.1\r\nHost: %s\r\nDatastar-Request: true\r\n\r\n", addr)
	live := openStream(t, base)
	readView(t, live)
	// The stalled tab reads nothing from here on, until the posts are done.

	long := strings.Repeat("x", maxTodoText)
	for i := range maxTodos {
		if _, ev := post(t, base, "/add", `{"text":"`+long+`"}`, true); signalsOf(t, ev)["error"] != "" {
			t.Fatalf("add %d refused: %v", i, ev)
		}
	}
	const toggles = 300 // 12.0 MB of lists, 40 KB each
	for i := range toggles {
		if _, ev := post(t, base, "/toggle", fmt.Sprintf(`{"id":%d}`, i%maxTodos+1), true); signalsOf(t, ev)["error"] != "" {
			t.Fatalf("toggle %d refused: %v", i, ev)
		}
	}
	// The last change: the only list of 99 todos without todo 1.
	post(t, base, "/delete", `{"id":1}`, true)
	last := func(list string) bool {
		return strings.Count(list, "<li ") == maxTodos-1 && !strings.Contains(list, `id="todo-1"`)
	}

	for {
		if list, _ := readView(t, live); last(list) {
			break
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(stalled), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the stalled tab's response: %v %v", resp, err)
	}
	r := bufio.NewReader(resp.Body)
	views := 1
	for {
		if list, _ := readView(t, r); last(list) { // fails if the stream ended first
			break
		}
		views++
	}
	t.Logf("the stalled tab read %d lists, the newest last", views)
}
