package web_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// TestPublishReachesEverySubscriberOnce opens 1,000 real streams, publishes
// one event, and checks that each stream gets it exactly once: the next
// event after it is a marker published later, not a repeat.
func TestPublishReachesEverySubscriberOnce(t *testing.T) {
	const n = 1000
	srv, h := newServer(t, hub.Config{}, web.Config{})
	srv.Client().Transport.(*http.Transport).MaxConnsPerHost = 0

	clients := make([]*sseClient, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := trySubscribe(srv, "/topics/fanout", "")
			if err != nil {
				errs <- err
				return
			}
			if _, err := c.next(); err != nil { // the cursor frame: subscribed
				errs <- err
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	if got := h.Stats().Clients; got != n {
		t.Fatalf("hub has %d clients, want %d", got, n)
	}

	status, res := post(t, srv, "/topics/fanout", "text/html", `<div id="news">one</div>`)
	if status != http.StatusOK || res.Subscribers != n {
		t.Fatalf("publish: status %d, offered to %d subscribers, want 200 and %d", status, res.Subscribers, n)
	}
	marker := publishHTML(t, srv, "fanout", `<div id="news">marker</div>`)

	errs = make(chan error, n)
	for i, c := range clients {
		wg.Go(func() {
			ev, err := c.nextEvent()
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			if ev.ID != res.ID || ev.Data != `elements <div id="news">one</div>` {
				errs <- fmt.Errorf("client %d: first event %+v, want id %s", i, ev, res.ID)
				return
			}
			ev, err = c.nextEvent()
			if err != nil || ev.ID != marker {
				errs <- fmt.Errorf("client %d: second event %+v (%v), want the marker %s", i, ev, err, marker)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.Stats(); st.Deliveries != 2*n || st.Evictions != 0 {
		t.Errorf("stats: %d deliveries and %d evictions, want %d and 0", st.Deliveries, st.Evictions, 2*n)
	}
}

// TestConcurrentPublishersGaplessStreams has 50 publishers send 200 events
// each into one topic while subscribers join and leave. Every stream must
// be gapless and free of repeats from the moment it joined (the IDs of one
// topic are consecutive), and one subscriber that stays sees all 10,000.
func TestConcurrentPublishersGaplessStreams(t *testing.T) {
	const publishers, perPublisher = 50, 200
	const total = publishers * perPublisher
	srv, _ := newServer(t, hub.Config{}, web.Config{})

	// follow reads topic "race" until it has seen the event with sequence
	// number until (or, with until 0, ctx ends), reconnecting with
	// Last-Event-ID after an abort, and checks the IDs are consecutive.
	follow := func(ctx context.Context, until uint64, joined func()) (first, last uint64, err error) {
		lastID := ""
		for {
			c, err := trySubscribeCtx(ctx, srv, "/topics/race", lastID)
			if err != nil {
				if ctx.Err() != nil {
					return first, last, nil
				}
				return first, last, err
			}
			if lastID == "" {
				// A new client's first frame is the cursor frame: it says
				// where the stream starts. A reconnecting client's first
				// frames are the replay, checked below like any event.
				cur, err := c.next()
				if err != nil {
					c.Close()
					if ctx.Err() != nil {
						return first, last, nil
					}
					return first, last, err
				}
				first = seqOf(t, cur.ID) + 1
				last = first - 1
				joined()
			}
			for {
				ev, err := c.next()
				if ctx.Err() != nil {
					c.Close()
					return first, last, nil
				}
				if err != nil {
					break // aborted: reconnect where we were
				}
				seq := seqOf(t, ev.ID)
				if ev.Type == "" { // a cursor frame after a reconnect
					if seq < last {
						c.Close()
						return first, last, fmt.Errorf("cursor went back from %d to %d", last, seq)
					}
					continue
				}
				if seq != last+1 {
					c.Close()
					return first, last, fmt.Errorf("after event %d came %d", last, seq)
				}
				last = seq
				if until != 0 && last >= until {
					c.Close()
					return first, last, nil
				}
			}
			lastID = c.lastID
			c.Close()
		}
	}

	// The subscriber that stays, joined before any publish.
	type result struct {
		first, last uint64
		err         error
	}
	whole := make(chan result, 1)
	ready := make(chan struct{})
	go func() {
		f, l, err := follow(context.Background(), total, func() { close(ready) })
		whole <- result{f, l, err}
	}()
	select {
	case <-ready:
	case r := <-whole:
		t.Fatalf("long-lived subscriber: %v", r.err)
	}

	stopCtx, stop := context.WithCancel(context.Background())
	var joiners sync.WaitGroup
	joinErrs := make(chan error, 1000)
	for j := 0; j < 10; j++ {
		joiners.Go(func() {
			for stopCtx.Err() == nil {
				ctx, cancel := context.WithTimeout(stopCtx, time.Duration(j+1)*7*time.Millisecond)
				if _, _, err := follow(ctx, 0, func() {}); err != nil {
					joinErrs <- err
				}
				cancel()
			}
		})
	}

	var pubs sync.WaitGroup
	pubErrs := make(chan error, publishers)
	for p := 0; p < publishers; p++ {
		pubs.Go(func() {
			for i := 0; i < perPublisher; i++ {
				status, res, err := tryPost(srv, "/topics/race", "application/json", fmt.Sprintf(`{"p%d":%d}`, p, i))
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("status %d: %s", status, res.Error)
				}
				if err != nil {
					pubErrs <- err
					return
				}
			}
		})
	}
	pubs.Wait()
	close(pubErrs)
	for err := range pubErrs {
		t.Fatal("publish:", err)
	}
	r := <-whole
	stop()
	joiners.Wait()
	close(joinErrs)
	for err := range joinErrs {
		t.Error("joiner:", err)
	}
	if r.err != nil || r.first != 1 || r.last != total {
		t.Fatalf("long-lived subscriber saw %d..%d (%v), want 1..%d", r.first, r.last, r.err, total)
	}
}

// smallReceiveBuffer makes a client whose socket takes little data before
// the server's writes block, like a reader on a slow link.
func smallReceiveBuffer(srv interface{ Client() *http.Client }) *http.Client {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestSlowReaderIsEvictedAndCatchesUp publishes large events while one
// subscriber does not read. Fast subscribers get everything; the slow one
// is evicted (its connection aborted), reconnects with Last-Event-ID and
// ends with the complete sequence from history.
func TestSlowReaderIsEvictedAndCatchesUp(t *testing.T) {
	const events, size = 300, 32 << 10
	srv, h := newServer(t, hub.Config{ClientBuffer: 32}, web.Config{})

	slowReq, _ := http.NewRequest(http.MethodGet, srv.URL+"/topics/big", nil)
	slowResp, err := smallReceiveBuffer(srv).Do(slowReq)
	if err != nil {
		t.Fatal(err)
	}
	slow := &sseClient{resp: slowResp, cancel: func() {}}
	slow.r = bufio.NewReader(slowResp.Body)
	defer slow.Close()

	fast := make([]*sseClient, 3)
	for i := range fast {
		fast[i] = subscribe(t, srv, "/topics/big", "")
		if _, err := fast[i].next(); err != nil {
			t.Fatal(err)
		}
	}
	// Each fast reader says when it has read each event, and the next
	// publish waits for all of them: a reader the scheduler leaves behind
	// (under -race on a busy machine) must not fall ClientBuffer events
	// behind and be evicted as if it were slow. The slow reader is never
	// waited for.
	var wg sync.WaitGroup
	fastErrs := make(chan error, len(fast))
	read := make([]chan struct{}, len(fast))
	for i, c := range fast {
		read[i] = make(chan struct{}, events) // never blocks the reader
		wg.Go(func() {
			defer close(read[i])
			for want := uint64(1); want <= events; want++ {
				ev, err := c.nextEvent()
				if err != nil {
					fastErrs <- fmt.Errorf("fast reader %d at event %d: %w", i, want, err)
					return
				}
				if got := seqOf(t, ev.ID); got != want {
					fastErrs <- fmt.Errorf("fast reader %d: got event %d, want %d", i, got, want)
					return
				}
				read[i] <- struct{}{}
			}
		})
	}

	payload := `<div id="big">` + strings.Repeat("x", size) + `</div>`
publishing:
	for range events {
		publishHTML(t, srv, "big", payload)
		for _, r := range read {
			if _, ok := <-r; !ok {
				// That reader failed (its error says why): end the others'
				// reads, which wait for events that will not come.
				for _, c := range fast {
					c.Close()
				}
				break publishing
			}
		}
	}
	wg.Wait()
	close(fastErrs)
	for err := range fastErrs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if h.Stats().Evictions == 0 {
		t.Fatal("the slow reader was not evicted")
	}

	// The slow reader now reads what reached it; its stream must end in an
	// error (aborted), not a clean end, so that a browser reconnects.
	seen := map[uint64]int{}
	var last uint64
	for {
		ev, err := slow.nextEvent()
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatal("the slow reader's stream ended cleanly; want an aborted connection")
			}
			break
		}
		last = seqOf(t, ev.ID)
		seen[last]++
	}
	c := subscribe(t, srv, "/topics/big", slow.lastID)
	for last < events {
		ev, err := c.nextEvent()
		if err != nil {
			t.Fatalf("after reconnecting at %s: %v", slow.lastID, err)
		}
		last = seqOf(t, ev.ID)
		seen[last]++
	}
	for seq := uint64(1); seq <= events; seq++ {
		if seen[seq] != 1 {
			t.Errorf("the slow reader got event %d %d times", seq, seen[seq])
		}
	}
}

// TestReplayAfterReconnect checks that a client that comes back with
// Last-Event-ID gets exactly the events it missed, then live ones.
func TestReplayAfterReconnect(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	var ids []string
	for i := range 5 {
		ids = append(ids, publishHTML(t, srv, "replay", fmt.Sprintf(`<p id="r">%d</p>`, i)))
	}
	publishHTML(t, srv, "other", `<p id="o">not mine</p>`)

	c := subscribe(t, srv, "/topics/replay", ids[1])
	for _, want := range ids[2:] {
		ev, err := c.next()
		if err != nil || ev.ID != want || ev.Type != "datastar-patch-elements" {
			t.Fatalf("replay: got %+v (%v), want event %s", ev, err, want)
		}
	}
	cur, err := c.next()
	if err != nil || cur.Type != "" || seqOf(t, cur.ID) != seqOf(t, ids[4])+1 {
		t.Fatalf("cursor frame: got %+v (%v), want the newest ID", cur, err)
	}
	live := publishHTML(t, srv, "replay", `<p id="r">live</p>`)
	if ev, err := c.next(); err != nil || ev.ID != live {
		t.Fatalf("live: got %+v (%v), want %s", ev, err, live)
	}

	// The lastEventId parameter works like the header.
	q := subscribe(t, srv, "/topics/replay?lastEventId="+url.QueryEscape(ids[3]), "")
	if ev, err := q.next(); err != nil || ev.ID != ids[4] {
		t.Fatalf("lastEventId parameter: got %+v (%v), want %s", ev, err, ids[4])
	}
}

// TestGapIsSignalled checks that a Last-Event-ID whose following events
// were pushed out of history, or that another run issued, gets the missed
// signal; and that a quiet topic is not flagged because other topics'
// events were trimmed.
func TestGapIsSignalled(t *testing.T) {
	t.Parallel()
	// quiet keeps its event; busy, holding the most, keeps 3.
	srv, _ := newServer(t, hub.Config{HistorySize: 4}, web.Config{})
	quiet := publishHTML(t, srv, "quiet", `<p id="q">q</p>`)
	var ids []string
	for i := range 6 {
		ids = append(ids, publishHTML(t, srv, "busy", fmt.Sprintf(`<p id="b">%d</p>`, i)))
	}

	missed := `signals {"` + hub.MissedSignal + `":true}`
	c := subscribe(t, srv, "/topics/busy", ids[0])
	ev, err := c.next()
	if err != nil || ev.Type != "datastar-patch-signals" || ev.Data != missed {
		t.Fatalf("gap: first frame %+v (%v), want the missed signal", ev, err)
	}
	for _, want := range ids[3:] { // what history still has
		if ev, err := c.next(); err != nil || ev.ID != want {
			t.Fatalf("gap replay: got %+v (%v), want %s", ev, err, want)
		}
	}

	// An ID of another run (as after a restart without the history file)
	// cannot be placed: the client may have missed anything, so it gets
	// the signal and then all that history holds.
	other := subscribe(t, srv, "/topics/busy", "someotherrun-5")
	if ev, err := other.next(); err != nil || ev.Data != missed {
		t.Fatalf("other run's ID: first frame %+v (%v), want the missed signal", ev, err)
	}
	for _, want := range ids[3:] {
		if ev, err := other.next(); err != nil || ev.ID != want {
			t.Fatalf("other run's ID: got %+v (%v), want %s from history", ev, err, want)
		}
	}
	if ev, err := other.next(); err != nil || ev.Type != "" || ev.ID != ids[5] {
		t.Fatalf("other run's ID: got %+v (%v), want the cursor frame at %s", ev, err, ids[5])
	}

	q := subscribe(t, srv, "/topics/quiet", quiet)
	if ev, err := q.next(); err != nil || ev.Type != "" {
		t.Fatalf("quiet topic: got %+v (%v), want only the cursor frame (nothing missed)", ev, err)
	}
}

// TestMultiTopicStream checks /subscribe with several topics: events of
// each arrive, others do not, and an event published to two of them
// arrives once.
func TestMultiTopicStream(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, hub.Config{}, web.Config{})
	c := subscribe(t, srv, "/subscribe"+query(url.Values{"topic": {"a", "b/c"}}), "")
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	a := publishHTML(t, srv, "a", `<p id="a">a</p>`)
	publishHTML(t, srv, "elsewhere", `<p id="x">x</p>`)
	bc := publishHTML(t, srv, "b/c", `<p id="b">b</p>`)
	status, both := post(t, srv, "/publish", "application/json",
		`{"topics":["a","b/c","elsewhere"],"events":[{"type":"patchSignals","signals":{"n":1}},{"type":"executeScript","script":"go()"}]}`)
	if status != http.StatusOK || len(both.IDs) != 2 || both.Subscribers != 1 {
		t.Fatalf("batch publish: %d %+v", status, both)
	}
	for _, want := range []string{a, bc, both.IDs[0], both.IDs[1]} {
		if ev, err := c.nextEvent(); err != nil || ev.ID != want {
			t.Fatalf("got %+v (%v), want %s", ev, err, want)
		}
	}
	end := publishHTML(t, srv, "a", `<p id="a">end</p>`)
	if ev, err := c.nextEvent(); err != nil || ev.ID != end {
		t.Fatalf("got %+v (%v), want %s (no repeat of the batch)", ev, err, end)
	}
}

// TestShutdownAbortsStreams checks that shutting the hub down aborts open
// streams, so that the Datastar client, which reconnects only after an
// error, comes back.
func TestShutdownAbortsStreams(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{}, web.Config{})
	c := subscribe(t, srv, "/topics/bye", "")
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.next()
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("stream after shutdown: %v, want an aborted connection (not a clean end)", err)
	}
	if got := h.Stats().Clients; got != 0 {
		t.Fatalf("%d clients left after shutdown", got)
	}
	// A client that does not ask for an event stream is refused with a
	// status (stream clients: TestRefusedWhileShuttingDown).
	resp, err := srv.Client().Get(srv.URL + "/topics/bye")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("subscribe during shutdown: %s, want 503", resp.Status)
	}
}

