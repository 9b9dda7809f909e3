package web_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestHostileRequests sends malformed and hostile requests to a hub with
// authorization on. Each must get its exact status and an error naming what
// was wrong; after each, the hub must still serve, and a subscriber
// connected throughout must get the next event and nothing else: nothing
// already accepted is lost, and nothing refused leaks out.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	// The read timeout is short and real: the table runs on real sockets
	// (bodytimeout_test.go times the cut exactly, on a fake clock).
	srv := newAuthServer(t, web.Config{MaxBodyBytes: 16 << 10, MaxBatchEvents: 5, ReadTimeout: 500 * time.Millisecond,
		AllowedOrigins: []string{"https://app.example"}}, "public/**")
	watcher := subscribe(t, srv, "/topics/public/feed", "")
	if ev, err := watcher.next(); err != nil || ev.ID == "" {
		t.Fatalf("cursor frame: %+v %v", ev, err)
	}

	key := "Bearer " + testKey
	feed := "/topics/public/feed"
	html := func(kv ...string) http.Header {
		return hdr(append([]string{"Content-Type", "text/html", "Authorization", key}, kv...)...)
	}
	jsonH := func(kv ...string) http.Header {
		return hdr(append([]string{"Content-Type", "application/json", "Authorization", key}, kv...)...)
	}
	forge := func(method jwt.SigningMethod, signKey any, mod func(*auth.Claims)) string {
		c := auth.Claims{Hubd: auth.Grants{Publish: auth.Patterns{"**"}, Subscribe: auth.Patterns{"**"}}}
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
		if mod != nil {
			mod(&c)
		}
		s, err := jwt.NewWithClaims(method, c).SignedString(signKey)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	// signed signs claims written by hand, as a hostile issuer would: the
	// JWT library writes dates only as numbers.
	signed := func(claims string) string {
		enc := base64.RawURLEncoding
		in := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(in, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + in + "." + enc.EncodeToString(sig)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	many := url.Values{}
	for i := range 10_000 {
		many.Add("topic", fmt.Sprintf("public/t%d", i))
	}

	cases := []hostileCase{
		// Publish bodies and options.
		{name: "bad JSON signals", method: "POST", path: feed, header: jsonH(), body: `{"a":`, status: 400, field: "signals", msg: "are not a JSON object"},
		{name: "signals not an object", method: "POST", path: feed, header: jsonH(), body: `[1,2]`, status: 400, field: "signals", msg: "are not a JSON object"},
		{name: "signals with trailing garbage", method: "POST", path: feed, header: jsonH(), body: `{"a":1} {}`, status: 400, field: "signals", msg: "are not a JSON object"},
		{name: "invalid mode", method: "POST", path: feed, header: html("Datastar-Mode", "sideways"), body: "<p>x</p>", status: 400, field: "mode", msg: `"sideways"`},
		{name: "selector with CR", method: "POST", path: feed + "?selector=%23a%0Db", header: html(), body: "<p>x</p>", status: 400, field: "selector", msg: "selector"},
		{name: "selector with LF", method: "POST", path: feed + "?selector=%23a%0Ab", header: html(), body: "<p>x</p>", status: 400, field: "selector", msg: "selector"},
		{name: "namespace with LF", method: "POST", path: feed + "?namespace=svg%0Adata:%20x", header: html(), body: "<p>x</p>", status: 400, field: "namespace", msg: "namespace"},
		{name: "script attributes not JSON", method: "POST", path: feed + "?attributes=%7Bx", header: hdr("Content-Type", "text/javascript", "Authorization", key), body: "1", status: 400, field: "attributes", msg: "attributes: invalid character"},
		{name: "view transition not a boolean", method: "POST", path: feed + "?useViewTransition=perhaps", header: html(), body: "<p>x</p>", status: 400, field: "useViewTransition", msg: `"perhaps" is not true or false`},
		{name: "private not a boolean", method: "POST", path: feed + "?private=perhaps", header: html(), body: "<p>x</p>", status: 400, field: "private", msg: `"perhaps" is not true or false`},
		{name: "NUL in body", method: "POST", path: feed, header: html(), body: "<p>a\x00b</p>", status: 400, field: "body", msg: "NUL byte at offset 4"},
		{name: "invalid UTF-8 in HTML", method: "POST", path: feed, header: html(), body: "<p>\xff\xfe</p>", status: 400, field: "elements", msg: "invalid UTF-8"},
		{name: "invalid UTF-8 in signals", method: "POST", path: feed, header: jsonH(), body: "{\"a\":\"\xff\"}", status: 400, field: "signals", msg: "invalid UTF-8"},
		{name: "wrong Content-Type", method: "POST", path: feed, header: hdr("Content-Type", "text/plain", "Authorization", key), body: "x", status: 415, field: "Content-Type", msg: `"text/plain" (want text/html`},
		{name: "no Content-Type", method: "POST", path: feed, header: hdr("Authorization", key), body: "x", status: 415, field: "Content-Type", msg: "missing"},
		{name: "charset not UTF-8", method: "POST", path: feed, header: hdr("Content-Type", "text/html; charset=latin1", "Authorization", key), body: "x", status: 415, field: "Content-Type", msg: `charset "latin1"`},
		{name: "oversized body", method: "POST", path: feed, header: html(), body: strings.Repeat("x", 17000), status: 413, field: "body", msg: "larger than the limit of 16384 bytes"},
		{name: "refused on a keep-alive connection, body trickling", raw: "POST /topics/public/feed HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n<p>", trickle: "x", status: 401, field: "authorization", msg: "missing"},
		{name: "refused on a keep-alive connection, chunked body trickling", raw: "POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n", trickle: "1\r\n\"\r\n", status: 401, field: "authorization", msg: "invalid token"},
		{name: "body that never comes", raw: "POST /topics/public/feed HTTP/1.1\r\nHost: x\r\nAuthorization: " + key + "\r\nContent-Type: text/html\r\nContent-Length: 100\r\n\r\n<p>", status: 408, field: "body", msg: "not received in full within the read-timeout of 500ms"},

		// A retry is applied in every form, within an hour, or refused by name.
		{name: "retry header over an hour", method: "POST", path: feed, header: html("Datastar-Retry-Duration", "3600001"), body: "<p>x</p>", status: 400, field: "retryDuration", msg: "3600001 milliseconds, more than the limit of 3600000 (one hour)"},
		{name: "retry parameter of a century", method: "POST", path: feed + "?retryDuration=3155760000000", header: html(), body: "<p>x</p>", status: 400, field: "retryDuration", msg: "more than the limit of 3600000 (one hour)"},
		{name: "retry header not a number", method: "POST", path: feed, header: html("Datastar-Retry-Duration", "1e9"), body: "<p>x</p>", status: 400, field: "retryDuration", msg: `"1e9" is not a whole number of milliseconds`},
		{name: "retry under a short name", method: "POST", path: feed, header: html("Datastar-Retry", "5000"), body: "<p>x</p>", status: 400, field: "Datastar-Retry", msg: "not an option"},
		{name: "retry parameter under a short name", method: "POST", path: feed + "?retry=5000", header: html(), body: "<p>x</p>", status: 400, field: "retry", msg: "not an option"},
		{name: "batch retry for all over an hour", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"retryDuration":3600001,"events":[{"type":"patchSignals","signals":{"a":1}}]}`, status: 400, field: "retryDuration", msg: "more than the limit of 3600000 (one hour)"},

		// Options are bounded one by one, and with the body by max-body-bytes.
		{name: "selector header over the option limit", method: "POST", path: feed, header: html("Datastar-Selector", "#"+strings.Repeat("a", 4096)), body: "<p>x</p>", status: 400, field: "selector", msg: "selector: 4097 bytes, more than the limit of 4096 for an option"},
		{name: "selector parameter over the option limit", method: "POST", path: feed + "?selector=%23" + strings.Repeat("a", 4096), header: html(), body: "<p>x</p>", status: 400, field: "selector", msg: "selector: 4097 bytes, more than the limit of 4096 for an option"},
		{name: "namespace parameter over the option limit", method: "POST", path: feed + "?namespace=" + strings.Repeat("s", 5000), header: html(), body: "<p>x</p>", status: 400, field: "namespace", msg: "namespace: 5000 bytes"},
		{name: "script attributes over the option limit", method: "POST", path: feed, header: hdr("Content-Type", "text/javascript", "Authorization", key, "Datastar-Script-Attributes", `{"a":"`+strings.Repeat("b", 4096)+`"}`), body: "1", status: 400, field: "attributes", msg: "attributes: 4104 bytes, more than the limit of 4096"},
		{name: "options and body over max-body-bytes", method: "POST", path: feed, header: html("Datastar-Selector", "#"+strings.Repeat("a", 4000)), body: "<p>" + strings.Repeat("x", 13000) + "</p>", status: 413, field: "event", msg: "more than the limit of 16384 bytes (max-body-bytes)"},
		{name: "line breaks multiply the event", method: "POST", path: feed, header: html(), body: strings.Repeat("<br>\n", 3000), status: 413, field: "event", msg: "more than the limit of 16384 bytes (max-body-bytes)"},

		// Credentials.
		{name: "no credential", method: "POST", path: feed, header: hdr("Content-Type", "text/html"), body: "<p>x</p>", status: 401, field: "authorization", msg: "missing"},
		{name: "expired token", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", forge(jwt.SigningMethodHS256, testSecret, func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })), body: "<p>x</p>", status: 401, field: "authorization", msg: "invalid token: expired"},
		{name: "token not yet valid", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", forge(jwt.SigningMethodHS256, testSecret, func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })), body: "<p>x</p>", status: 401, field: "authorization", msg: "invalid token: not valid yet"},
		{name: "forged token", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", forge(jwt.SigningMethodHS256, []byte("a guessed secret of thirty-two bytes"), nil)), body: "<p>x</p>", status: 401, field: "authorization", msg: "signature is invalid"},
		{name: "alg none", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil)), body: "<p>x</p>", status: 401, field: "authorization", msg: "signing method none is invalid"},
		{name: "wrong key kind", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", forge(jwt.SigningMethodRS256, rsaKey, nil)), body: "<p>x</p>", status: 401, field: "authorization", msg: "signing method RS256 is invalid"},
		{name: "exp as a string", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", signed(`{"exp":"4102444800","hubd":{"publish":["**"]}}`)), body: "<p>x</p>", status: 401, field: "authorization", msg: `claim exp: "4102444800" is not a NumericDate`},
		{name: "nbf as a string", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", signed(`{"exp":4102444800,"nbf":"0","hubd":{"publish":["**"]}}`)), body: "<p>x</p>", status: 401, field: "authorization", msg: `claim nbf: "0" is not a NumericDate`},
		{name: "iat as a string", method: "POST", path: feed, header: hdr("Content-Type", "text/html", "Authorization", signed(`{"exp":4102444800,"iat":"0","hubd":{"publish":["**"]}}`)), body: "<p>x</p>", status: 401, field: "authorization", msg: `claim iat: "0" is not a NumericDate`},
		{name: "topic outside the claims", method: "POST", path: "/topics/private/x", header: hdr("Content-Type", "text/html", "Authorization", "Bearer "+token(t, auth.Patterns{"public/**"}, nil, time.Hour)), body: "<p>x</p>", status: 403, field: "topic", msg: `does not grant publishing to "private/x"`},
		{name: "hub topic", method: "POST", path: "/topics/$hubd/stats", header: html(), body: "<p>x</p>", status: 403, field: "topic", msg: `topic "$hubd/stats" is reserved for the hub`},

		// Topic names.
		{name: "dot-dot in topic", method: "POST", path: "/topics/public/../admin", header: html(), body: "<p>x</p>", status: 400, field: "topic", msg: `".." segment`},
		{name: "encoded dot-dot in topic", method: "POST", path: "/topics/public/%2e%2e/admin", header: html(), body: "<p>x</p>", status: 400, field: "topic", msg: "invalid topic"},
		{name: "empty segment", method: "POST", path: "/topics/public//feed", header: html(), body: "<p>x</p>", status: 400, field: "topic", msg: "empty segment"},
		{name: "topic too long", method: "POST", path: "/topics/" + strings.Repeat("a", 300), header: html(), body: "<p>x</p>", status: 400, field: "topic", msg: "longer than 256"},
		{name: "non-ASCII topic", method: "POST", path: "/topics/caf%C3%A9", header: html(), body: "<p>x</p>", status: 400, field: "topic", msg: "invalid topic"},

		// Batches.
		{name: "batch bad JSON", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":`, status: 400, field: "body", msg: "invalid JSON"},
		{name: "batch unknown field", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[],"extra":1}`, status: 400, field: "body", msg: `unknown field "extra"`},
		{name: "batch no topics", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":[],"events":[{"type":"datastar-patch-signals","signals":{}}]}`, status: 400, field: "topics", msg: "empty"},
		{name: "batch bad event type", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"datastar-nonsense"}]}`, status: 400, field: "events[0].type", msg: "datastar-nonsense"},
		{name: "batch topic forbidden", method: "POST", path: "/publish", header: hdr("Content-Type", "application/json", "Authorization", "Bearer "+token(t, auth.Patterns{"public/**"}, nil, time.Hour)), body: `{"topics":["public/feed","x"],"events":[{"type":"datastar-patch-signals","signals":{"a":1}}]}`, status: 403, field: "topics[1]", msg: `does not grant publishing to "x"`},
		{name: "batch with trailing data", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchSignals","signals":{"a":1}}]} trailing`, status: 400, field: "body", msg: "data after the JSON object at offset 80"},
		{name: "batch with a second object", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchSignals","signals":{"a":1}}]}{"topics":["public/feed"]}`, status: 400, field: "body", msg: "data after the JSON object"},
		{name: "batch over max-batch-events", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[` + strings.Repeat(`{"type":"patchSignals","signals":{"a":1}},`, 5) + `{"type":"patchSignals","signals":{"a":1}}]}`, status: 413, field: "events", msg: "6 events, more than the limit of 5 (max-batch-events)"},
		{name: "batch retry over an hour", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchSignals","signals":{"a":1},"retryDuration":3600001}]}`, status: 400, field: "events[0].retryDuration", msg: "3600001 milliseconds, more than the limit of 3600000 (one hour)"},
		{name: "batch retry of a century", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchSignals","signals":{"a":1}},{"type":"patchSignals","signals":{"a":1},"retryDuration":3155760000000}]}`, status: 400, field: "events[1].retryDuration", msg: "more than the limit of 3600000 (one hour)"},
		{name: "batch selector over the option limit", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchElements","elements":"<p>x</p>","selector":"#` + strings.Repeat("a", 4096) + `"}]}`, status: 400, field: "events[0].selector", msg: "4097 bytes, more than the limit of 4096 for an option"},
		{name: "batch event ID over the option limit", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchSignals","signals":{"a":1},"eventId":"` + strings.Repeat("i", 5000) + `"}]}`, status: 400, field: "events[0].eventId", msg: "5000 bytes, more than the limit of 4096"},
		{name: "batch attributes over the option limit", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"executeScript","script":"1","attributes":{"a":"` + strings.Repeat("b", 2000) + `","c":"` + strings.Repeat("d", 2100) + `"}}]}`, status: 400, field: "events[0].attributes", msg: "4102 bytes, more than the limit of 4096"},
		{name: "batch events over max-body-bytes", method: "POST", path: "/publish", header: jsonH(), body: `{"topics":["public/feed"],"events":[{"type":"patchElements","elements":"` + strings.Repeat(`<br>\n`, 1000) + `"}]}`, status: 413, field: "events", msg: "more than the limit of 16384 bytes (max-body-bytes)"},
		{name: "batch wrong Content-Type", method: "POST", path: "/publish", header: html(), body: `{}`, status: 415, field: "Content-Type", msg: "want application/json"},

		// Subscriptions.
		{name: "10,000 topics", method: "GET", path: "/subscribe" + query(many), status: 400, field: "topic", msg: "10000 topics, more than the limit of 64"},
		{name: "subscribe without topics", method: "GET", path: "/subscribe", status: 400, field: "topic", msg: "missing"},
		{name: "subscribe to a closed topic", method: "GET", path: "/topics/private/x", status: 401, field: "authorization", msg: `topic "private/x" needs a token`},
		{name: "subscribe with path tricks", method: "GET", path: "/topics/public/%2e%2e/private", status: 400, field: "topic", msg: "invalid topic"},
		{name: "subscribe outside the claims", method: "GET", path: "/topics/private/x", header: hdr("Authorization", "Bearer "+token(t, nil, auth.Patterns{"private/y"}, time.Hour)), status: 403, field: "topic", msg: `does not grant subscribing to "private/x"`},
		{name: "cookie from another site", method: "GET", path: "/topics/private/x", header: hdr("Cookie", "hubd_token="+token(t, nil, auth.Patterns{"**"}, time.Hour), "Origin", "https://evil.example"), status: 403, field: "Origin", msg: "may not use the hubd_token cookie"},
		{name: "query token when off", method: "GET", path: "/topics/private/x?access_token=" + token(t, nil, auth.Patterns{"**"}, time.Hour), status: 401, field: "authorization", msg: "needs a token"},

		// The HTTP layer itself.
		{name: "wrong method", method: "PUT", path: feed, header: html(), body: "<p>x</p>", status: 405, msg: "method PUT not allowed"},
		{name: "unknown endpoint", method: "GET", path: "/admin", status: 404, msg: "no such endpoint: GET /admin"},
		{name: "NUL in a header", raw: "POST /topics/public/feed HTTP/1.1\r\nHost: x\r\nAuthorization: " + key + "\r\nContent-Type: text/html\r\nDatastar-Selector: #a\x00b\r\nContent-Length: 1\r\n\r\nx", status: 400},
		{name: "CR inside a header", raw: "POST /topics/public/feed HTTP/1.1\r\nHost: x\r\nAuthorization: " + key + "\r\nContent-Type: text/html\r\nDatastar-Selector: #a\rb\r\nContent-Length: 1\r\n\r\nx", status: 400},
		{name: "huge header", method: "GET", path: feed, header: hdr("X-Filler", strings.Repeat("a", 2<<20)), status: 431},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, srv)
			// The hub still serves, and the watcher gets exactly the next
			// event: the hostile request published nothing.
			want := fmt.Sprintf("<p id=\"after\">%d</p>", i)
			id := publishWith(t, srv, "public/feed", want, testKey)
			ev, err := watcher.nextEvent()
			if err != nil || ev.ID != id || !strings.Contains(ev.Data, want) {
				t.Fatalf("watcher got %+v, %v; want event %s with %s", ev, err, id, want)
			}
		})
	}
}

// hostileCase is a hostile request and the exact error answer it must get.
type hostileCase struct {
	name         string
	method, path string
	header       http.Header
	body         string
	raw          string // sent as it is instead, for what a client library refuses to send
	status       int
	field, msg   string
	// trickle, with raw, is more of raw's body, sent after the answer: the
	// server must close the connection all the same, not wait for it.
	trickle string
}

// check sends c's request to srv and fails t unless the answer has c's
// status and field and an error saying c's msg.
func (c hostileCase) check(t *testing.T, srv *httptest.Server) {
	t.Helper()
	var a answer
	if c.raw != "" {
		a.status, a.body = rawAnswer(t, srv.Listener.Addr().String(), c.raw, c.trickle)
	} else {
		a = request(t, srv, c.method, c.path, c.header, c.body)
	}
	if a.status != c.status || a.body.Field != c.field || !strings.Contains(a.body.Error, c.msg) {
		t.Errorf("got %d field %q error %q\nwant %d field %q saying %q", a.status, a.body.Field, a.body.Error, c.status, c.field, c.msg)
	}
}

// rawAnswer sends a request byte for byte and returns the status code and
// the JSON error, if the answer is one. With trickle, it then sends
// trickle and fails t unless the server closes the connection.
func rawAnswer(t *testing.T, addr, req string, trickle ...string) (int, publishResult) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(trickle) > 0 && trickle[0] != "" {
		defer func() {
			// A write may fail once the server has closed: so much the better.
			if _, err := c.Write([]byte(trickle[0])); err == nil {
				if err := readToEOF(br); err != nil {
					t.Errorf("after the %s, with the body still coming: %v", resp.Status, err)
				}
			}
		}()
	}
	// The body is not closed: that would read a stream to its end. The
	// connection is closed instead.
	var res publishResult
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatalf("answer %s is not JSON: %v", resp.Status, err)
		}
	}
	return resp.StatusCode, res
}

// TestHostileRequestsWithoutAuthorization sends hostile requests to a hub
// as it runs by default: on loopback, without authorization, with the
// demos on. A page on a rebound DNS name must reach nothing, and pages of
// other sites must not post to the demos. As in TestHostileRequests, each
// must get its exact answer and publish nothing: a subscriber to every
// topic the requests aim at gets exactly the next event after each.
func TestHostileRequestsWithoutAuthorization(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{Demos: true, AllowedOrigins: []string{"https://app.example"}})
	watcher := subscribe(t, srv, "/subscribe?topic=feed&topic=demo&topic=demo/counter&topic=demo/chat", "")
	if ev, err := watcher.next(); err != nil || ev.ID == "" {
		t.Fatalf("cursor frame: %+v %v", ev, err)
	}
	const rebound = "rebind.attacker.example"
	raw := func(method, path, host string, kv ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
		for i := 0; i+1 < len(kv); i += 2 {
			fmt.Fprintf(&b, "%s: %s\r\n", kv[i], kv[i+1])
		}
		body := ""
		if method == "POST" {
			body = `<p id="evil">rebound</p>`
			fmt.Fprintf(&b, "Content-Type: text/html\r\nContent-Length: %d\r\n", len(body))
		}
		return b.String() + "\r\n" + body
	}
	try := `{"tryKind":"html","tryBody":"<img src=x onerror=alert(1)>"}`
	demo := func(kv ...string) http.Header { return hdr(append([]string{"Datastar-Request", "true"}, kv...)...) }
	hostMsg := `Host "` + rebound + `" is not served without authorization`

	cases := []hostileCase{
		// DNS rebinding: every endpoint refuses a name that is not loopback.
		{name: "publish from a rebound name", raw: raw("POST", "/topics/feed", rebound), status: 421, field: "Host", msg: hostMsg + " (allowed-hosts)"},
		{name: "batch from a rebound name", raw: raw("POST", "/publish", rebound+":8080"), status: 421, field: "Host", msg: hostMsg},
		{name: "subscribe from a rebound name", raw: raw("GET", "/topics/feed", rebound, "Datastar-Request", "true"), status: 421, field: "Host", msg: hostMsg},
		{name: "query subscribe from a rebound name", raw: raw("GET", "/subscribe?topic=feed", rebound, "Accept", "text/event-stream"), status: 421, field: "Host", msg: hostMsg},
		{name: "metrics from a rebound name", raw: raw("GET", "/metrics", rebound), status: 421, field: "Host", msg: hostMsg},
		{name: "dashboard from a rebound name", raw: raw("GET", "/", rebound), status: 421, field: "Host", msg: hostMsg},
		{name: "preflight from a rebound name", raw: raw("OPTIONS", "/publish", rebound, "Origin", "http://"+rebound, "Access-Control-Request-Method", "POST"), status: 421, field: "Host", msg: hostMsg},
		{name: "try-it form from a rebound name", raw: raw("POST", "/try", rebound), status: 421, field: "Host", msg: hostMsg},
		{name: "localhost as a prefix", raw: raw("GET", "/metrics", "localhost.attacker.example"), status: 421, field: "Host", msg: `Host "localhost.attacker.example"`},
		{name: "loopback address as a prefix", raw: raw("GET", "/metrics", "127.0.0.1.attacker.example:80"), status: 421, field: "Host", msg: `Host "127.0.0.1.attacker.example"`},
		{name: "single-label name", raw: raw("GET", "/healthz", "hub"), status: 421, field: "Host", msg: `Host "hub"`},

		// Cross-site posts to the demos.
		{name: "try-it as a simple text/plain post", method: "POST", path: "/try", header: hdr("Content-Type", "text/plain"), body: try, status: 415, field: "Content-Type", msg: `Content-Type "text/plain": the demos take application/json`},
		{name: "try-it as a form post", method: "POST", path: "/try", header: hdr("Content-Type", "application/x-www-form-urlencoded"), body: "tryKind=html&tryBody=x", status: 415, field: "Content-Type", msg: "application/json"},
		{name: "try-it without Content-Type", method: "POST", path: "/try", body: try, status: 415, field: "Content-Type", msg: "application/json"},
		{name: "try-it from another site", method: "POST", path: "/try", header: demo("Content-Type", "application/json", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), body: try, status: 403, field: "Origin", msg: `Origin "https://evil.example" may not post to the demos`},
		{name: "try-it text/plain from another site", method: "POST", path: "/try", header: hdr("Content-Type", "text/plain", "Origin", "https://evil.example"), body: try, status: 403, field: "Origin", msg: "cors-origins"},
		{name: "try-it from an opaque origin", method: "POST", path: "/try", header: demo("Content-Type", "application/json", "Origin", "null"), body: try, status: 403, field: "Origin", msg: `Origin "null"`},
		{name: "try-it from a look-alike origin", method: "POST", path: "/try", header: demo("Content-Type", "application/json", "Origin", "https://app.example.evil.example"), body: try, status: 403, field: "Origin", msg: "may not post to the demos"},
		{name: "try-it cross-site without Origin", method: "POST", path: "/try", header: demo("Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"), body: try, status: 403, field: "Sec-Fetch-Site", msg: `Sec-Fetch-Site "cross-site"`},
		{name: "counter from another site", method: "POST", path: "/demo/counter/add", header: demo("Content-Type", "application/json", "Origin", "https://evil.example"), body: `{"count":0}`, status: 403, field: "Origin", msg: "may not post to the demos"},
		{name: "counter as a simple post", method: "POST", path: "/demo/counter/add", header: hdr("Content-Type", "text/plain"), body: "x", status: 415, field: "Content-Type", msg: "application/json"},
		{name: "chat from another site", method: "POST", path: "/demo/chat/send", header: demo("Content-Type", "application/json", "Origin", "http://evil.example"), body: `{"message":"<script>x</script>"}`, status: 403, field: "Origin", msg: "may not post to the demos"},
		{name: "chat same-site but another origin", method: "POST", path: "/demo/chat/send", header: demo("Content-Type", "application/json", "Sec-Fetch-Site", "same-site"), body: `{"message":"hi"}`, status: 403, field: "Sec-Fetch-Site", msg: `"same-site"`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, srv)
			want := fmt.Sprintf("<p id=\"after\">%d</p>", i)
			id := publishHTML(t, srv, "demo", want)
			ev, err := watcher.nextEvent()
			if err != nil || ev.ID != id || !strings.Contains(ev.Data, want) {
				t.Fatalf("watcher got %+v, %v; want event %s with %s", ev, err, id, want)
			}
		})
	}
}
