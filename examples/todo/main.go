// Command todo is a shared todo list built with the sse package alone: no
// hub, no daemon. It is a recipe for a live Datastar page in plain Go.
//
//	go run ./examples/todo -addr 127.0.0.1:8090
//
// Every tab holds one stream (GET /updates). The buttons post the page's
// signals (POST /add, /toggle, /delete, /clear); the app changes its list
// and sends the new list, as one element patch and one signal patch, to
// every open stream, so that every tab shows the same list. The answer to
// a post is a signal patch: the input cleared, or the reason it was
// refused.
//
// The page loads the official Datastar client from -datastar-client: a URL, or a
// file the app serves at /datastar.js (default: the pinned CDN release).
// It prints "listening on http://ADDR" once it accepts connections.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hubd-dev/hubd/sse"
)

// Limits of the list, so that a visitor cannot grow it without bound.
const (
	maxTodos    = 100
	maxTodoText = 200 // characters
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(1)
	}
}

// run serves the app until ctx ends or SIGINT/SIGTERM arrives.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("todo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on (port 0 picks a free port)")
	client := fs.String("datastar-client", sse.DatastarCDN, "the Datastar client: an http(s) URL, or a file served at /datastar.js")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := newApp(*client)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	// Shutdown does not end streams: closing them lets their handlers return.
	srv.RegisterOnShutdown(a.closeStreams)
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // ends when srv is shut down
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// A tab's write still blocked (its tab stopped reading): cut it.
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// todo is one item of the list.
type todo struct {
	ID   int
	Text string
	Done bool
}

// app holds the list and the open tabs. mu guards both. A change is
// offered to every tab with mu held, so that every tab gets the changes in
// the order they were made, but nothing is written with it held: each tab's
// own handler writes its stream, so a tab that stops reading holds up no
// other tab and no post.
type app struct {
	clientSrc  string // the script src of the Datastar client
	clientFile string // the file served at /datastar.js, if any

	mu     sync.Mutex
	todos  []todo
	lastID int
	tabs   map[*tab]bool
	closed chan struct{} // closed by closeStreams
	close  sync.Once
}

// tab is one open stream. views holds the newest view its handler has
// not written yet, if any: every view is the whole list, so a newer one
// replaces an older one instead of queueing behind it.
type tab struct{ views chan []sse.Eventer }

// offer gives the tab view, in place of one it has not taken yet. It
// never blocks: it is called with mu held, so it is the only sender.
func (t *tab) offer(view []sse.Eventer) {
	select {
	case <-t.views:
	default:
	}
	t.views <- view
}

// writeTimeout bounds each write to a tab: a tab that takes nothing for
// this long is gone. It holds up only its own handler.
const writeTimeout = 10 * time.Second

