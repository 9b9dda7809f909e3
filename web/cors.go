package web

import (
	"net/http"
	"slices"
	"strings"
)

// corsHeaders are the request headers a cross-origin page may send: the
// Datastar client's own, a replay position, publish options, credentials.
var corsHeaders = strings.Join([]string{
	"Datastar-Request", "Last-Event-ID", "Content-Type", "Authorization",
	"Datastar-Selector", "Datastar-Mode", "Datastar-Use-View-Transition", "Datastar-Namespace",
	"Datastar-Only-If-Missing", "Datastar-Script-Attributes", "Datastar-Keep-Script", "Hubd-Private",
	"Idempotency-Key", "X-Request-ID",
}, ", ")

// exposedHeaders are the response headers a cross-origin page may read.
const exposedHeaders = "Hubd-Event-Id, X-Request-ID"

// allowOrigin says whether a page from origin may call the hub, and if so
// marks the response for it. Responses vary by Origin either way.
func (s *Server) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if slices.Contains(s.cfg.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
		return true
	}
	if !slices.Contains(s.cfg.AllowedOrigins, origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	return true
}

// handlePreflight answers the CORS preflight that the Datastar client's
// requests trigger (they carry Datastar-Request). An origin that is not
// allowed gets no CORS headers, so the browser stops the request.
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	if s.allowOrigin(w, r) {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Expose-Headers", exposedHeaders)
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// cors marks every response of the wrapped handlers for allowed origins.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.allowOrigin(w, r) {
			w.Header().Set("Access-Control-Expose-Headers", exposedHeaders)
		}
		next.ServeHTTP(w, r)
	})
}
