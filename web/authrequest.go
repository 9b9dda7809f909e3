package web

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubd-dev/hubd/auth"
)

// Defaults of the auth-request settings.
const (
	// DefaultAuthRequestTimeout bounds one request to the app.
	DefaultAuthRequestTimeout = 3 * time.Second
	// DefaultAuthRequestRecheck is how often a stream admitted by the app
	// is asked about again (jittered by up to a fifth more).
	DefaultAuthRequestRecheck = 2 * time.Minute
	// DefaultAuthRequestConcurrency bounds the requests to the app in
	// flight at once; a request that finds no room within its timeout
	// fails as if the app were slow.
	DefaultAuthRequestConcurrency = 32
	// DefaultAuthCacheEntries and DefaultAuthCacheBytes bound the cache of
	// the app's answers.
	DefaultAuthCacheEntries = 10_000
	DefaultAuthCacheBytes   = 4 << 20
	// MaxAuthAnswerBytes bounds the body of an answer of the app: a longer
	// one is a failure, not an admission.
	MaxAuthAnswerBytes = 64 << 10
	// MaxAuthCacheAge caps the max-age an answer may be cached for.
	MaxAuthCacheAge = time.Hour
	// AuthBreakerFailures is how many failures in a row open the breaker:
	// then for AuthBreakerCooldown every admission that needs the app is
	// refused at once (retriably), and after it one request at a time
	// tries the app until one succeeds.
	AuthBreakerFailures = 5
	AuthBreakerCooldown = 5 * time.Second
	// MaxUserLength bounds the "user" of an answer, in bytes.
	MaxUserLength = 256
)

// DefaultAuthRequestForward are the request headers forwarded to the app
// by default: the credentials a browser sends.
var DefaultAuthRequestForward = []string{"Cookie", "Authorization"}

// Errors that end streams, as the reason their subscription gives.
var (
	errTokenExpired = errors.New("web: the token that admitted the stream expired")
	errRevoked      = errors.New("web: the app no longer grants the stream's topics")
	errDisconnected = errors.New("web: disconnected by an operator")
)

// authRetryAfter is what a client refused because the app could not
// answer is told to wait, in seconds.
const authRetryAfter = "2"

// authResult labels hubd_auth_requests_total.
const (
	resultGranted  = "granted"
	resultRefused  = "refused"
	resultTimeout  = "timeout"
	resultError    = "error"      // unreachable, or a 5xx
	resultBad      = "bad-answer" // malformed, too large, or another status
	resultBreaker  = "breaker-open"
	resultNoCred   = "no-credential"
	resultCacheHit = "cache-hit"
)

// authAnswer is what the app said about one credential.
type authAnswer struct {
	subscribe, publish auth.Patterns
	user               string
	expires            time.Time // until when it may be served from the cache
}

// covers reports whether the answer grants every topic.
func (a *authAnswer) covers(topics []string, publish bool) bool {
	ps := a.subscribe
	if publish {
		ps = a.publish
	}
	for _, t := range topics {
		if !ps.Allows(t) {
			return false
		}
	}
	return true
}

// size is what the answer counts against the cache's byte bound.
func (a *authAnswer) size(key string) int64 {
	n := len(key) + len(a.user) + 128
	for _, p := range a.subscribe {
		n += len(p) + 16
	}
	for _, p := range a.publish {
		n += len(p) + 16
	}
	return int64(n)
}

// appAnswer is the JSON body of a 200 from the app.
type appAnswer struct {
	Subscribe auth.Patterns `json:"subscribe"`
	Publish   auth.Patterns `json:"publish"`
	User      string        `json:"user"`
}

// credential is what is forwarded to the app for one subscriber or
// publisher: the forwarded headers, and key, the hash that caches and
// batches its answers (its value is never kept in a log or a metric).
type credential struct {
	header http.Header // the forwarded headers and X-Forwarded-*
	key    string      // SHA-256 of the forwarded header names and values
	uri    string      // the original method and URI, for rechecks
	method string
}

// authRequester asks the app (Config.AuthRequest) whom a request is and
// what it may do, caches the answers and keeps the app from being
// flooded: bounded concurrency and a breaker. Its rechecks are timers,
// stopped and waited for by close.
type authRequester struct {
	url     *url.URL // fixed by the operator, never taken from a request
	forward []string
	timeout time.Duration
	recheck time.Duration
	client  *http.Client
	slots   chan struct{} // one per request in flight
	log     *quietLog     // a dead app fails every request: its warnings are rate-limited

	mu        sync.Mutex
	cache     map[string]*list.Element // of *cacheEntry, most recently used in front
	lru       list.List
	bytes     int64
	maxN      int
	maxBytes  int64
	failures  int       // in a row
	openUntil time.Time // the breaker refuses until then
	probing   bool      // a request is trying the app after the cooldown
	sessions  map[string]*authSession
	closed    bool
	running   sync.WaitGroup // rechecks under way

	requests *prometheus.CounterVec
	latency  prometheus.Histogram
}

