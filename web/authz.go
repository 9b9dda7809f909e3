package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

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

// authenticatePublisher checks a publish's credential: a bearer token, or
// a publish key in its place. Without authorization configured everyone
// may publish, counted by address.
func (s *Server) authenticatePublisher(r *http.Request) (publisher, error) {
	a := s.cfg.Auth
	if !a.Enabled() {
		return publisher{all: true, key: "ip:" + s.clientIP(r)}, nil
	}
	token, present, err := bearer(r)
	if err != nil {
		return publisher{}, err
	}
	if !present {
		return publisher{}, unauthorized("authorization: missing; a publish needs a bearer token or publish key", false, auth.ErrNoCredential)
	}
	if a.PublishKey(token) {
		return publisher{all: true, key: "key:" + auth.Fingerprint(token)}, nil
	}
	claims, err := a.Parse(token)
	if err != nil {
		return publisher{}, unauthorized("authorization: "+err.Error(), true, err)
	}
	return publisher{grants: claims.Hubd.Publish, key: "token:" + auth.Fingerprint(token)}, nil
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

// authorizeSubscribe checks that the request may subscribe to every topic,
// each granted by its token or open to anyone, and returns the option that
// gives it the private events of the topics its token grants.
func (s *Server) authorizeSubscribe(r *http.Request, topics []string) (hub.SubscribeOption, error) {
	for _, t := range topics {
		if err := hub.ValidateTopic(t); err != nil {
			return nil, badField("topic", err)
		}
	}
	a := s.cfg.Auth
	if !a.Enabled() {
		return nil, nil
	}
	token, present, err := s.subscriberToken(r)
	if err != nil {
		return nil, err
	}
	var granted auth.Patterns
	if present {
		claims, err := a.Parse(token)
		if err != nil {
			return nil, unauthorized("authorization: "+err.Error(), true, err)
		}
		granted = claims.Hubd.Subscribe
	}
	for _, t := range topics {
		if viewed, ok := viewedTopic(t); ok {
			t = viewed // a topic's view takes the right to subscribe to the topic
		}
		if granted.Allows(t) || a.AnonymousSubscribe(t) {
			continue
		}
		if !present {
			return nil, unauthorized(fmt.Sprintf("authorization: missing; topic %q needs a token", t), false, auth.ErrNoCredential)
		}
		return nil, &apiError{Status: http.StatusForbidden, Field: "topic", Err: auth.ErrForbidden,
			Msg: fmt.Sprintf("topic: the token does not grant subscribing to %q", t)}
	}
	if len(granted) == 0 {
		return nil, nil
	}
	return hub.WithPrivate(granted.Allows), nil
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
	if private && !s.cfg.Auth.Enabled() {
		return false, badField("private", errors.New("needs authorization configured: without tokens no subscriber could receive it"))
	}
	return private, nil
}
