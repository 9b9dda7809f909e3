package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
)

// DefaultAuthCookie is the cookie a subscriber's token may come in.
const DefaultAuthCookie = "hubd_token"

// publisher is who sent a publish, once its credential is checked.
type publisher struct {
	grants auth.Patterns // nil with all set
	all    bool          // a publish key, or a hub without authorization
	key    string        // what rate limits count by
}

func (p publisher) allows(topic string) bool { return p.all || p.grants.Allows(topic) }

// unauthorized is a 401 with the challenge RFC 6750 asks for; presented
// says whether a credential came with the request (then it was invalid).
func unauthorized(msg string, presented bool, err error) *apiError {
	challenge := `Bearer realm="hubd"`
	if presented {
		challenge += `, error="invalid_token"`
	}
	return &apiError{Status: http.StatusUnauthorized, Field: "authorization", Msg: msg, Err: err, Challenge: challenge}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (token string, present bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", true, unauthorized(`authorization: want "Bearer <token>"`, true, nil)
	}
	return strings.TrimSpace(token), true, nil
}

// authOn reports whether requests need a credential: tokens or keys are
// configured, or an app answers for its sessions (auth-request).
func (s *Server) authOn() bool { return s.cfg.Auth.Enabled() || s.authReq != nil }

// authenticatePublisher checks a publish's credential: a bearer token, or
// a publish key in its place, which decide without the app; with
// auth-request, a publish that carries neither (or a bearer the hub does
// not know) is decided by the app, asked about the path's topic if it
// names one. Without authorization configured everyone may publish,
// counted by address.
func (s *Server) authenticatePublisher(r *http.Request) (publisher, error) {
	a := s.cfg.Auth
	if !s.authOn() {
		return publisher{all: true, key: "ip:" + s.clientIP(r)}, nil
	}
	token, present, err := bearer(r)
	if err == nil && present {
		if a.PublishKey(token) {
			return publisher{all: true, key: "key:" + auth.Fingerprint(token)}, nil
		}
		claims, perr := a.Parse(token)
		if perr == nil {
			return publisher{grants: claims.Hubd.Publish, key: "token:" + auth.Fingerprint(token)}, nil
		}
		err = unauthorized("authorization: "+perr.Error(), true, perr)
	}
	if s.authReq == nil {
		if err != nil {
			return publisher{}, err
		}
		return publisher{}, unauthorized("authorization: missing; a publish needs a bearer token or publish key", false, auth.ErrNoCredential)
	}
	cred, err := s.appCredential(r)
	if err != nil {
		return publisher{}, err
	}
	var topics []string
	if strings.HasPrefix(r.URL.Path, "/topics/") {
		if t, err := pathTopic(r); err == nil {
			topics = []string{t}
		}
	}
	ans, err := s.authReq.decide(r.Context(), cred, topics, true)
	if err != nil {
		return publisher{}, err
	}
	key := "app:" + auth.Fingerprint(cred.key)
	if ans.user != "" {
		key = "user:" + ans.user
	}
	return publisher{grants: ans.publish, key: key}, nil
}

// appCredential is what r forwards to the app (auth-request). A request
// that forwards nothing is refused without asking, and one that forwards
// a cookie must come from a page that may use it (see cookieOrigin), so
// that another site's page cannot subscribe with its visitors' sessions.
func (s *Server) appCredential(r *http.Request) (*credential, error) {
	cred := s.authReq.credentialOf(r, s.clientIP(r))
	if cred == nil {
		s.authReq.requests.WithLabelValues(resultNoCred).Inc()
		return nil, unauthorized(fmt.Sprintf("authorization: missing; send the app's session (%s) or a token",
			strings.Join(s.authReq.forward, ", ")), false, auth.ErrNoCredential)
	}
	if cred.header.Get("Cookie") != "" && !s.cookieOrigin(r) {
		return nil, &apiError{Status: http.StatusForbidden, Field: "Origin", Err: auth.ErrForbidden,
			Msg: fmt.Sprintf("Origin %q may not use the app's cookies (add it to cors-origins)", r.Header.Get("Origin"))}
	}
	return cred, nil
}

// authorizePublish checks that p may publish to every topic; field names
// the request field the topics came from.
func authorizePublish(p publisher, topics []string, field func(i int) string) error {
	for i, t := range topics {
		if err := hub.ValidateTopic(t); err != nil {
			return badField(field(i), err)
		}
		if !p.allows(t) {
			return &apiError{Status: http.StatusForbidden, Field: field(i), Err: auth.ErrForbidden,
				Msg: fmt.Sprintf("%s: the credential does not grant publishing to %q", field(i), t)}
		}
	}
	return nil
}

// access is what admitted a stream: the private events it gets, whom it
// belongs to, and what ends it.
type access struct {
	private hub.SubscribeOption // nil: no private events
	user    string              // the token's subject or the app's user; "" if none
	expires time.Time           // when the token that admitted it stops being accepted; zero: never
	cred    *credential         // with auth-request: asked about again while the stream lasts
	// appRights are the topics whose right only the app granted (a
	// view's is its topic's): what a recheck asks it to go on granting.
	appRights []string
}

