// Command sessionapp is a small web app with a login form and a session
// cookie, whose pages receive live updates from hubd without any token:
// hubd asks the app about each stream (auth-request), and the app answers
// from its own sessions. It uses the standard library only.
//
//	hubd -auth-request http://127.0.0.1:8081/hubd/auth -publish-keys "$KEY" -admin-keys "$KEY"
//	go run ./examples/sessionapp -addr 127.0.0.1:8081 -hub http://127.0.0.1:8080 -hub-key "$KEY"
//
// A page subscribes to two topics: user/NAME, which only NAME may read,
// and shared, which every signed-in user may read. The browser must reach
// hubd's /topics/ under the app's own origin (a proxy such as nginx in
// front of both), so that its session cookie goes with the streams; the
// app never hands out a hubd token.
//
// GET /hubd/auth is the endpoint hubd asks: 200 with the session's grants
// and user, or 401 without a session. Logging out ends the session: hubd
// notices at its next recheck and cuts the page's streams, whose
// reconnects are then refused. "Log out everywhere" also asks hubd to
// disconnect the user's streams at once (POST /streams/disconnect, with
// the key, which must be one of hubd's admin-keys).
//
// It prints "listening on http://ADDR" once it accepts connections.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// datastarCDN is the official client the pages load by default.
const datastarCDN = "https://cdn.jsdelivr.net/gh/starfederation/datastar@1.0.2/bundles/datastar.js"

// sessionCookie names the cookie that carries a session's ID.
const sessionCookie = "session"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "sessionapp:", err)
		os.Exit(1)
	}
}

// run serves the app until ctx ends or SIGINT/SIGTERM arrives.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sessionapp", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on (port 0 picks a free port)")
	hubURL := fs.String("hub", "http://127.0.0.1:8080", "hubd's URL, where the app publishes")
	hubKey := fs.String("hub-key", getenv("SESSIONAPP_HUB_KEY"), "hubd publish key, also an admin key for log out everywhere (env SESSIONAPP_HUB_KEY)")
	store := fs.String("sessions", "", "file that keeps the sessions across restarts (empty: memory only)")
	client := fs.String("datastar", datastarCDN, "the Datastar client: an http(s) URL, or a file served at /datastar.js")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := &app{hub: strings.TrimRight(*hubURL, "/"), key: *hubKey, clientSrc: *client, sessions: map[string]string{}, store: *store}
	if err := a.load(); err != nil {
		return err
	}
	if !strings.HasPrefix(*client, "https://") && !strings.HasPrefix(*client, "http://") {
		if _, err := os.Stat(*client); err != nil {
			return fmt.Errorf("-datastar %q: neither an http(s) URL nor a readable file: %w", *client, err)
		}
		a.clientSrc, a.clientFile = "/datastar.js", *client
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
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
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// app keeps the sessions: session ID to user name. mu guards them.
type app struct {
	hub        string // hubd's base URL
	key        string // hubd publish and admin key
	clientSrc  string
	clientFile string
	client     http.Client

	store string // the -sessions file, or ""

	mu       sync.Mutex
	sessions map[string]string
}

// load reads the sessions file, if there is one yet.
func (a *app) load() error {
	if a.store == "" {
		return nil
	}
	b, err := os.ReadFile(a.store)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &a.sessions); err != nil {
		return fmt.Errorf("-sessions %s: %w", a.store, err)
	}
	return nil
}

// saveLocked writes the sessions file; a.mu is held.
func (a *app) saveLocked() error {
	if a.store == "" {
		return nil
	}
	b, err := json.Marshal(a.sessions)
	if err != nil {
		return err
	}
	tmp := a.store + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.store)
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
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /logout-everywhere", a.logoutEverywhere)
	mux.HandleFunc("POST /note", a.note)
	mux.HandleFunc("POST /shout", a.shout)
	mux.HandleFunc("GET /hubd/auth", a.authorize)
	return mux
}

