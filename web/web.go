// Package web is hubd's HTTP surface: the publish and subscribe endpoints,
// health and metrics, and the pages. It turns requests into hub calls and
// hub errors into HTTP statuses with JSON error bodies.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/time/rate"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/mercure"
	"github.com/hubd-dev/hubd/sse"
)

// Defaults for Config's zero values.
const (
	DefaultMaxBodyBytes     = 1 << 20
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxTopicsPerConn = 64
	DefaultReadTimeout      = 10 * time.Second
	DefaultMaxBatchEvents   = 1000
)

// Config sets up the HTTP surface. Its zero value is usable.
type Config struct {
	// MaxBodyBytes bounds a publish body (DefaultMaxBodyBytes if zero).
	MaxBodyBytes int64
	// ReadTimeout bounds the reading of a publish's body (and a demo's
	// signals), from when the handler starts reading it: a body that has
	// not arrived in full by then gets 408 and nothing is published
	// (DefaultReadTimeout if zero). Streams have no body and are not
	// concerned.
	ReadTimeout time.Duration
	// MaxBatchEvents bounds the events of one POST /publish; a batch with
	// more gets 413 (DefaultMaxBatchEvents if zero).
	MaxBatchEvents int
	// WriteTimeout bounds every write to a subscriber; a client that does
	// not take a write in time is dropped (DefaultWriteTimeout if zero).
	WriteTimeout time.Duration
	// Compression lists the content codings subscribers may get, in the
	// server's order of preference; empty sends streams uncompressed.
	Compression []sse.Encoding
	// MaxTopicsPerSubscription bounds the topics of one stream
	// (DefaultMaxTopicsPerConn if zero).
	MaxTopicsPerSubscription int
	// AllowedOrigins lists the page origins (such as
	// "https://app.example.com") that may subscribe and publish from a
	// browser; "*" allows any origin, without credentials. Empty allows
	// none: same-origin pages only.
	AllowedOrigins []string
	// AllowedHosts lists the host names (without port) that requests may
	// carry in their Host header while Auth is off, besides loopback names
	// (localhost, *.localhost) and IP addresses; "*" allows any. Other
	// requests get 421, so that a page on a rebound DNS name cannot reach a
	// hub that trusts whoever reaches it. With Auth on, any host is served.
	AllowedHosts []string
	// DatastarClient is where the pages load the Datastar client from: an
	// http:// or https:// URL, or the name of a local file, which hubd then
	// serves at /datastar.js for installs without internet. Empty means
	// sse.DatastarCDN.
	DatastarClient string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// when telling client addresses apart (for MaxStreamsPerIP and logs).
	TrustedProxies []netip.Prefix
	// MaxStreams bounds the open streams of the whole server; a subscribe
	// past it gets 503 with Retry-After. Zero means no bound.
	MaxStreams int
	// MaxStreamsPerIP bounds the open streams of one client address; a
	// subscribe past it gets 429 with Retry-After. Zero means no bound.
	MaxStreamsPerIP int
	// Auth decides who may publish and subscribe to which topics; nil or
	// one without credentials lets everyone do everything.
	Auth *auth.Authorizer
	// AuthCookie is the cookie a subscriber's token may come in
	// (DefaultAuthCookie if empty).
	AuthCookie string
	// QueryToken lets subscribers give their token as the access_token
	// query parameter, for clients that can set neither a header nor a
	// cookie. Off by default: URLs end up in logs and browser history.
	QueryToken bool
	// PublishRate bounds the publishes per second of one token, publish
	// key or (without authorization) client address, with bursts of
	// PublishBurst; past it a publish gets 429. Zero means no bound.
	PublishRate float64
	// PublishBurst is how many publishes may come at once within
	// PublishRate (the rate rounded up, at least 1, if zero).
	PublishBurst int
	// Demos serves the demo pages under /demo/ and the dashboard's "try
	// it" form, which publish to the demo topics for anyone. Leave it off
	// when authorization is on: it would let anyone publish there.
	Demos bool
	// AuthRequest, if set, is the URL of the app's endpoint that decides
	// for its own sessions (see authrequest.go and docs/authorization.md):
	// a subscribe, or a publish without a token or key, that no token
	// decides is asked about there with the forwarded headers. It is fixed
	// here by the operator, never taken from a request.
	AuthRequest string
	// AuthRequestForward are the request headers forwarded to the app
	// (DefaultAuthRequestForward if empty); their values key its cached
	// answers, by hash.
	AuthRequestForward []string
	// AuthRequestTimeout bounds one request to the app
	// (DefaultAuthRequestTimeout if zero).
	AuthRequestTimeout time.Duration
	// AuthRequestRecheck is how often the app is asked again about the
	// streams it admitted, each credential's together
	// (DefaultAuthRequestRecheck if zero); a stream whose topics it no
	// longer grants is ended.
	AuthRequestRecheck time.Duration
	// AuthRequestConcurrency bounds the requests to the app in flight
	// (DefaultAuthRequestConcurrency if zero).
	AuthRequestConcurrency int
	// AuthRequestClient sends the requests to the app; nil uses a client
	// of hubd's own that follows no redirects.
	AuthRequestClient *http.Client
	// MaxStreamsPerUser bounds the open streams of one user (a token's
	// subject, or the app's "user"); a subscribe past it is refused for a
	// while (429). Zero means no bound.
	MaxStreamsPerUser int
	// Logger receives request logs at Debug and errors at Error; nil
	// discards them. Every line about a request carries its request_id,
	// and every line about a stream its stream_id.
	Logger *slog.Logger
	// Mercure sets up the Mercure protocol's endpoint (see mercure.go).
	Mercure MercureConfig
}

