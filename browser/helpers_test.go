package browser_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// testTimeout bounds each test's browser: when it runs out, Chromium is
// stopped and every pending action fails, so a hang fails the test
// instead of blocking CI.
const testTimeout = 30 * time.Second

// pagePath is where the front handler serves the test page.
const pagePath = "/browser-test"

// page is the test page. listen(name, url) opens an EventSource and keeps
// what it receives in streams[name] (plain data, readable with Evaluate);
// sources[name] is the EventSource itself.
const page = `<!doctype html>
<meta charset="utf-8">
<title>hubd browser test</title>
<script>
window.streams = {};
window.sources = {};
window.listen = function (name, url) {
  const s = {events: [], ids: [], at: [], opens: 0, errors: 0};
  const es = new EventSource(url);
  es.onopen = () => { s.opens++; };
  es.onerror = () => { s.errors++; };
  for (const type of ["datastar-patch-elements", "datastar-patch-signals"]) {
    es.addEventListener(type, (e) => {
      s.at.push(performance.timeOrigin + performance.now());
      s.events.push(e.type + ": " + e.data);
      s.ids.push(e.lastEventId);
    });
  }
  window.streams[name] = s;
  window.sources[name] = es;
};
</script>
<p>hubd browser test</p>
`

// newBrowser starts a headless Chromium of its own for the test, with a
// fresh profile, and returns a context whose actions run in its first tab.
// Chromium is stopped at the end of the test, or when testTimeout runs out.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("real-browser tests need Chromium at %s (apt-get install chromium, or make chromium): %v", chromiumPath, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // Chromium refuses to run as root without it
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Timers and frames must not be slowed down in a tab Chromium
		// thinks is in the background: the tests measure delivery time.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}, extra...)
	// Chromium now and then crashes while it starts on this kind of
	// machine (crashpad reports it, nothing of the test has run yet), so a
	// failed start is tried again, twice at most.
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var ctx context.Context
		if ctx, err = startChromium(t, opts); err == nil {
			return ctx
		}
		t.Logf("start Chromium, attempt %d: %v", attempt, err)
	}
	t.Fatalf("start Chromium: %v", err)
	return nil
}

// startChromium starts one Chromium process with opts, stopped at the end
// of the test or when testTimeout runs out.
func startChromium(t *testing.T, opts []chromedp.ExecAllocatorOption) (context.Context, error) {
	// A fresh profile for each start, registered before the cleanup below
	// so that it is removed after Chromium has exited.
	opts = append(opts[:len(opts):len(opts)], chromedp.UserDataDir(t.TempDir()))
	bounded, cancelBound := context.WithTimeout(context.Background(), testTimeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(bounded, opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	stop := func() {
		cancelBrowser()
		cancelAlloc() // waits for the process to exit
		cancelBound()
	}
	// The first action starts the browser, which then lives as long as the
	// context of that call: until the cleanup, or testTimeout.
	if err := chromedp.Do(ctx); err != nil {
		stop()
		return nil, err
	}
	t.Cleanup(stop)
	return ctx, nil
}

// newTab opens another tab in the browser of ctx.
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return tab
}

// request is what the front handler saw of one subscribe request.
type request struct {
	Path           string
	Proto          string
	RemoteAddr     string
	LastEventID    string
	AcceptEncoding string
	At             time.Time // when the front handler got it
}

// front is the test's HTTP handler: it serves the test page at pagePath
// and passes everything else to the hub's API. Before a subscribe (GET
// /topics/...) reaches the API it is recorded, and hold, if set, may keep
// it waiting.
type front struct {
	hold  func(r *http.Request) // runs before a subscribe reaches the API
	pages map[string]string     // more pages, HTML by path; set before serving

	mu   sync.Mutex
	api  http.Handler
	seen []request
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == pagePath {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, page)
		return
	}
	if html, ok := f.pages[r.URL.Path]; ok && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, html)
		return
	}
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/topics/") {
		f.mu.Lock()
		f.seen = append(f.seen, request{
			Path: r.URL.Path, Proto: r.Proto, RemoteAddr: r.RemoteAddr,
			LastEventID: r.Header.Get("Last-Event-ID"), AcceptEncoding: r.Header.Get("Accept-Encoding"),
			At: time.Now(),
		})
		f.mu.Unlock()
		if f.hold != nil {
			f.hold(r)
		}
	}
	f.mu.Lock()
	api := f.api
	f.mu.Unlock()
	api.ServeHTTP(w, r)
}