// user is the name of r's session, or "".
func (a *app) user(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// authorize is the endpoint hubd asks (auth-request): the session's
// grants, for the whole session whatever topics were asked, or 401.
func (a *app) authorize(w http.ResponseWriter, r *http.Request) {
	name := a.user(r)
	if name == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=10")
	json.NewEncoder(w).Encode(map[string]any{
		"subscribe": []string{"user/" + name, "shared"},
		"user":      name,
	})
}

var validName = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(strings.TrimSpace(r.FormValue("name")))
	if !validName.MatchString(name) {
		http.Error(w, "name: 1 to 32 letters or digits", http.StatusBadRequest)
		return
	}
	b := make([]byte, 32)
	rand.Read(b)
	id := hex.EncodeToString(b)
	a.mu.Lock()
	a.sessions[id] = name
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		http.Error(w, "keep the session: "+err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		_ = a.saveLocked() // the session is gone from memory; a restart before the next save would bring it back
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logoutEverywhere ends every session of the user and has hubd cut the
// user's streams at once, on every node.
func (a *app) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	name := a.user(r)
	if name != "" {
		a.mu.Lock()
		for id, n := range a.sessions {
			if n == name {
				delete(a.sessions, id)
			}
		}
		_ = a.saveLocked()
		a.mu.Unlock()
		body, _ := json.Marshal(map[string]string{"user": name})
		if err := a.toHub(r.Context(), "/streams/disconnect", "application/json", body); err != nil {
			http.Error(w, "disconnect: "+err.Error(), http.StatusBadGateway)
			return
		}
	}
	a.logout(w, r)
}

// note publishes the page's note signal to the user's own topic.
func (a *app) note(w http.ResponseWriter, r *http.Request) {
	name := a.user(r)
	if name == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	var signals struct{ Note string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&signals); err != nil {
		http.Error(w, "signals: "+err.Error(), http.StatusBadRequest)
		return
	}
	a.publish(w, r, "user/"+name, "#mine", "<li>"+html.EscapeString(signals.Note)+"</li>")
}

// shout tells every signed-in user who shouted.
func (a *app) shout(w http.ResponseWriter, r *http.Request) {
	name := a.user(r)
	if name == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	a.publish(w, r, "shared", "#shared", "<li>"+html.EscapeString(name)+" shouted</li>")
}

// publish appends the element li to selector for the subscribers of topic.
func (a *app) publish(w http.ResponseWriter, r *http.Request, topic, selector, li string) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, a.hub+"/topics/"+topic, strings.NewReader(li))
	if err == nil {
		req.Header.Set("Content-Type", "text/html")
		req.Header.Set("Datastar-Selector", selector)
		req.Header.Set("Datastar-Mode", "append")
		err = a.send(req)
	}
	if err != nil {
		http.Error(w, "publish: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *app) toHub(ctx context.Context, path, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.hub+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	return a.send(req)
}

// send sends req to hubd with the key and checks the answer.
func (a *app) send(req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("hubd answered %s: %s", resp.Status, b)
	}
	return nil
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>session app</title>
<link rel="icon" href="data:,">
<script type="module" src="{{.Client}}"></script>
</head>
<body>
{{if .User}}
<h1>Hello, <span id="name">{{.User}}</span></h1>
<div data-signals="{note: ''}">
  <form data-on:submit__prevent="@post('/note')">
    <input data-bind:note aria-label="note" placeholder="a note to yourself">
    <button id="send" type="submit">Send to myself</button>
  </form>
  <button id="shout" data-on:click="@post('/shout')">Shout to everyone</button>
  <h2>Mine</h2>
  <ul id="mine" data-init="@get('/topics/user/{{.User}}')"></ul>
  <h2>Everyone</h2>
  <ul id="shared" data-init="@get('/topics/shared')"></ul>
</div>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/logout-everywhere"><button id="logout-everywhere">Log out everywhere</button></form>
{{else}}
<h1>Sign in</h1>
<form method="post" action="/login">
  <input name="name" aria-label="name" placeholder="your name" pattern="[a-z0-9]{1,32}" required>
  <button id="login" type="submit">Sign in</button>
</form>
{{end}}
</body>
</html>
`))

func (a *app) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	pageTmpl.Execute(w, struct{ Client, User string }{a.clientSrc, a.user(r)})
}
