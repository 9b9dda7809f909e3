package browser_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// sessionKey is the example app's key: a publish key and an admin key of
// the hub.
const sessionKey = "sessionapp-key-0123456789abcdef"

// sessionSite is examples/sessionapp, its hub configured with
// auth-request, and one origin in front of both, as nginx would put them:
// /topics/ and /streams/ go to the hub, everything else to the app.
type sessionSite struct {
	url     string // the front's
	hub     *hub.Hub
	api     *web.Server
	appAddr string // where the app listens, the same after a restart
	bin     string
	bundle  string
	store   string

	mu  sync.Mutex
	app *exec.Cmd
}

func newSessionSite(t *testing.T, recheck time.Duration) *sessionSite {
	t.Helper()
	s := &sessionSite{bin: filepath.Join(t.TempDir(), "sessionapp"), bundle: datastarBundle(t), store: filepath.Join(t.TempDir(), "sessions.json")}
	if out, err := exec.Command("go", "build", "-o", s.bin, "../examples/sessionapp").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/sessionapp: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the app, kept across its restarts
	if err != nil {
		t.Fatal(err)
	}
	s.appAddr = ln.Addr().String()
	ln.Close()

	a, err := auth.New(t.Context(), auth.Config{PublishKeys: []string{sessionKey}, AdminKeys: []string{sessionKey}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	api, err := web.New(h, web.Config{Auth: a, AuthRequest: "http://" + s.appAddr + "/hubd/auth", AuthRequestRecheck: recheck})
	if err != nil {
		t.Fatal(err)
	}
	s.hub, s.api = h, api
	appURL, _ := url.Parse("http://" + s.appAddr)
	proxy := httputil.NewSingleHostReverseProxy(appURL)
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/topics/") || strings.HasPrefix(r.URL.Path, "/streams/") {
			api.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	serve(t, front, h, false)
	t.Cleanup(func() { api.Close() })
	s.url = front.URL
	s.start(t)
	t.Cleanup(s.stop)
	return s
}

// start runs the app at appAddr; it publishes through the front.
func (s *sessionSite) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.bin, "-addr", s.appAddr, "-hub", s.url, "-hub-key", sessionKey, "-datastar", s.bundle, "-sessions", s.store)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sessionapp exited before listening: %v", err)
	}
	s.mu.Lock()
	s.app = cmd
	s.mu.Unlock()
}

// stop stops the app.
func (s *sessionSite) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app != nil {
		s.app.Process.Kill()
		s.app.Wait()
		s.app = nil
	}
}

// subscribers waits until topic has n subscribers on the hub.
func (s *sessionSite) subscribers(t *testing.T, topic string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for s.hub.Subscribers(topic) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d subscribers, want %d", topic, s.hub.Subscribers(topic), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publish publishes a list item to topic as the app would.
func (s *sessionSite) publish(t *testing.T, topic, selector, text string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/topics/"+topic, strings.NewReader("<li>"+text+"</li>"))
	req.Header.Set("Authorization", "Bearer "+sessionKey)
	req.Header.Set("Content-Type", "text/html")
	req.Header.Set("Datastar-Selector", selector)
	req.Header.Set("Datastar-Mode", "append")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish to %s: %s", topic, resp.Status)
	}
}

// signIn signs the tab in as name and waits for its two streams.
func (s *sessionSite) signIn(t *testing.T, tab context.Context, name string) {
	t.Helper()
	open(t, tab, s.url+"/")
	typeInto(t, tab, `input[name="name"]`, name)
	navigateBy(t, tab, `#login`, `#name`)
	if got := texts(t, tab, "#name"); len(got) != 1 || got[0] != name {
		t.Fatalf("signed in as %q, want %s", got, name)
	}
}

// navigateBy clicks the button matching selector, which submits a form,
// and waits until the page it leads to shows an element matching then.
func navigateBy(t *testing.T, tab context.Context, selector, then string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(selector)), chromedp.WaitVisible(chromedp.CSS(then))); err != nil {
		t.Fatalf("click %s, then wait for %s: %v", selector, then, err)
	}
}

// status fetches path from the tab, with its cookies, as the Datastar
// client would, and returns the status.
func status(t *testing.T, tab context.Context, path string) int {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const ctl = new AbortController();
		const r = await fetch(%q, {headers: {"Datastar-Request": "true", "Accept": "text/event-stream"}, signal: ctl.signal});
		ctl.abort();
		return r.status;
	})()`, path)
	st, err := chromedp.Run(tab, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch %s: %v", path, err)
	}
	return st
}

// TestSessionAppOwnTopic drives examples/sessionapp in Chromium with the
// official client: a signed-in tab receives its own topic and the shared
// one, never another user's, and is refused another user's topic.
func TestSessionAppOwnTopic(t *testing.T) {
	site := newSessionSite(t, time.Minute)
	tab := newBrowser(t)
	problems := watchConsole(t, tab)
	site.signIn(t, tab, "alice")
	site.subscribers(t, "user/alice", 1)
	site.subscribers(t, "shared", 1)

	site.publish(t, "user/bob", "#mine", "for bob only") // before alice's own: the stream keeps order
	typeInto(t, tab, `input[aria-label="note"]`, "for alice only")
	click(t, tab, `#send`)
	click(t, tab, `#shout`)
	waitFor(t, tab, 5*time.Second, `[...document.querySelectorAll("#mine li")].some((li) => li.textContent === "for alice only")`)
	waitFor(t, tab, 5*time.Second, `[...document.querySelectorAll("#shared li")].some((li) => li.textContent === "alice shouted")`)
	if got := texts(t, tab, "#mine li"); len(got) != 1 {
		t.Errorf("alice's page shows %q in her own list, want only her note", got)
	}
	if st := status(t, tab, "/topics/user/bob"); st != http.StatusForbidden {
		t.Errorf("alice's tab asking for bob's topic: %d, want 403", st)
	}
	// The console reports the refused probe as a failed load; anything
	// else (an exception, say) is a problem.
	eval[bool](t, tab, "true")
	for _, p := range problems.get() {
		if !strings.Contains(p, "Failed to load resource") {
			t.Errorf("console problem: %s", p)
		}
	}
}