// setAPI sends the requests from now on to api: a restarted hub.
func (f *front) setAPI(api http.Handler) {
	f.mu.Lock()
	f.api = api
	f.mu.Unlock()
}

// restart restarts the hub first behind f, as hubd does with
// history-file: its history goes to a new hub (served with wc), which takes
// the requests from now on; then first stops, aborting its streams.
func (f *front) restart(t *testing.T, first *hub.Hub, wc web.Config) {
	t.Helper()
	var snap bytes.Buffer
	if err := first.SaveHistory(&snap); err != nil {
		t.Fatal(err)
	}
	second, err := hub.NewFromHistory(hub.Config{}, &snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Shutdown(context.Background()) })
	api, err := web.New(second, wc)
	if err != nil {
		t.Fatal(err)
	}
	f.setAPI(api)
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.Shutdown(stop); err != nil {
		t.Fatalf("first run's shutdown: %v", err)
	}
}

// subscribes returns the subscribe requests seen so far.
func (f *front) subscribes() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.seen...)
}

// newFront makes a hub and its HTTP surface, as hubd wires them, behind a
// front handler. The hub is shut down at the end of the test, after the
// browser (cleanups run last registered first, and the browser is started
// after the server).
func newFront(t *testing.T, wc web.Config) (*front, *hub.Hub) {
	t.Helper()
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(h, wc)
	if err != nil {
		t.Fatal(err)
	}
	return &front{api: api}, h
}

// serve starts srv (unstarted, so that the caller can set it up) with TLS
// or without, and stops the hub and the server at the end of the test.
func serve(t *testing.T, srv *httptest.Server, h *hub.Hub, useTLS bool) {
	t.Helper()
	srv.Config.ErrorLog = log.New(logWriter{t}, "server: ", 0)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
}

// logWriter sends a server's error log to the test's log: Chromium opens
// speculative connections that it drops, and the server reports their
// failed handshakes.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newTLSServer serves a fresh hub with configuration wc over HTTPS with
// HTTP/2, with a certificate for 127.0.0.1 made for the test. Its Client
// trusts that certificate.
func newTLSServer(t *testing.T, wc web.Config) (*httptest.Server, *front) {
	t.Helper()
	f, h := newFront(t, wc)
	srv := httptest.NewUnstartedServer(f)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	serve(t, srv, h, true)
	return srv, f
}

// selfSigned makes a certificate and key for 127.0.0.1, valid for an hour.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hubd browser test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newServer serves a fresh hub with configuration wc over plain HTTP/1.1.
func newServer(t *testing.T, wc web.Config) (*httptest.Server, *front) {
	t.Helper()
	f, h := newFront(t, wc)
	srv := httptest.NewUnstartedServer(f)
	serve(t, srv, h, false)
	return srv, f
}

// publish POSTs body to the topic and returns the event's ID.
func publish(t *testing.T, srv *httptest.Server, topic, contentType, body string, headers ...string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/topics/"+topic, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
	defer resp.Body.Close()
	var res struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK || res.ID == "" {
		t.Fatalf("publish to %s: %s %q (decode: %v)", topic, resp.Status, res.Error, err)
	}
	return res.ID
}

// openPage loads the test page from srv in the tab of ctx.
func openPage(t *testing.T, ctx context.Context, srv *httptest.Server) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+pagePath)); err != nil {
		t.Fatalf("open test page: %v", err)
	}
}