type cacheEntry struct {
	key  string
	ans  *authAnswer
	size int64
}

// authSession is the streams one credential opened with the app's
// leave, each with the rights the app granted it (access.appRights),
// asked about again together every recheck interval.
type authSession struct {
	cred    *credential
	streams map[*openStream][]string
	timer   *time.Timer
}

func newAuthRequester(cfg Config, log *quietLog) (*authRequester, error) {
	u, err := url.Parse(cfg.AuthRequest)
	if err != nil {
		return nil, err
	}
	client := cfg.AuthRequestClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	a := &authRequester{
		url: u, forward: cfg.AuthRequestForward, timeout: cfg.AuthRequestTimeout, recheck: cfg.AuthRequestRecheck,
		client: client, slots: make(chan struct{}, cfg.AuthRequestConcurrency), log: log,
		cache: map[string]*list.Element{}, maxN: DefaultAuthCacheEntries, maxBytes: DefaultAuthCacheBytes,
		sessions: map[string]*authSession{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hubd_auth_requests_total",
			Help: "Admissions and rechecks decided by auth-request, by result: granted, refused, timeout, error, bad-answer, breaker-open, no-credential, cache-hit."},
			[]string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hubd_auth_request_seconds",
			Help: "Time the app took to answer auth-request (requests that reached it).", Buckets: prometheus.DefBuckets}),
	}
	for _, r := range []string{resultGranted, resultRefused, resultTimeout, resultError, resultBad, resultBreaker, resultNoCred, resultCacheHit} {
		a.requests.WithLabelValues(r)
	}
	return a, nil
}

// credentialOf is what r would forward to the app; nil when r carries
// none of the forwarded headers, which needs no question.
func (a *authRequester) credentialOf(r *http.Request, clientIP string) *credential {
	c := &credential{header: http.Header{}, method: r.Method, uri: r.URL.RequestURI()}
	h := sha256.New()
	for _, name := range a.forward {
		for _, v := range r.Header.Values(name) {
			c.header.Add(name, v)
			fmt.Fprintf(h, "%s\x00%s\x00", http.CanonicalHeaderKey(name), v)
		}
	}
	if len(c.header) == 0 {
		return nil
	}
	c.key = string(h.Sum(nil))
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	c.header.Set("X-Forwarded-For", clientIP)
	c.header.Set("X-Forwarded-Proto", proto)
	c.header.Set("X-Forwarded-Host", r.Host)
	return c
}

// decide returns the app's answer for c about topics: from the cache when
// a fresh answer there grants them all, else from the app. The error is an
// *apiError: 401 or 403 as the app answered, or a retriable refusal
// (refusedAuthApp) when the app could not answer.
func (a *authRequester) decide(ctx context.Context, c *credential, topics []string, publish bool) (*authAnswer, error) {
	if ans := a.cached(c.key, time.Now()); ans != nil && ans.covers(topics, publish) {
		a.requests.WithLabelValues(resultCacheHit).Inc()
		return ans, nil
	}
	return a.ask(ctx, c, topics, publish)
}

// ask asks the app about c and topics and caches a 200 it may keep.
func (a *authRequester) ask(ctx context.Context, c *credential, topics []string, publish bool) (*authAnswer, error) {
	if !a.enter(time.Now()) {
		a.requests.WithLabelValues(resultBreaker).Inc()
		return nil, appUnavailable("auth-request: the app failed repeatedly; not asked again for a few seconds", nil)
	}
	ans, result, err := a.roundTrip(ctx, c, topics, publish)
	a.requests.WithLabelValues(result).Inc()
	a.leave(result, time.Now())
	if err != nil {
		if result != resultRefused { // a refusal is the app's answer, not a failure
			a.log.LogAttrs(ctx, slog.LevelWarn, "auth-request", slog.String("result", result), slog.Any("err", err))
		}
		return nil, err
	}
	if !ans.expires.IsZero() {
		a.store(c.key, ans)
	}
	return ans, nil
}

// appUnavailable is the retriable refusal of a client the app could not
// decide about.
func appUnavailable(msg string, err error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, RetryAfter: authRetryAfter, Refused: refusedAuthApp, Msg: msg, Err: err}
}