// TestSessionAppSignOut drives examples/sessionapp in Chromium with the
// official client: a signed-out tab is refused; signing out ends the
// other tab's streams at the next recheck and their reconnects are
// refused; a disconnect by user cuts the streams at once and they come
// back through authorization; "log out everywhere" cuts them for good.
func TestSessionAppSignOut(t *testing.T) {
	site := newSessionSite(t, 2*time.Second)
	tab := newBrowser(t)
	site.signIn(t, tab, "alice")
	other := newTab(t, tab)
	open(t, other, site.url+"/")
	site.subscribers(t, "user/alice", 2)

	navigateBy(t, tab, `#logout`, `#login`)
	if st := status(t, tab, "/topics/shared"); st != http.StatusUnauthorized {
		t.Errorf("a signed-out tab: %d, want 401", st)
	}
	site.subscribers(t, "user/alice", 0) // the other tab's streams end at the recheck, and stay out
	site.subscribers(t, "shared", 0)
	site.publish(t, "user/alice", "#mine", "after logout")
	if n := eval[int](t, other, `[...document.querySelectorAll("#mine li")].filter((li) => li.textContent === "after logout").length`); n != 0 {
		t.Errorf("alice's other tab got a note after she signed out")
	}

	// An operator disconnects bob: his streams are cut and come back.
	site.signIn(t, tab, "bob")
	site.subscribers(t, "user/bob", 1)
	req, _ := http.NewRequest(http.MethodPost, site.url+"/streams/disconnect", strings.NewReader(`{"user": "bob"}`))
	req.Header.Set("Authorization", "Bearer "+sessionKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("disconnect bob: %v %v", resp, err)
	}
	resp.Body.Close()
	site.subscribers(t, "user/bob", 1) // reconnected, authorized again
	site.publish(t, "user/bob", "#mine", "welcome back")
	waitFor(t, tab, 5*time.Second, `[...document.querySelectorAll("#mine li")].some((li) => li.textContent === "welcome back")`)

	// Bob's other tab logs out everywhere: the first one's streams end.
	open(t, other, site.url+"/")
	site.subscribers(t, "user/bob", 2)
	navigateBy(t, other, `#logout-everywhere`, `#login`)
	site.subscribers(t, "user/bob", 0)
	site.subscribers(t, "shared", 0)
}

// TestSessionAppDown stops the app under a signed-in page: its streams,
// cut, are refused retriably while the app is down (never let in without
// it, never refused for good), and come back once it returns.
func TestSessionAppDown(t *testing.T) {
	site := newSessionSite(t, time.Minute)
	tab := newBrowser(t)
	site.signIn(t, tab, "carol")
	site.subscribers(t, "user/carol", 1)

	site.stop()
	if n := site.api.Disconnect(hub.Disconnect{User: "carol"}); n != 2 {
		t.Fatalf("disconnected %d streams, want carol's 2", n)
	}
	// The page comes back and is refused for a while: no stream opens.
	refused := func() float64 { return site.refusedForApp(t) }
	deadline := time.Now().Add(15 * time.Second)
	for refused() < 3 {
		if time.Now().After(deadline) {
			rec := httptest.NewRecorder()
			site.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			for line := range strings.SplitSeq(rec.Body.String(), "\n") {
				if strings.HasPrefix(line, "hubd_auth") || strings.HasPrefix(line, "hubd_streams") || strings.HasPrefix(line, "hubd_clients") {
					t.Log(line)
				}
			}
			t.Fatalf("%v retriable refusals while the app was down, want 3 or more", refused())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := site.hub.Subscribers("user/carol"); n != 0 {
		t.Fatalf("%d of carol's streams were let in without the app", n)
	}
	site.start(t)
	site.subscribers(t, "user/carol", 1)
	site.subscribers(t, "shared", 1)
	site.publish(t, "user/carol", "#mine", "back again")
	waitFor(t, tab, 5*time.Second, `[...document.querySelectorAll("#mine li")].some((li) => li.textContent === "back again")`)
}

// refusedForApp reads from the hub's metrics how many streams were
// refused because the app could not answer.
func (s *sessionSite) refusedForApp(t *testing.T) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	const name = `hubd_streams_refused_total{reason="auth-request-unavailable"} `
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}