// Validate returns every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d: must not be negative", c.MaxBodyBytes))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout %v: must not be negative", c.WriteTimeout))
	}
	if c.ReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("read timeout %v: must not be negative", c.ReadTimeout))
	}
	if c.MaxBatchEvents < 0 {
		errs = append(errs, fmt.Errorf("max batch events %d: must not be negative", c.MaxBatchEvents))
	}
	if c.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("max streams %d: must not be negative", c.MaxStreams))
	}
	if c.MaxStreamsPerIP < 0 {
		errs = append(errs, fmt.Errorf("max streams per IP %d: must not be negative", c.MaxStreamsPerIP))
	}
	if c.PublishRate < 0 || math.IsNaN(c.PublishRate) || math.IsInf(c.PublishRate, 0) {
		errs = append(errs, fmt.Errorf("publish rate %v: must be a finite number, not negative", c.PublishRate))
	}
	if c.PublishBurst < 0 {
		errs = append(errs, fmt.Errorf("publish burst %d: must not be negative", c.PublishBurst))
	}
	if c.AuthRequest != "" {
		if u, err := url.Parse(c.AuthRequest); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("auth request %q: want an absolute http:// or https:// URL", c.AuthRequest))
		}
	}
	for _, name := range c.AuthRequestForward {
		if !httpguts.ValidHeaderFieldName(name) {
			errs = append(errs, fmt.Errorf("auth request forward %q: not a header name", name))
		}
	}
	if c.AuthRequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("auth request timeout %v: must not be negative", c.AuthRequestTimeout))
	}
	if c.AuthRequestRecheck < 0 {
		errs = append(errs, fmt.Errorf("auth request recheck %v: must not be negative", c.AuthRequestRecheck))
	}
	if c.AuthRequestConcurrency < 0 {
		errs = append(errs, fmt.Errorf("auth request concurrency %d: must not be negative", c.AuthRequestConcurrency))
	}
	if c.MaxStreamsPerUser < 0 {
		errs = append(errs, fmt.Errorf("max streams per user %d: must not be negative", c.MaxStreamsPerUser))
	}
	if c.MaxTopicsPerSubscription < 0 {
		errs = append(errs, fmt.Errorf("max topics per subscription %d: must not be negative", c.MaxTopicsPerSubscription))
	}
	for _, h := range c.AllowedHosts {
		if err := ValidateAllowedHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	for _, e := range c.Compression {
		switch e {
		case sse.Gzip, sse.Brotli, sse.Zstd, sse.Identity:
		default:
			errs = append(errs, fmt.Errorf("compression %q: want gzip, br, zstd or identity", e))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxTopicsPerSubscription == 0 {
		c.MaxTopicsPerSubscription = DefaultMaxTopicsPerConn
	}
	if c.MaxBatchEvents == 0 {
		c.MaxBatchEvents = DefaultMaxBatchEvents
	}
	if c.AuthCookie == "" {
		c.AuthCookie = DefaultAuthCookie
	}
	if c.PublishBurst == 0 {
		c.PublishBurst = max(1, int(math.Ceil(c.PublishRate)))
	}
	if len(c.AuthRequestForward) == 0 {
		c.AuthRequestForward = DefaultAuthRequestForward
	}
	if c.AuthRequestTimeout == 0 {
		c.AuthRequestTimeout = DefaultAuthRequestTimeout
	}
	if c.AuthRequestRecheck == 0 {
		c.AuthRequestRecheck = DefaultAuthRequestRecheck
	}
	if c.AuthRequestConcurrency == 0 {
		c.AuthRequestConcurrency = DefaultAuthRequestConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server serves hubd's HTTP API for one hub.
type Server struct {
	hub      *hub.Hub
	cfg      Config
	log      *slog.Logger
	router   chi.Router
	routing  sync.Pool // *chi.Context, lent to one routed request at a time (see route)
	ready    atomic.Bool
	streams  []sse.Option
	limits   streamLimits
	refused  refusalCounts
	streamN  atomic.Uint64 // the last stream ID given
	turns    turns         // how many hijacked streams may write at once
	rates    publishLimits
	demo     demoState
	stats    statsState // what the dashboard's charts show; see stats.go
	client   string     // the URL pages load Datastar from
	clientJS []byte     // the Datastar client served at /datastar.js, if a file was given

	authReq         *authRequester // with Config.AuthRequest; its rechecks are stopped by Close
	live            liveStreams
	ended           *prometheus.CounterVec // streams ended by expiry, revocation or disconnect
	shareDisconnect hub.DisconnectSender   // with a cluster's event log
	stopShare       func()                 // stops sharing disconnects; called by Close

	hangups *hangups  // ends hijacked streams whose clients hang up; stopped by Close
	quiet   *quietLog // logs what many clients can cause at once; stopped by Close
}

// New returns the HTTP surface of h. It is ready (GET /readyz answers 200)
// until SetReady(false).
func New(h *hub.Hub, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("web config: %w", err)
	}
	cfg = cfg.withDefaults()
	s := &Server{hub: h, cfg: cfg, log: slog.New(logHandler{cfg.Logger.Handler()})}
	s.hangups, s.quiet = newHangups(s.log, s.hungUp, probeHalfClosed), newQuietLog(s.log, quietBurst, quietEvery)
	s.limits = streamLimits{max: cfg.MaxStreams, perIP: cfg.MaxStreamsPerIP, byIP: map[string]int{},
		perUser: cfg.MaxStreamsPerUser, byUser: map[string]int{}}
	s.live.all = map[uint64]*openStream{}
	s.ended = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hubd_streams_ended_total",
		Help: "Streams the hub ended while their clients were still there, by reason: token-expired, revoked (by the app's recheck), disconnected (by an operator)."},
		[]string{"reason"})
	for _, r := range []string{"token-expired", "revoked", "disconnected"} {
		s.ended.WithLabelValues(r)
	}
	if cfg.AuthRequest != "" {
		a, err := newAuthRequester(cfg, s.quiet)
		if err != nil {
			return nil, fmt.Errorf("web config: auth request: %w", err)
		}
		s.authReq = a
	}
	s.refused = newRefusalCounts()
	s.rates = publishLimits{every: rate.Limit(cfg.PublishRate), burst: cfg.PublishBurst, buckets: map[string]*rate.Limiter{}}
	switch c := cfg.DatastarClient; {
	case c == "":
		s.client = sse.DatastarCDN
	case strings.HasPrefix(c, "http://"), strings.HasPrefix(c, "https://"):
		s.client = c
	default:
		js, err := os.ReadFile(c)
		if err != nil {
			return nil, fmt.Errorf("web config: datastar client: %w", err)
		}
		s.client, s.clientJS = "/datastar.js", js
	}
	s.turns = newTurns(writeTurns())
	s.ready.Store(true)
	// Streams end by the hub (eviction, shutdown), a failed write, or, for
	// responses net/http keeps, the pump's own wait on the request's
	// context: they need no watch of their own.
	s.streams = []sse.Option{sse.WithWriteTimeout(cfg.WriteTimeout), sse.WithoutContextWatch()}
	if len(cfg.Compression) > 0 {
		s.streams = append(s.streams, sse.WithCompression(cfg.Compression...))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(h, s.refused), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), s.ended)
	if s.authReq != nil {
		reg.MustRegister(s.authReq.requests, s.authReq.latency)
	}
	send, stop, err := h.ShareDisconnects(s.Disconnect)
	if err != nil {
		return nil, fmt.Errorf("share disconnects: %w", err)
	}
	s.shareDisconnect, s.stopShare = send, stop

	r := chi.NewRouter()
	// Streams are routed in ServeHTTP, before the router; these routes only
	// document them.
	r.Get("/subscribe", s.handleSubscribeQuery)
	r.Group(func(r chi.Router) {
		r.Use(s.logRequests, middleware.Recoverer, s.cors)
		r.Get("/topics/*", s.handleTopicGet) // presence counts; streams document themselves here
		r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		r.Get("/readyz", s.handleReady)
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		r.Post("/topics/*", s.handlePublish)
		r.Post("/publish", s.handleBatch)
		r.Delete("/topics/*", s.handleDeleteRetained)
		r.Post("/streams/disconnect", s.handleDisconnect)
		r.Get("/", s.handleIndex)
		r.Get("/openapi.yaml", handleOpenAPI)
		r.Get("/hubd.css", handleStylesheet)
		r.Get("/dashboard/topic", s.handleTopicForm)
		r.Get(viewPagePath+"*", s.handleTopicPage)
		if s.clientJS != nil {
			r.Get("/datastar.js", s.handleClientJS)
		}
		if cfg.Demos {
			r.Post("/try", s.handleTry)
			r.Get("/demo/counter", s.handleCounterPage)
			r.Post("/demo/counter/add", s.handleCounterAdd)
			r.Get("/demo/chat", s.handleChatPage)
			r.Post("/demo/chat/send", s.handleChatSend)
		}
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, &apiError{Status: http.StatusNotFound, Msg: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Msg: "method " + r.Method + " not allowed on " + r.URL.Path})
	})
	s.router = r
	return s, nil
}