// authorizeSubscribe checks that the request may subscribe to every topic,
// each granted by its token, open to anyone, or (with auth-request)
// granted by the app, and returns what admitted it. A valid token decides
// without the app; the app is asked only about requests it leaves
// topics to decide, with every topic asked for.
func (s *Server) authorizeSubscribe(r *http.Request, topics []string) (access, error) {
	for _, t := range topics {
		if err := hub.ValidateTopic(t); err != nil {
			return access{}, badField("topic", err)
		}
	}
	if !s.authOn() {
		return access{}, nil
	}
	a := s.cfg.Auth
	var acc access
	var granted auth.Patterns
	token, present, err := s.subscriberToken(r)
	if err == nil && present && (a.AcceptsTokens() || s.authReq == nil) {
		claims, perr := a.Parse(token)
		if perr == nil {
			granted, acc.user, acc.expires = claims.Hubd.Subscribe, claims.Subject, a.Expiry(claims)
		} else {
			err = unauthorized("authorization: "+perr.Error(), true, perr)
		}
	}
	if err != nil && s.authReq == nil {
		return access{}, err
	}
	// A topic's view ($hubd/topic/T) takes the right to subscribe to T.
	rights := make([]string, len(topics))
	for i, t := range topics {
		rights[i] = t
		if viewed, ok := viewedTopic(t); ok {
			rights[i] = viewed
		}
	}
	var needed []string // the rights neither the token nor anonymity grants
	for _, t := range rights {
		if !granted.Allows(t) && !a.AnonymousSubscribe(t) {
			needed = append(needed, t)
		}
	}
	switch {
	case len(needed) == 0:
	case s.authReq != nil:
		// The app decides: a token it does not know may be its own.
		cred, err := s.appCredential(r)
		if err != nil {
			return access{}, err
		}
		ans, err := s.authReq.decide(r.Context(), cred, rights, false)
		if err != nil {
			return access{}, err
		}
		for _, t := range needed {
			if !ans.subscribe.Allows(t) {
				return access{}, &apiError{Status: http.StatusForbidden, Field: "topic", Err: auth.ErrForbidden,
					Msg: fmt.Sprintf("topic: the app does not grant subscribing to %q", t)}
			}
		}
		granted = append(slices.Clip(granted), ans.subscribe...)
		acc.cred, acc.appRights = cred, needed
		if ans.user != "" {
			acc.user = ans.user
		}
	case !present:
		return access{}, unauthorized(fmt.Sprintf("authorization: missing; topic %q needs a token", needed[0]), false, auth.ErrNoCredential)
	default:
		return access{}, &apiError{Status: http.StatusForbidden, Field: "topic", Err: auth.ErrForbidden,
			Msg: fmt.Sprintf("topic: the token does not grant subscribing to %q", needed[0])}
	}
	if len(granted) > 0 {
		acc.private = hub.WithPrivate(granted.Allows)
	}
	return acc, nil
}

// subscriberToken finds a subscriber's token: the Authorization header,
// else the cookie (only from the hub's own pages or an allowed origin, so
// that another site cannot subscribe with the visitor's cookie), else the
// access_token parameter when that is turned on.
func (s *Server) subscriberToken(r *http.Request) (string, bool, error) {
	if token, present, err := bearer(r); present || err != nil {
		return token, present, err
	}
	if c, err := r.Cookie(s.cfg.AuthCookie); err == nil && c.Value != "" {
		if !s.cookieOrigin(r) {
			return "", true, &apiError{Status: http.StatusForbidden, Field: "Origin", Err: auth.ErrForbidden,
				Msg: fmt.Sprintf("Origin %q may not use the %s cookie (add it to cors-origins)", r.Header.Get("Origin"), s.cfg.AuthCookie)}
		}
		return c.Value, true, nil
	}
	if s.cfg.QueryToken {
		if token := r.URL.Query().Get("access_token"); token != "" {
			return token, true, nil
		}
	}
	return "", false, nil
}

// cookieOrigin reports whether a request may be authorized by cookie: it
// comes from no page (EventSource on the same origin sends no Origin), the
// hub's own origin, or an origin listed by name in AllowedOrigins.
func (s *Server) cookieOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return origin == scheme+r.Host || slices.Contains(s.cfg.AllowedOrigins, origin)
}

// privateOption reads the private flag of a publish: the Hubd-Private
// header, the private parameter, or inBody (the batch's own field).
func (s *Server) privateOption(r *http.Request, inBody bool) (bool, error) {
	private, err := boolOption(r, "Hubd-Private", "private")
	if err != nil {
		return false, err
	}
	private = private || inBody
	if private && !s.authOn() {
		return false, badField("private", errors.New("needs authorization configured: without tokens no subscriber could receive it"))
	}
	return private, nil
}
