package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/mercure"
)

// DefaultMercureCookie is the cookie a Mercure subscriber's (or browser
// publisher's) token may come in: the name Mercure hubs and their client
// libraries use.
const DefaultMercureCookie = "mercureAuthorization"

// MercureConfig sets up the Mercure protocol's endpoint, /.well-known/mercure.
// Its zero value serves it, with the keys, issuer, audience, CORS origins
// and limits of the rest of the hub.
type MercureConfig struct {
	// Disabled turns the endpoint off: it then answers 404.
	Disabled bool
	// Cookie is the cookie a subscriber's token may come in
	// (DefaultMercureCookie if empty).
	Cookie string
	// Anonymous lets subscribers without a token subscribe while
	// authorization is on; they get public updates only. Off, as in
	// Mercure hubs, a subscriber needs a valid token (whatever it grants).
	Anonymous bool
}

// cookie is the cookie name in force.
func (c MercureConfig) cookie() string {
	if c.Cookie == "" {
		return DefaultMercureCookie
	}
	return c.Cookie
}

// mercureLink is the discovery Link of the hub (Discovery), sent on every
// answer of the Mercure endpoint.
const mercureLink = `<` + mercure.Path + `>; rel="mercure"`

// mercureExposed are the response headers a cross-origin Mercure client
// may read.
const mercureExposed = "Mercure-Last-Event-ID, Link, " + exposedHeaders

// handleMercure serves the Mercure protocol's endpoint: GET subscribes,
// POST publishes (spec/mercure.md of the dunglas/mercure repository).
func (s *Server) handleMercure(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Link", mercureLink)
	if s.allowOrigin(w, r) {
		w.Header().Set("Access-Control-Expose-Headers", mercureExposed)
	}
	switch r.Method {
	case http.MethodGet:
		s.mercureSubscribe(w, r)
	case http.MethodPost:
		s.mercurePublish(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Msg: "method " + r.Method + " not allowed on " + r.URL.Path + "; GET subscribes, POST publishes"})
	}
}

// mercureURL is the hub's URL as the client reached it: the base of
// relative URL patterns and topics, and of the reserved namespace.
func mercureURL(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: mercure.Path}
}

// mercureCredential is what a Mercure request's credential allows.
type mercureCredential struct {
	present bool
	all     bool            // a publish key
	grants  *mercure.Grants // a token's
	until   time.Time       // when the hub stops accepting the token (Authorizer.Expiry); zero: never
	user    string          // the token's subject, if it has one
	key     string          // what rate limits count by
}

// mercureToken checks a Mercure request's credential: the Authorization
// header, or else the Mercure cookie (only from the hub's own pages or an
// allowed origin). A header wins over a cookie (Presenting the Access
// Token). A publish key stands for a token that may publish anywhere.
func (s *Server) mercureToken(r *http.Request) (mercureCredential, error) {
	token, present, err := bearer(r)
	if api := (*apiError)(nil); errors.As(err, &api) {
		// A malformed presentation is the request's fault (Error Responses).
		api.Status, api.Challenge = http.StatusBadRequest, `Bearer realm="hubd", error="invalid_request"`
	}
	if err != nil {
		return mercureCredential{}, err
	}
	if !present {
		if c, err := r.Cookie(s.cfg.Mercure.cookie()); err == nil && c.Value != "" {
			if !s.cookieOrigin(r) {
				return mercureCredential{}, &apiError{Status: http.StatusForbidden, Field: "Origin", Err: auth.ErrForbidden,
					Msg: "Origin: a cookie is accepted only from this hub's own pages or an allowed origin (allowed-origins)"}
			}
			token, present = c.Value, true
		}
	}
	if !present {
		return mercureCredential{key: "ip:" + s.clientIP(r)}, nil
	}
	a := s.cfg.Auth
	if a.PublishKey(token) {
		return mercureCredential{present: true, all: true, key: "key:" + auth.Fingerprint(token)}, nil
	}
	claims, err := a.Parse(token)
	if err != nil {
		return mercureCredential{}, unauthorized("authorization: "+err.Error(), true, err)
	}
	g, err := mercure.ParseGrants(claims.AuthorizationDetails, claims.Mercure, mercureURL(r).String())
	if err != nil {
		return mercureCredential{}, unauthorized("authorization: "+err.Error(), true, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err))
	}
	var pub, sub func(string) bool
	if len(claims.Hubd.Publish) > 0 {
		pub = claims.Hubd.Publish.Allows
	}
	if len(claims.Hubd.Subscribe) > 0 {
		sub = claims.Hubd.Subscribe.Allows
	}
	return mercureCredential{present: true, grants: g.Allow(pub, sub), until: a.Expiry(claims), user: claims.Subject,
		key: "token:" + auth.Fingerprint(token)}, nil
}