// listen opens an EventSource named name on path in the page and waits
// until it is open: its response has started, so the hub has registered
// the subscriber and a publish from now on reaches it.
func listen(t *testing.T, ctx context.Context, name, path string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("listen(%q, %q)", name, path))); err != nil {
		t.Fatalf("open EventSource %s: %v", name, err)
	}
	waitFor(t, ctx, 5*time.Second, fmt.Sprintf("sources[%q].readyState === EventSource.OPEN", name))
}

// waitFor polls the JavaScript predicate in the page until it is true, and
// fails the test if it is not within d.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, predicate string) {
	t.Helper()
	if err := pollFor(ctx, d, predicate); err != nil {
		t.Fatalf("waiting %v for %s: %v", d, predicate, err)
	}
}

// pollFor polls the JavaScript predicate in the page, every millisecond,
// until it is true or d has passed.
func pollFor(ctx context.Context, d time.Duration, predicate string) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err
}

// stream is what one EventSource of the page has received.
type stream struct {
	Events []string  `json:"events"` // "type: data"
	IDs    []string  `json:"ids"`    // lastEventId at each event
	At     []float64 `json:"at"`     // arrival, in Unix milliseconds
	Opens  int       `json:"opens"`
	Errors int       `json:"errors"`
}

// received reads what the EventSource named name has received.
func received(t *testing.T, ctx context.Context, name string) stream {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[stream](fmt.Sprintf("streams[%q]", name)))
	if err != nil {
		t.Fatalf("read stream %s: %v", name, err)
	}
	return s
}

// recordResponses reports, on the returned channel, every response to a
// subscribe request that the tab of ctx receives, as Chromium's DevTools
// network events describe it: what the browser itself got. Call it before
// the requests.
func recordResponses(t *testing.T, ctx context.Context) <-chan *network.Response {
	t.Helper()
	// Buffered so that the listener, which must not block, never drops one
	// in these tests (a page opens at most a few dozen streams).
	c := make(chan *network.Response, 64)
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Response != nil && strings.Contains(e.Response.URL, "/topics/") {
			select {
			case c <- e.Response:
			default:
			}
		}
	})
	if err != nil { // chromedp enables the network domain in every tab
		t.Fatal(err)
	}
	return c
}

// nextResponse waits for the next response on c.
func nextResponse(t *testing.T, ctx context.Context, c <-chan *network.Response) *network.Response {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Chromium reported no response to the subscribe request within 5s")
	case <-ctx.Done():
		t.Fatalf("waiting for the subscribe response: %v", ctx.Err())
	}
	return nil
}

// header returns the value of the named header, whatever its case (HTTP/2
// headers come in lower case, HTTP/1.1 headers as sent).
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// connTracker is a listener that remembers its connections, so that a test
// can cut them all, hijacked ones included (httptest forgets a connection
// once its handler hijacks it, so CloseClientConnections would miss
// HTTP/1.1 streams).
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cutAll closes every connection accepted so far.
func (l *connTracker) cutAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// holdReconnect makes the second subscribe request to path wait until
// release is called (or the request ends); reconnected is closed when that
// request arrives. Tests use it to publish the events a browser is to miss
// while it is away, so that only the replay can bring them. Call release
// before the server closes: it waits for handlers.
func holdReconnect(f *front, path string) (reconnected <-chan struct{}, release func()) {
	var gets atomic.Int32
	arrived := make(chan struct{})
	released := make(chan struct{})
	f.hold = func(r *http.Request) {
		if r.URL.Path != path || gets.Add(1) != 2 {
			return
		}
		close(arrived)
		select {
		case <-released:
		case <-r.Context().Done():
		}
	}
	return arrived, sync.OnceFunc(func() { close(released) })
}

// publishNumbered publishes the i-th list item to topic and returns the
// event as the test page records it, and its ID.
func publishNumbered(t *testing.T, srv *httptest.Server, topic string, i int) (event, id string) {
	t.Helper()
	html := fmt.Sprintf(`<li id="r%d">%d</li>`, i, i)
	return "datastar-patch-elements: elements " + html, publish(t, srv, topic, "text/html", html)
}