// newApp makes an empty list. client is a URL or a readable file.
func newApp(client string) (*app, error) {
	a := &app{clientSrc: client, tabs: map[*tab]bool{}, closed: make(chan struct{})}
	if !strings.HasPrefix(client, "https://") && !strings.HasPrefix(client, "http://") {
		if _, err := os.Stat(client); err != nil {
			return nil, fmt.Errorf("-datastar-client %q: neither an http(s) URL nor a readable file: %w", client, err)
		}
		a.clientSrc, a.clientFile = "/datastar.js", client
	}
	return a, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.HandleFunc("GET /datastar.js", func(w http.ResponseWriter, r *http.Request) {
		if a.clientFile == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, a.clientFile)
	})
	mux.HandleFunc("GET /updates", a.updates)
	mux.HandleFunc("POST /add", a.action(add))
	mux.HandleFunc("POST /toggle", a.action(toggle))
	mux.HandleFunc("POST /delete", a.action(remove))
	mux.HandleFunc("POST /clear", a.action(clearDone))
	return mux
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>todo</title>
<link rel="icon" href="data:,">
<script type="module" src="{{.}}"></script>
<style>
:root {
  --accent: #4f46e5; --accent-ink: #fff; --accent-soft: #eef0ff;
  --ink: #1a1d29; --muted: #5d6576; --line: #e3e6ee; --bg: #f5f6fa; --card: #fff;
  --ok: #15803d; --warn: #b45309; --bad: #b42318;
  --radius: 10px; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
h1 { font-size: 1.5rem; margin: 0; letter-spacing: -.01em; }
h2 { font-size: 1rem; margin: 0 0 .75rem; }
p { margin: .5rem 0; }
code, pre { font-family: var(--mono); font-size: .86em; }
code { background: var(--accent-soft); border-radius: 4px; padding: .05rem .3rem; overflow-wrap: anywhere; }
pre { margin: .5rem 0; padding: .75rem 1rem; background: #161a26; color: #e6e8f0; border-radius: 8px;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 20rem; overflow-y: auto; }
pre code { background: none; padding: 0; color: inherit; }
.topbar { background: var(--card); border-bottom: 1px solid var(--line); }
.topbar .inner { display: flex; align-items: center; gap: 1.5rem; height: 3.5rem; }
.brand { display: flex; align-items: center; gap: .5rem; font-weight: 700; font-size: 1.1rem; color: var(--ink); }
.brand:hover { text-decoration: none; }
.brand svg { width: 1.6rem; height: 1.6rem; }
.topbar nav { display: flex; gap: .25rem; flex-wrap: wrap; }
.topbar nav a { color: var(--muted); padding: .35rem .7rem; border-radius: 6px; font-weight: 500; }
.topbar nav a:hover { background: var(--bg); color: var(--ink); text-decoration: none; }
.topbar nav a[aria-current="page"] { background: var(--accent-soft); color: var(--accent); }
.inner { max-width: 72rem; margin: 0 auto; padding: 0 1.5rem; }
main.inner { padding-top: 1.5rem; padding-bottom: 3rem; }
.titlebar { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; margin-bottom: 1.25rem; }
.titlebar .lede { color: var(--muted); margin: 0; flex-basis: 100%; }
.pill { display: inline-flex; align-items: center; gap: .4rem; padding: .2rem .65rem; border-radius: 999px;
  background: var(--card); border: 1px solid var(--line); color: var(--muted); font-size: .85rem; }
.pill b { color: var(--ink); font-weight: 600; }
.dot { width: .55rem; height: .55rem; border-radius: 50%; background: var(--muted); }
.dot.live { background: var(--ok); box-shadow: 0 0 0 3px #15803d22; }
.dot.down { background: var(--bad); }
.grid { display: grid; gap: 1rem; margin-bottom: 1rem; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); }
.grid.top { align-items: start; }
.grid.cards { grid-template-columns: repeat(3, minmax(0, 1fr)); }
@media (max-width: 48rem) { .grid.cards { grid-template-columns: minmax(0, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 1rem 1.25rem;
  box-shadow: 0 1px 2px #10182808; min-width: 0; }
.card > h2:first-child { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem; }
.card h2 small { font-weight: 400; color: var(--muted); font-size: .85rem; }
.stat .label { color: var(--muted); font-size: .85rem; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.stat b { display: block; font-size: 1.9rem; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.2; margin: .15rem 0; }
.stat .hint { color: var(--muted); font-size: .82rem; margin: 0; }
.chart .now { font-size: 1.9rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.chart .now small { font-size: .9rem; color: var(--muted); font-weight: 400; }
.chart svg { display: block; width: 100%; height: auto; margin-top: .5rem; }
.chart .axis { display: flex; justify-content: space-between; color: var(--muted); font-size: .78rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .5rem .6rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
th { color: var(--muted); font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
td.num, th.num { text-align: right; }
tbody tr:last-child td { border-bottom: none; }
.empty { color: var(--muted); }
.tag { display: inline-block; padding: 0 .45rem; border-radius: 4px; background: var(--accent-soft); color: var(--accent);
  font-size: .75rem; font-weight: 600; vertical-align: middle; }
.tag.muted { background: var(--bg); color: var(--muted); }
input, textarea, select { font: inherit; color: inherit; background: var(--card); border: 1px solid #cfd4de; border-radius: 8px;
  padding: .5rem .7rem; min-width: 0; }
input:focus, textarea:focus, select:focus { outline: 2px solid var(--accent); outline-offset: 0; border-color: var(--accent); }
textarea { width: 100%; font-family: var(--mono); font-size: .9em; resize: vertical; }
button { font: inherit; font-weight: 600; color: var(--accent-ink); background: var(--accent); border: 1px solid var(--accent);
  border-radius: 8px; padding: .5rem 1rem; cursor: pointer; }
button:hover { filter: brightness(1.1); }
button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
button.secondary { color: var(--ink); background: var(--card); border-color: #cfd4de; }
button.small, #todos li button { padding: .15rem .6rem; font-size: .82rem; }
#todos li button { float: right; margin-left: .35rem; }
button.delete { color: var(--bad); background: var(--card); border-color: #f1c0bb; }
.row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.row input { flex: 1 1 10rem; }
.segmented { display: inline-flex; border: 1px solid #cfd4de; border-radius: 8px; overflow: hidden; }
.segmented label { padding: .35rem .9rem; cursor: pointer; color: var(--muted); font-weight: 500; }
.segmented input { position: absolute; opacity: 0; pointer-events: none; }
.segmented label:has(input:checked) { background: var(--accent); color: var(--accent-ink); }
.error { color: var(--bad); font-size: .9rem; }
.offline { background: #fff7e6; border: 1px solid #f3c46b; padding: .6rem 1rem; border-radius: 8px; margin-bottom: 1rem; }
.feed, #todos { list-style: none; margin: 0; padding: 0; }
.feed li, #todos li { padding: .45rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.feed li:last-child, #todos li:last-child { border-bottom: none; }
.big-number { font-size: 4rem; font-weight: 700; line-height: 1; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; color: var(--accent); }
.event .meta { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; color: var(--muted); font-size: .82rem; }
.event pre { margin: .35rem 0 0; }
</style>
</head>
<body>
<header class="topbar"><div class="inner"><span class="brand">Todo</span></div></header>
<main class="inner">
<div class="titlebar">
  <h1>Todo, shared by every tab</h1>
  <p class="lede">A live page built with hubd's sse package alone: every tab shows the same list.</p>
</div>
<div class="card" data-signals="{text: '', id: 0, error: '', left: 0}" data-init="@get('/updates')">
  <form data-on:submit__prevent="@post('/add')">
    <div class="row">
      <input data-bind:text aria-label="new todo" placeholder="something to do" maxlength="200">
      <button type="submit">Add</button>
    </div>
    <span class="error" data-text="$error"></span>
  </form>
  <ul id="todos" class="feed"></ul>
  <div class="row" style="justify-content: space-between; margin-top: .5rem"><span id="left" data-text="$left + ' left'"></span>
    <button id="clear" class="secondary small" data-on:click="@post('/clear')">Clear done</button></div>
</div>
</main>
</body>
</html>
`))

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTmpl.Execute(w, a.clientSrc)
}

// updates holds one tab's stream open: it writes the list at once, then
// every change, until the tab goes, a write fails or the server shuts
// down.
//
// The stream is not buffered (sse.WithBuffering): buffering pays when many
// small updates can share one write, but here each update is the whole
// list, one Send of two events that is one write already, and a newer view
// replaces one the tab has not taken (offer), so there is never a second
// update to share the write with; the tab should see each change at once,
// which a buffer would only delay until a Flush after every Send.
func (a *app) updates(w http.ResponseWriter, r *http.Request) {
	stream, err := sse.NewSSE(w, r, sse.WithWriteTimeout(writeTimeout))
	if err != nil {
		return
	}
	defer stream.Close()
	t := &tab{views: make(chan []sse.Eventer, 1)}
	a.mu.Lock()
	a.tabs[t] = true
	t.offer(a.view()) // under mu: no change can come in between
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.tabs, t)
		a.mu.Unlock()
	}()
	for {
		select {
		case view := <-t.views:
			if stream.Send(view...) != nil {
				return // the tab is gone, or stopped reading
			}
		case <-r.Context().Done(): // the tab went
			return
		case <-a.closed:
			return
		}
	}
}

// closeStreams ends every open stream: their handlers return.
func (a *app) closeStreams() { a.close.Do(func() { close(a.closed) }) }

// change applies one action to the list, with mu held. It returns an error
// for the visitor, naming what is wrong, or nil when the list changed.
type change func(a *app, in input) error

// input is the part of the page's signals that the actions read.
type input struct {
	Text string `json:"text"`
	ID   int    `json:"id"`
}

// action turns a change into a handler: it reads the signals, applies the
// change, sends the new list to every tab, and answers the poster with a
// signal patch (the input cleared, or the error).
func (a *app) action(c change) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !sse.IsDatastarRequest(r) { // a plain cross-site form cannot set it
			http.Error(w, "want a Datastar request", http.StatusForbidden)
			return
		}
		var in input
		if err := sse.ReadSignals(r, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		err := c(a, in)
		if err == nil {
			view := a.view()
			for t := range a.tabs {
				t.offer(view)
			}
		}
		a.mu.Unlock()

		answer := map[string]any{"error": ""}
		if err != nil {
			answer["error"] = err.Error()
		} else if r.URL.Path == "/add" {
			answer["text"] = ""
		}
		signals, _ := sse.MarshalSignals(answer)
		stream, serr := sse.NewSSE(w, r)
		if serr != nil {
			return
		}
		defer stream.Close()
		stream.Send(signals)
	}
}

func add(a *app, in input) error {
	text := strings.TrimSpace(in.Text)
	switch {
	case text == "":
		return errors.New("text: write something to do first")
	case utf8.RuneCountInString(text) > maxTodoText:
		return fmt.Errorf("text: a todo holds at most %d characters", maxTodoText)
	case len(a.todos) >= maxTodos:
		return fmt.Errorf("the list holds at most %d todos: clear some first", maxTodos)
	}
	a.lastID++
	a.todos = append(a.todos, todo{ID: a.lastID, Text: text})
	return nil
}

func toggle(a *app, in input) error {
	i, err := a.find(in.ID)
	if err == nil {
		a.todos[i].Done = !a.todos[i].Done
	}
	return err
}

func remove(a *app, in input) error {
	i, err := a.find(in.ID)
	if err == nil {
		a.todos = append(a.todos[:i], a.todos[i+1:]...)
	}
	return err
}

func clearDone(a *app, _ input) error {
	kept := a.todos[:0]
	for _, t := range a.todos {
		if !t.Done {
			kept = append(kept, t)
		}
	}
	a.todos = kept
	return nil
}

// find returns the index of the todo with the given id.
func (a *app) find(id int) (int, error) {
	for i, t := range a.todos {
		if t.ID == id {
			return i, nil
		}
	}
	return 0, fmt.Errorf("id: no todo %d (another tab may have deleted it)", id)
}

// view renders the list, with mu held: the list as one element that
// replaces #todos, and the count of what is left as a signal. The visitor's
// text is escaped, so it always shows as text.
func (a *app) view() []sse.Eventer {
	var b strings.Builder
	b.WriteString(`<ul id="todos">`)
	left := 0
	for _, t := range a.todos {
		text, label := html.EscapeString(t.Text), "done"
		if t.Done {
			text, label = "<s>"+text+"</s>", "undo"
		} else {
			left++
		}
		fmt.Fprintf(&b, `<li id="todo-%d"><span>%s</span> `+
			`<button class="toggle" data-on:click="$id = %d; @post('/toggle')">%s</button> `+
			`<button class="delete" data-on:click="$id = %d; @post('/delete')">delete</button></li>`,
			t.ID, text, t.ID, label, t.ID)
	}
	b.WriteString(`</ul>`)
	return []sse.Eventer{
		sse.PatchElements{Elements: b.String()},
		sse.PatchSignals{Signals: fmt.Appendf(nil, `{"left":%d}`, left)},
	}
}
