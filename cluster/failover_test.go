package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/internal/natstest"
)

// runNATSCluster starts three NATS servers routed to one another on
// loopback, with JetStream, and returns once JetStream answers (its meta
// leader is elected).
func runNATSCluster(t *testing.T) []*server.Server {
	t.Helper()
	ports := make([]int, 3)
	var routes []string
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i]))
	}
	srvs := make([]*server.Server, 3)
	for i := range srvs {
		opts := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Routes: server.RoutesFromStr(strings.Join(routes, ","))}
		opts.Cluster.Name, opts.Cluster.Host, opts.Cluster.Port = "hubd", "127.0.0.1", ports[i]
		srvs[i] = runNATS(t, opts)
	}
	nc, err := nats.Connect(srvs[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 4*waitFor)
	defer cancel()
	if err := natstest.AwaitJetStream(ctx, nc); err != nil {
		t.Fatalf("no meta leader: %v", err)
	}
	return srvs
}

// cutter forwards loopback TCP connections to a server until cut, which
// closes them all at once, as a crash or a broken network would: the
// client gets no word from the server first.
type cutter struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newCutter(t *testing.T, to string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, to: to}
	go c.serve()
	t.Cleanup(c.close)
	return c
}

func (c *cutter) url() string { return "nats://" + c.ln.Addr().String() }

func (c *cutter) serve() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", c.to)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// close cuts every connection and refuses new ones.
func (c *cutter) close() {
	c.ln.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.(*net.TCPConn).SetLinger(0) // a reset, not a goodbye
		conn.Close()
	}
}

// records keeps the log records it handles.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// dumpOnFailure logs every record when the test fails, so that a failure
// seen only under load says what the Log went through.
func (r *records) dumpOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rec := range r.recs {
			line := rec.Time.Format("15:04:05.000") + " " + rec.Level.String() + " " + rec.Message
			rec.Attrs(func(a slog.Attr) bool {
				line += " " + a.String()
				return true
			})
			t.Log(line)
		}
	})
}

func (r *records) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := make([]string, len(r.recs))
	for i, rec := range r.recs {
		msgs[i] = rec.Message
	}
	return msgs
}

// TestFollowMovesWithTheConnection is a node whose NATS server dies
// without a word (its connection is cut, then the server stops), in a
// cluster of three servers that keep the stream on all three: the node's
// connection moves to a surviving server, and its follower must move with
// it as soon as it is back, and deliver what is appended next, with no gap
// and no repeat. A follower that waited instead for the pull it had sent
// to the dead server to expire (or for its heartbeats to be missed) would
// leave every publish on the node unapplied for seconds.
func TestFollowMovesWithTheConnection(t *testing.T) {
	t.Parallel()
	srvs := runNATSCluster(t)
	link := newCutter(t, srvs[0].Addr().String())
	cfg := testConfig(srvs[0])
	cfg.URLs, cfg.Replicas = link.url(), 3
	logs := &records{}
	logs.dumpOnFailure(t)
	l, err := cluster.Open(t.Context(), cfg, slog.New(logs))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	f := follow(t, l, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 4*waitFor)
	defer cancel()
	first, err := l.Append(ctx, msg("before"), "")
	if err != nil {
		t.Fatal(err)
	}
	f.await(t, first)

	link.close()
	srvs[0].Shutdown()
	srvs[0].WaitForShutdown()
	// Append retries, with the same key, until the connection is back on
	// another server and the stream has a leader again.
	var next uint64
	for try := 0; ; try++ {
		next, err = l.Append(ctx, msg("after"), "after-the-server-died")
		if err == nil {
			break
		}
		if !errors.Is(err, cluster.ErrUnavailable) || ctx.Err() != nil {
			t.Fatalf("append %d after the server died: %v", try, err)
		}
		wait, stop := context.WithTimeout(ctx, 20*time.Millisecond)
		<-wait.Done()
		stop()
	}
	stored := time.Now()
	got := f.await(t, next)
	t.Logf("the follower delivered the event %v after it was stored", time.Since(stored).Round(time.Millisecond))
	if s := seqs(got); len(s) != 2 || s[0] != first || s[1] != next {
		t.Fatalf("follower delivered %v, want [%d %d]", s, first, next)
	}
	if msgs := logs.all(); !slices.Contains(msgs, "cluster follow resumes on the new connection") {
		t.Errorf("the follower did not start over when the connection came back; the log said %q", msgs)
	}
}