// ServeHTTP routes a request.
// A CORS preflight (OPTIONS with Access-Control-Request-Method) is answered
// for every path.
//
// Streams go straight to their handlers, without the router or any
// middleware: a stream's goroutine waits for as long as the connection
// lasts, and its stack keeps the depth it waits at. With the router's
// frames gone it uses under 2 KiB, so the runtime shrinks it to 4 KiB
// (with middleware it stayed at 16 KiB).
//
// Every request gets its ID first (see requestID): the X-Request-ID
// response header, and for routed requests the context, where the logger
// finds it. Then, while authorization is off, its Host must be one the hub
// answers to (see checkHost).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setRequestID(w, r)
	if err := s.checkHost(r); err != nil {
		writeError(w, r, err)
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/topics/") && !isPresencePath(r):
		s.handleSubscribePath(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/subscribe":
		s.handleSubscribeQuery(w, r)
	case r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "":
		s.handlePreflight(w, r)
	case r.URL.Path == mercure.Path && !s.cfg.Mercure.Disabled:
		s.handleMercure(w, r)
	default:
		s.route(w, r)
	}
}

// route hands r to the router with its request ID in its context, where
// logHandler finds it, and with the router's routing context beside it:
// chi, finding one, routes without copying the request again. A routed
// request costs one copy of the request instead of two, which a publish
// notices. Like chi's own, the routing context goes back to its pool when
// the handler returns.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	rctx, _ := s.routing.Get().(*chi.Context)
	if rctx == nil {
		rctx = chi.NewRouteContext()
	}
	rctx.Reset()
	rctx.Routes = s.router
	ctx := context.WithValue(r.Context(), requestIDKey{}, w.Header().Get(headerRequestID))
	s.router.ServeHTTP(w, r.WithContext(context.WithValue(ctx, chi.RouteCtxKey, rctx)))
	s.routing.Put(rctx)
}

// SetReady sets what GET /readyz answers; hubd clears it when it starts
// shutting down so that load balancers stop sending clients.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	if err := s.hub.FollowErr(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not following the cluster's event log: " + err.Error()})
		return
	}
	if !s.hub.CaughtUp() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "catching up with the cluster's event log"})
		return
	}
	if ls, ok := s.hub.LogStats(); ok && len(ls.Damage) > 0 {
		// Ready: what remains is served under a new epoch, but an
		// operator should know what was lost.
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "damage": ls.Damage})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// logRequests logs each request at Debug with its status and duration;
// the logger adds its request ID from the context (streams are logged
// when they end).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", ww.Status()), slog.Duration("duration", time.Since(start)))
		}()
		next.ServeHTTP(ww, r)
	})
}

// Log keys.
const (
	keyRequestID = "request_id"
	keyRemote    = "remote"
	keyReason    = "reason"
	keyStreamID  = "stream_id"
)
