package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
)

//go:embed pages/*.html
var pageFiles embed.FS

// stylesheet is the pages' stylesheet, served at /hubd.css; the demos
// and examples/todo share it.
//
//go:embed pages/hubd.css
var stylesheet []byte

func handleStylesheet(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(stylesheet) // the client may be gone; nothing to do
}

// openAPI describes the HTTP API; it is served at /openapi.yaml.
//
//go:embed openapi.yaml
var openAPI []byte

func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI) // the client may be gone; nothing to do
}

var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"index.html", "counter.html", "chat.html", "topic.html"} {
		out[name] = template.Must(template.ParseFS(pageFiles, "pages/layout.html", "pages/"+name))
	}
	return out
}()

// pageData is what every page template gets.
type pageData struct {
	Title, DatastarURL, Host string
	Demos                    bool
	Nav                      string // the page's entry in the navigation: "dashboard", "counter", "chat"
	// The dashboard's charts and tables as they are when the page is
	// served; the statistics' stream keeps them current.
	Charts        [2]template.HTML
	Topics, Nodes template.HTML
	Clustered     bool
	Topic         topicPage // the topic view's
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, d pageData) {
	s.renderStatus(w, r, http.StatusOK, name, d)
}

// renderStatus renders a page with the given status.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.DatastarURL, d.Host, d.Demos = s.client, r.Host, s.cfg.Demos
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if err := pages[name].ExecuteTemplate(w, name, d); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "render page", slog.String("page", name), slog.Any("err", err))
	}
}

// handleIndex serves the dashboard, with its charts and tables as they
// are now.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	charts, topics, nodes := s.dashboardParts(time.Now())
	s.render(w, r, "index.html", pageData{Title: "dashboard", Nav: "dashboard",
		Charts: [2]template.HTML{template.HTML(charts[0]), template.HTML(charts[1])}, // rendered by html/template and strconv
		Topics: template.HTML(topics), Nodes: template.HTML(nodes), Clustered: s.hub.Clustered()})
}

// handleClientJS serves the Datastar client from the file the operator
// named, for installs that cannot reach the CDN.
func (s *Server) handleClientJS(w http.ResponseWriter, r *http.Request) {
	// A page of another origin loads it as a module script, which the
	// browser fetches in CORS mode: the file is public, so any origin may.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Del("Access-Control-Allow-Credentials")
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(s.clientJS) // the client may be gone; nothing to do
}

// Demo topics and bounds.
const (
	tryTopic         = "demo"
	counterTopic     = "demo/counter"
	chatTopic        = "demo/chat"
	maxChatMessage   = 500 // characters
	maxChatName      = 40
	maxDemoSignalLen = 16 << 10
)

// demoState is what the demos keep between requests. The count itself is
// not here: it is the hub's retained state of the counter topic, which
// survives a restart and is the same on every node of a cluster.
type demoState struct {
	mu sync.Mutex // orders this node's counter updates with their publishes
}

// demoAnswer answers a demo's Datastar request: the signals given (an
// error message, cleared inputs) are patched into the page.
func (s *Server) demoAnswer(w http.ResponseWriter, r *http.Request, signals map[string]any) {
	b, err := json.Marshal(signals)
	if err != nil {
		panic(err) // strings only
	}
	stream, err := sse.NewSSE(w, r)
	if err != nil {
		return
	}
	defer stream.Close()
	stream.Send(sse.PatchSignals{Signals: b}) // the page may be gone; nothing to do
}

// admitDemo lets a demo's post through, or answers why not. The demos
// publish for anyone, so they take posts only from the hub's own pages (or
// those of cors-origins) and only with the body the Datastar client sends,
// application/json: a page of another site could otherwise post a "simple"
// cross-site request (text/plain or a form, which needs no CORS preflight)
// and put its HTML on every dashboard. The publish rate applies by address.
func (s *Server) admitDemo(w http.ResponseWriter, r *http.Request) bool {
	err := s.demoOrigin(r)
	if err == nil {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			err = &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
				Msg: fmt.Sprintf("Content-Type %q: the demos take application/json, as the Datastar client sends it", r.Header.Get("Content-Type"))}
		}
	}
	if err == nil {
		err = s.rates.allow("ip:"+s.clientIP(r), 1, time.Now())
	}
	if err != nil {
		writeError(w, r, err)
		return false
	}
	return true
}

// demoOrigin refuses a post that a browser made for a page of another
// origin than the hub's own or one listed in cors-origins: by its Origin,
// or, without one, by its Sec-Fetch-Site. A request with neither comes
// from no browser page (curl, a back end) and is let through.
func (s *Server) demoOrigin(r *http.Request) error {
	if origin := r.Header.Get("Origin"); origin != "" {
		if s.ownOrigin(r, origin) || slices.Contains(s.cfg.AllowedOrigins, "*") || slices.Contains(s.cfg.AllowedOrigins, origin) {
			return nil
		}
		return &apiError{Status: http.StatusForbidden, Field: "Origin",
			Msg: fmt.Sprintf("Origin %q may not post to the demos: only the hub's own pages and those of cors-origins may", origin)}
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
		return nil
	default:
		return &apiError{Status: http.StatusForbidden, Field: "Sec-Fetch-Site",
			Msg: fmt.Sprintf("Sec-Fetch-Site %q: the demos take posts from the hub's own pages only", site)}
	}
}