// roundTrip sends one request to the app and reads its answer.
func (a *authRequester) roundTrip(ctx context.Context, c *credential, topics []string, publish bool) (*authAnswer, string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return nil, resultTimeout, appUnavailable("auth-request: too many requests to the app in flight", ctx.Err())
	}
	u := *a.url
	q := u.Query()
	action := "subscribe"
	if publish {
		action = "publish"
	}
	q.Set("action", action)
	q.Del("topic")
	for _, t := range topics {
		q.Add("topic", t)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, resultError, appUnavailable("auth-request: "+err.Error(), err)
	}
	req.Header = c.header.Clone()
	req.Header.Set("X-Forwarded-Method", c.method)
	req.Header.Set("X-Forwarded-Uri", c.uri)
	req.Header.Set("X-Original-Method", c.method)
	req.Header.Set("X-Original-URI", c.uri)
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := a.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, resultTimeout, appUnavailable(fmt.Sprintf("auth-request: the app did not answer within %v", a.timeout), err)
		}
		return nil, resultError, appUnavailable("auth-request: the app could not be reached", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAuthAnswerBytes+1))
	a.latency.Observe(time.Since(start).Seconds())
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return nil, resultTimeout, appUnavailable(fmt.Sprintf("auth-request: the app did not finish its answer within %v", a.timeout), err)
	case err != nil:
		return nil, resultError, appUnavailable("auth-request: reading the app's answer: "+err.Error(), err)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, resultRefused, unauthorized("authorization: the app refused the request (auth-request answered 401)", true, auth.ErrNoCredential)
	case resp.StatusCode == http.StatusForbidden:
		return nil, resultRefused, &apiError{Status: http.StatusForbidden, Field: "topic", Err: auth.ErrForbidden,
			Msg: "topic: the app refused the request (auth-request answered 403)"}
	case resp.StatusCode >= 500:
		return nil, resultError, appUnavailable(fmt.Sprintf("auth-request: the app answered %d", resp.StatusCode), nil)
	case resp.StatusCode != http.StatusOK:
		return nil, resultBad, appUnavailable(fmt.Sprintf("auth-request: the app answered %d; want 200, 401 or 403", resp.StatusCode), nil)
	case len(body) > MaxAuthAnswerBytes:
		return nil, resultBad, appUnavailable(fmt.Sprintf("auth-request: the app's answer is longer than %d bytes", MaxAuthAnswerBytes), nil)
	}
	ans, err := parseAnswer(body)
	if err != nil {
		return nil, resultBad, appUnavailable("auth-request: the app's answer: "+err.Error(), err)
	}
	if age, ok := maxAge(resp.Header); ok {
		ans.expires = time.Now().Add(age)
	}
	return ans, resultGranted, nil
}

// parseAnswer reads a 200's body: grants as in a token's hubd claim, and
// maybe a user.
func parseAnswer(body []byte) (*authAnswer, error) {
	var aa appAnswer
	if err := json.Unmarshal(body, &aa); err != nil {
		return nil, fmt.Errorf("not the JSON object of grants: %w", err)
	}
	if err := (auth.Grants{Subscribe: aa.Subscribe, Publish: aa.Publish}).Validate(); err != nil {
		return nil, err
	}
	if err := validateUser(aa.User); err != nil {
		return nil, err
	}
	return &authAnswer{subscribe: aa.Subscribe, publish: aa.Publish, user: aa.User}, nil
}

// validateUser checks a user ID: at most MaxUserLength bytes, no control
// characters, so that it is safe in logs and JSON.
func validateUser(u string) error {
	if len(u) > MaxUserLength {
		return fmt.Errorf("user: %d bytes, longer than %d", len(u), MaxUserLength)
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x20 || u[i] == 0x7f {
			return fmt.Errorf("user %q: holds a control character", u)
		}
	}
	return nil
}

// maxAge is the max-age of a Cache-Control header, capped at
// MaxAuthCacheAge; ok is false when the answer must not be cached.
func maxAge(h http.Header) (time.Duration, bool) {
	var age time.Duration
	found := false
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store", d == "no-cache", d == "private=\"\"":
				return 0, false
			case strings.HasPrefix(d, "max-age="):
				n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age="))
				if err != nil || n <= 0 {
					return 0, false
				}
				age, found = min(time.Duration(n)*time.Second, MaxAuthCacheAge), true
			}
		}
	}
	return age, found
}

// enter reports whether a request may go to the app now: not while the
// breaker is open, and after it only one at a time until one succeeds.
func (a *authRequester) enter(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failures < AuthBreakerFailures {
		return true
	}
	if now.Before(a.openUntil) || a.probing {
		return false
	}
	a.probing = true
	return true
}