// forbidden is the 403 of a valid token that does not grant what was
// asked (Error Responses).
func forbidden(field, msg string) *apiError {
	return &apiError{Status: http.StatusForbidden, Field: field, Msg: msg, Err: auth.ErrForbidden,
		Challenge: `Bearer realm="hubd", error="insufficient_scope"`}
}

// mercurePublish publishes a Mercure update from a form post and answers
// its event ID as text (Publication): the publisher's id, or a urn:uuid
// the hub makes.
func (s *Server) mercurePublish(w http.ResponseWriter, r *http.Request) {
	upd, err := s.mercureUpdate(w, r)
	if err != nil {
		writeError(w, r, mercureError(err))
		return
	}
	id := upd.Event.ID
	if id == "" {
		// Mercure's IDs are IRIs; a random UUID also tells a subscriber
		// nothing about other updates (Reconciliation).
		id = "urn:uuid:" + uuid.NewString()
	}
	upd.Event.ID = "" // the hub writes it, as EventID
	opts := hub.PublishOptions{Private: upd.Private, EventID: id, OpaqueTopics: true}
	if _, err := s.hub.PublishContext(r.Context(), upd.Topics, opts, upd.Event); err != nil {
		writeError(w, r, mercureError(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(id)) // the client may be gone; nothing to do
}

// mercureUpdate checks a Mercure publish's credential, rate and form, and
// returns its update.
func (s *Server) mercureUpdate(w http.ResponseWriter, r *http.Request) (*mercure.Update, error) {
	c := mercureCredential{all: true, key: "ip:" + s.clientIP(r)}
	if s.authOn() {
		var err error
		if c, err = s.mercureToken(r); err != nil {
			return nil, err
		}
		if !c.present {
			return nil, &apiError{Status: http.StatusUnauthorized, Field: "authorization", Err: auth.ErrNoCredential,
				Msg: "authorization: missing; a publish needs a bearer token or publish key", Challenge: `Bearer realm="hubd"`}
		}
	}
	if err := s.rates.allow(c.key, 1, time.Now()); err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, &apiError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Msg: fmt.Sprintf("Content-Type %q: a Mercure publish is a form, application/x-www-form-urlencoded", r.Header.Get("Content-Type"))}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(*body))
	putBuffer(body)
	if err != nil {
		return nil, badField("body", err)
	}
	if n := len(form["topic"]); n > s.cfg.MaxTopicsPerSubscription {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Field: "topic",
			Msg: fmt.Sprintf("topic: %d topics, more than the limit of %d (max-topics-per-subscription)", n, s.cfg.MaxTopicsPerSubscription)}
	}
	upd, err := mercure.ParsePublish(form, mercureURL(r))
	if err != nil {
		return nil, err
	}
	for _, t := range upd.Topics {
		if err := checkReserved(t); err != nil {
			return nil, err
		}
		if !c.all && !c.grants.CanPublish(t) {
			return nil, forbidden("topic", fmt.Sprintf("topic: the token does not grant publishing to %q", t))
		}
	}
	return upd, nil
}

// mercureSubscribe streams the updates of the topics a Mercure subscriber's
// matchers select (Subscription), private ones only as its token grants,
// from its last event ID on (Reconciliation).
func (s *Server) mercureSubscribe(w http.ResponseWriter, r *http.Request) {
	base := mercureURL(r)
	req, err := mercure.ParseSubscribe(r.URL.Query(), base.String(), s.cfg.MaxTopicsPerSubscription)
	if err != nil {
		writeError(w, r, mercureError(err))
		return
	}
	var c mercureCredential
	if s.authOn() {
		if c, err = s.mercureToken(r); err != nil {
			writeError(w, r, err)
			return
		}
		if !c.present && !s.cfg.Mercure.Anonymous {
			writeError(w, r, &apiError{Status: http.StatusUnauthorized, Field: "authorization", Err: auth.ErrNoCredential,
				Msg: "authorization: missing; this hub takes Mercure subscribers with a token only (mercure-anonymous is off)", Challenge: `Bearer realm="hubd"`})
			return
		}
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = req.LastEventID
	}
	opts := []hub.SubscribeOption{hub.WithSelector(mercure.NewRoute(req, c.grants)), hub.WithOpaqueTopics(), hub.WithoutMissedSignal()}
	spec := streamSpec{topics: req.Exact(), lastID: lastID, opts: opts, acc: access{user: c.user, expires: c.until}}
	if lastID != "" {
		spec.ready = func(w http.ResponseWriter, sub *hub.Subscription) {
			from := lastID
			if sub.Missed {
				from = mercure.Earliest
			}
			w.Header().Set("Mercure-Last-Event-ID", from)
		}
	}
	s.run(s.start(w, r, spec))
}

// mercureError gives the protocol's errors their status: a malformed
// request is a 400 naming what is wrong.
func mercureError(err error) error {
	var api *apiError
	if !errors.As(err, &api) && errors.Is(err, mercure.ErrInvalid) {
		return &apiError{Status: http.StatusBadRequest, Msg: err.Error(), Err: err}
	}
	return err
}