// ownOrigin reports whether origin is the hub's own: an http or https
// origin with the request's host and port. The scheme is not compared, so
// that a hub behind a proxy that ends TLS (the request then arrives over
// plain HTTP) still knows its own https pages.
func (s *Server) ownOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// readSignals reads a demo's signals within maxDemoSignalLen and the read
// timeout.
func (s *Server) readSignals(w http.ResponseWriter, r *http.Request, v any) error {
	err := s.readWithin(w, func() error { return sse.ReadSignalsLimit(r, v, maxDemoSignalLen) })
	var api *apiError
	if err != nil && !errors.As(err, &api) {
		return badField("signals", err)
	}
	return err
}

// handleTry publishes what the dashboard's form holds to the demo topic:
// HTML appended to #arrivals, or a JSON object of signals.
func (s *Server) handleTry(w http.ResponseWriter, r *http.Request) {
	if !s.admitDemo(w, r) {
		return
	}
	var in struct {
		TryKind string `json:"tryKind"`
		TryBody string `json:"tryBody"`
	}
	if err := s.readSignals(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	var ev sse.Eventer
	switch in.TryKind {
	case "html":
		ev = sse.PatchElements{Elements: in.TryBody, Selector: "#arrivals", Mode: sse.ModeAppend}
	case "signals":
		ev = sse.PatchSignals{Signals: []byte(in.TryBody)}
	default:
		s.demoAnswer(w, r, map[string]any{"tryError": fmt.Sprintf("kind %q: want html or signals", in.TryKind)})
		return
	}
	if _, err := s.hub.Publish([]string{tryTopic}, ev); err != nil { // names what is wrong with the event
		s.demoAnswer(w, r, map[string]any{"tryError": err.Error()})
		return
	}
	s.demoAnswer(w, r, map[string]any{"tryError": ""})
}

// handleCounterPage serves the shared counter demo. The page does not
// carry the count: the count is published retained, so the page's
// subscription hands it the current count first.
func (s *Server) handleCounterPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "counter.html", pageData{Title: "counter demo", Nav: "counter"})
}

// handleCounterAdd adds one to the count the hub retains for the counter
// topic and publishes the sum, retained, so that a page that loads later
// gets it from its stream.
func (s *Server) handleCounterAdd(w http.ResponseWriter, r *http.Request) {
	if !s.admitDemo(w, r) {
		return
	}
	s.demo.mu.Lock()
	defer s.demo.mu.Unlock()
	var state struct{ Count int64 }
	if retained := s.hub.RetainedSignals(counterTopic); retained != nil {
		// Written only by this handler; anything else counts as zero.
		_ = json.Unmarshal(retained, &state)
	}
	ev := sse.PatchSignals{Signals: fmt.Appendf(nil, `{"count":%d}`, state.Count+1)}
	if _, err := s.hub.PublishContext(r.Context(), []string{counterTopic}, hub.PublishOptions{Retain: true}, ev); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleChatPage serves the chat demo.
func (s *Server) handleChatPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "chat.html", pageData{Title: "chat demo", Nav: "chat"})
}

// handleChatSend publishes one chat message, escaped, to every chat tab.
func (s *Server) handleChatSend(w http.ResponseWriter, r *http.Request) {
	if !s.admitDemo(w, r) {
		return
	}
	var in struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	if err := s.readSignals(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	name, msg := strings.TrimSpace(in.Name), strings.TrimSpace(in.Message)
	if name == "" {
		name = "anonymous"
	}
	var problem error
	switch {
	case msg == "":
		problem = errors.New("write a message first")
	case utf8.RuneCountInString(msg) > maxChatMessage:
		problem = fmt.Errorf("a message holds at most %d characters", maxChatMessage)
	case utf8.RuneCountInString(name) > maxChatName:
		problem = fmt.Errorf("a name holds at most %d characters", maxChatName)
	}
	if problem != nil {
		s.demoAnswer(w, r, map[string]any{"chatError": problem.Error()})
		return
	}
	li := "<li><b>" + html.EscapeString(name) + "</b> " + html.EscapeString(msg) + "</li>"
	ev := sse.PatchElements{Elements: li, Selector: "#messages", Mode: sse.ModeAppend, UseViewTransition: true}
	if _, err := s.hub.Publish([]string{chatTopic}, ev); err != nil {
		s.demoAnswer(w, r, map[string]any{"chatError": err.Error()})
		return
	}
	s.demoAnswer(w, r, map[string]any{"message": "", "chatError": ""})
}