// leave records how a request to the app went.
func (a *authRequester) leave(result string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.probing = false
	switch result {
	case resultGranted, resultRefused:
		a.failures = 0
	default:
		a.failures++
		if a.failures >= AuthBreakerFailures {
			a.openUntil = now.Add(AuthBreakerCooldown)
		}
	}
}

// cached returns the fresh answer cached under key, or nil.
func (a *authRequester) cached(key string, now time.Time) *authAnswer {
	a.mu.Lock()
	defer a.mu.Unlock()
	el := a.cache[key]
	if el == nil {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.ans.expires) {
		a.dropLocked(el)
		return nil
	}
	a.lru.MoveToFront(el)
	return e.ans
}

// store caches ans under key, dropping the least recently used answers
// while the cache holds too many or too large ones.
func (a *authRequester) store(key string, ans *authAnswer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el := a.cache[key]; el != nil {
		a.dropLocked(el)
	}
	e := &cacheEntry{key: key, ans: ans, size: ans.size(key)}
	if e.size > a.maxBytes {
		return
	}
	a.cache[key] = a.lru.PushFront(e)
	a.bytes += e.size
	for len(a.cache) > a.maxN || a.bytes > a.maxBytes {
		a.dropLocked(a.lru.Back())
	}
}

func (a *authRequester) dropLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	a.lru.Remove(el)
	delete(a.cache, e.key)
	a.bytes -= e.size
}

// forget drops key's cached answer: the app refused it since.
func (a *authRequester) forget(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el := a.cache[key]; el != nil {
		a.dropLocked(el)
	}
}

// forgetUser drops the cached answers about user: an operator cut the
// user's streams, and their reconnects must be asked about again.
func (a *authRequester) forgetUser(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, el := range a.cache {
		if el.Value.(*cacheEntry).ans.user == user {
			a.dropLocked(el)
		}
	}
}

// jitter is the recheck interval plus up to a fifth more, so that streams
// admitted together are not all asked about together.
func (a *authRequester) jitter() time.Duration {
	return a.recheck + rand.N(a.recheck/5+1)
}

// watch puts o among its credential's streams, whose rights (those the
// app granted it) are asked about again every recheck interval.
func (a *authRequester) watch(s *Server, o *openStream, c *credential, rights []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	sess := a.sessions[c.key]
	if sess == nil {
		sess = &authSession{cred: c, streams: map[*openStream][]string{}}
		a.sessions[c.key] = sess
		key := c.key
		sess.timer = time.AfterFunc(a.jitter(), func() { a.recheckSession(s, key) })
	}
	sess.streams[o] = rights
	o.session = c.key
}

// unwatch takes o out of its credential's streams; the last one stops
// the rechecks.
func (a *authRequester) unwatch(o *openStream) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sess := a.sessions[o.session]
	if sess == nil {
		return
	}
	delete(sess.streams, o)
	if len(sess.streams) == 0 {
		sess.timer.Stop()
		delete(a.sessions, o.session)
	}
}

// recheckSession asks the app again about one credential's streams (one
// request for them all, without the cache) and ends those whose rights
// it no longer grants. An app that cannot answer ends nothing: the
// streams are asked about again at the next interval.
func (a *authRequester) recheckSession(s *Server, key string) {
	a.mu.Lock()
	sess := a.sessions[key]
	if sess == nil || a.closed {
		a.mu.Unlock()
		return
	}
	a.running.Add(1)
	defer a.running.Done()
	streams := maps.Clone(sess.streams)
	var topics []string
	for _, rights := range streams {
		for _, t := range rights {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	cred := sess.cred
	a.mu.Unlock()

	ans, err := a.ask(context.Background(), cred, topics, false)
	var api *apiError
	switch {
	case err == nil:
		for o, rights := range streams {
			if !ans.covers(rights, false) {
				s.endStream(o, errRevoked)
			}
		}
	case errors.As(err, &api) && api.Refused == nil: // 401 or 403
		a.forget(key)
		for o := range streams {
			s.endStream(o, errRevoked)
		}
	}
	a.mu.Lock()
	if sess := a.sessions[key]; sess != nil && !a.closed {
		sess.timer.Reset(a.jitter())
	}
	a.mu.Unlock()
}

// close stops every recheck and waits for those under way.
func (a *authRequester) close() {
	a.mu.Lock()
	a.closed = true
	for _, sess := range a.sessions {
		sess.timer.Stop()
	}
	a.mu.Unlock()
	a.running.Wait()
}
