package web

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
)

//go:embed pages/*.html
var pageFiles embed.FS

// openAPI describes the HTTP API; it is served at /openapi.yaml.
//
//go:embed openapi.yaml
var openAPI []byte

func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI) // the client may be gone; nothing to do
}

var pages = template.Must(template.ParseFS(pageFiles, "pages/*.html"))

// handleIndex serves the start page, a live example driven by the hub.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct{ DatastarURL, Host string }{s.client, r.Host}
	if err := pages.ExecuteTemplate(w, "index.html", data); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "render page", slog.Any("err", err))
	}
}

// handleClientJS serves the Datastar client from the file the operator
// named, for installs that cannot reach the CDN.
func (s *Server) handleClientJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(s.clientJS) // the client may be gone; nothing to do
}