// TestClientGoneIsRemoved checks that a client that closes its connection
// leaves the hub and is counted as pruned. A stream owns its hijacked
// connection and does not read it: the departure is noticed by the hang-up
// watcher on Linux, elsewhere by the next write (here a heartbeat every
// 20 ms; TestHungUpStreamLeavesAtOnce has none).
func TestClientGoneIsRemoved(t *testing.T) {
	t.Parallel()
	srv, h := newServer(t, hub.Config{Heartbeat: 20 * time.Millisecond}, web.Config{})
	c := subscribe(t, srv, "/topics/leave", "")
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, func() bool { return h.Stats().Clients == 0 })
	status, res := post(t, srv, "/topics/leave", "text/html", `<p id="x">x</p>`)
	if status != http.StatusOK || res.Subscribers != 0 {
		t.Fatalf("publish after the client left: %d, offered to %d subscribers, want 0", status, res.Subscribers)
	}
	if h.Stats().Pruned == 0 {
		t.Fatal("the departed client was not counted as pruned")
	}
}

// waitFor yields until cond holds, for state changes that happen on the
// server's goroutines with nothing the test can wait on (a handler noticing
// that its client closed the connection). It fails after ten seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		runtime.Gosched()
	}
}

// TestStreamOverHTTP2 checks the path that cannot hijack: over HTTP/2 the
// stream stays on the ResponseWriter, receives events, and is aborted (a
// stream reset, not a clean end) at shutdown.
func TestStreamOverHTTP2(t *testing.T) {
	t.Parallel()
	h, s := newAPI(t, hub.Config{}, web.Config{})
	srv := httptest.NewUnstartedServer(s)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := subscribe(t, srv, "/topics/h2", "")
	if c.resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", c.resp.Proto)
	}
	if _, err := c.next(); err != nil {
		t.Fatal(err)
	}
	id := publishHTML(t, srv, "h2", `<p id="h">2</p>`)
	if ev, err := c.nextEvent(); err != nil || ev.ID != id {
		t.Fatalf("got %+v (%v), want %s", ev, err, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("after shutdown: %v, want a reset stream", err)
	}
}
