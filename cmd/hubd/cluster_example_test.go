package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/hubd-dev/hubd/internal/natstest"
)

// exampleDir holds the production-like cluster example.
var exampleDir = filepath.Join("..", "..", "configs", "cluster")

// composeFile is the part of configs/cluster/compose.yaml the tests check.
type composeFile struct {
	Services map[string]struct {
		Environment map[string]string
		Volumes     []string
		Secrets     []string
	}
	Secrets map[string]struct{ File string }
}

// TestClusterExampleConfig checks that the files of configs/cluster agree
// with each other and with hubd: hubd accepts hubd.yaml as it is, and with
// the environment compose.yaml gives each node; nginx balances over exactly
// the hubd services; hubd's cluster URLs and the NATS routes name exactly
// the NATS services; every file compose mounts exists.
func TestClusterExampleConfig(t *testing.T) {
	t.Parallel()
	hubdYAML := filepath.Join(exampleDir, "hubd.yaml")
	c, err := loadConfig([]string{"-config", hubdYAML}, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("hubd -config %s: %v", hubdYAML, err)
	}
	if c.ClusterReplicas != 3 {
		t.Errorf("cluster-replicas %d, want 3 on a NATS cluster of three", c.ClusterReplicas)
	}
	values, err := readConfigFile(hubdYAML)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := values["node-id"]; ok {
		t.Errorf("%s sets node-id: it must come from each node's environment", hubdYAML)
	}
	if _, ok := values["cluster-password"]; ok {
		t.Errorf("%s holds cluster-password: secrets come from the environment", hubdYAML)
	}

	b, err := os.ReadFile(filepath.Join(exampleDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var hubds, natses []string
	nodeIDs := map[string]bool{}
	for name, svc := range compose.Services {
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(exampleDir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		switch {
		case strings.HasPrefix(name, "hubd-"):
			hubds = append(hubds, name)
			getenv := func(k string) string {
				v := svc.Environment[k]
				switch { // compose fills these from .env
				case strings.HasPrefix(v, "${") && strings.Contains(v, ":-}"):
					v = "" // optional, and not set
				case strings.HasPrefix(v, "${"):
					v = "from-dot-env"
				}
				return v
			}
			nc, err := loadConfig([]string{"-config", hubdYAML}, getenv, io.Discard)
			if err != nil {
				t.Errorf("%s: hubd refuses its environment: %v", name, err)
				continue
			}
			if nc.NodeID != name || nodeIDs[nc.NodeID] {
				t.Errorf("%s runs as node %q, want its own name", name, nc.NodeID)
			}
			nodeIDs[nc.NodeID] = true
			if want := "/run/secrets/" + svc.Secrets[0]; nc.JWTSecretFile != want {
				t.Errorf("%s: jwt-secret-file %q, but compose mounts the secret at %s", name, nc.JWTSecretFile, want)
			}
			if !slices.ContainsFunc(svc.Volumes, func(v string) bool { return strings.HasPrefix(v, "./hubd.yaml:"+svc.Environment["HUBD_CONFIG"]) }) {
				t.Errorf("%s: HUBD_CONFIG %q is not where hubd.yaml is mounted (%v)", name, svc.Environment["HUBD_CONFIG"], svc.Volumes)
			}
		case strings.HasPrefix(name, "nats-"):
			natses = append(natses, name)
			if !slices.Contains(svc.Volumes, "./"+name+".conf:/etc/nats/nats.conf:ro") {
				t.Errorf("%s does not run %s.conf: %v", name, name, svc.Volumes)
			}
		}
	}
	slices.Sort(hubds)
	slices.Sort(natses)
	if len(hubds) != 3 || len(natses) != 3 {
		t.Fatalf("compose runs hubd %v and NATS %v, want three of each", hubds, natses)
	}
	ignored, err := os.ReadFile(filepath.Join(exampleDir, ".gitignore"))
	if err != nil || !strings.Contains(string(ignored), "/secrets/\n") || !strings.Contains(string(ignored), "/.env\n") {
		t.Errorf("configs/cluster/.gitignore (%v) must keep secrets/ and .env out of git", err)
	}
	for name, s := range compose.Secrets {
		if !strings.HasPrefix(s.File, "./secrets/") {
			t.Errorf("secret %s is read from %s, not from the ignored ./secrets/", name, s.File)
		}
	}

	var urlHosts []string
	for _, u := range strings.Split(c.Cluster, ",") {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		urlHosts = append(urlHosts, pu.Hostname())
	}
	if slices.Sort(urlHosts); !slices.Equal(urlHosts, natses) {
		t.Errorf("hubd.yaml's cluster names %v, compose runs %v", urlHosts, natses)
	}

	ngx, err := os.ReadFile(filepath.Join(exampleDir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var upstream []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+):8080\b`).FindAllSubmatch(ngx, -1) {
		upstream = append(upstream, string(m[1]))
	}
	if slices.Sort(upstream); !slices.Equal(upstream, hubds) {
		t.Errorf("nginx balances over %v, compose runs %v", upstream, hubds)
	}
	for _, want := range []string{"proxy_buffering off;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`, "keepalive "} {
		if !strings.Contains(string(ngx), want) {
			t.Errorf("nginx.conf lacks %q, which streams need", want)
		}
	}
	if m := regexp.MustCompile(`proxy_read_timeout (\d+)h;`).FindSubmatch(ngx); m == nil {
		t.Error("nginx.conf sets no proxy_read_timeout in hours, far above the heartbeat")
	} else if h, _ := strconv.Atoi(string(m[1])); time.Duration(h)*time.Hour <= c.Heartbeat {
		t.Errorf("nginx's proxy_read_timeout %sh is not above hubd's heartbeat %v", m[1], c.Heartbeat)
	}
	nginxIP := regexp.MustCompile(`ipv4_address: ([\d.]+)`).FindSubmatch(b)
	if nginxIP == nil || len(c.TrustedProxies) != 1 || c.TrustedProxies[0].Addr().String() != string(nginxIP[1]) {
		t.Errorf("hubd trusts %v, nginx's address in compose is %q", c.TrustedProxies, nginxIP)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestClusterExampleNATS runs configs/cluster as shipped, moved onto
// loopback: the three nats-N.conf files (their ports, route hosts and store
// dirs replaced) form a JetStream cluster, and three hubd binaries started
// with hubd.yaml, each on its own NATS server, share one stream stored on
// all three servers. The stream outlives its leader: with the leader's
// server shut down, a publish on another node still reaches the readers.
func TestClusterExampleNATS(t *testing.T) {
	const password = "example-password"
	t.Setenv("NATS_HUBD_PASSWORD", password) // nats-N.conf reads it
	routePorts := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var srvs []*server.Server
	for i := range 3 {
		file := filepath.Join(exampleDir, fmt.Sprintf("nats-%d.conf", i+1))
		opts, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var routeHosts []string
		for _, r := range opts.Routes {
			routeHosts = append(routeHosts, r.Hostname())
		}
		if opts.ServerName != fmt.Sprintf("nats-%d", i+1) || !opts.JetStream || opts.Cluster.Name != "hubd" ||
			!slices.Equal(routeHosts, []string{"nats-1", "nats-2", "nats-3"}) || opts.Username != "hubd" || opts.Password != password {
			t.Fatalf("%s: server %q, JetStream %v, cluster %q, routes %v, user %q: not one of three clustered servers with hubd's login",
				file, opts.ServerName, opts.JetStream, opts.Cluster.Name, routeHosts, opts.Username)
		}
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", routePorts[i]
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		opts.StoreDir = t.TempDir()
		opts.NoLog, opts.NoSigs = true, true
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		srv.Start()
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		srvs = append(srvs, srv)
	}
	for _, srv := range srvs {
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready within 10s", srv.Name())
		}
	}

	nc, err := nats.Connect(srvs[0].ClientURL(), nats.UserInfo("hubd", password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := natstest.AwaitJetStream(ctx, nc); err != nil {
		t.Fatalf("the JetStream cluster has no leader: %v (routes %d %d %d)", err, srvs[0].NumRoutes(), srvs[1].NumRoutes(), srvs[2].NumRoutes())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	secret := filepath.Join(t.TempDir(), "jwt_secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "example-publish-key-0123456789"
	bin := buildHubd(t)
	var bases []string
	for i, srv := range srvs {
		cmd := exec.Command(bin, "-config", filepath.Join(exampleDir, "hubd.yaml"), "-addr", "127.0.0.1:0",
			"-cluster", srv.ClientURL(), "-jwt-secret-file", secret, "-publish-keys", key, "-log-format", "text", "-log-level", "warn")
		cmd.Env = append(os.Environ(), fmt.Sprintf("HUBD_NODE_ID=hubd-%d", i+1), "HUBD_CLUSTER_PASSWORD="+password)
		_, base := startCmd(t, cmd)
		waitReadyz(t, base)
		bases = append(bases, base)
	}

	readers := []*bufio.Reader{openStream(ctx, t, bases[0], "public/news", ""), openStream(ctx, t, bases[2], "public/news", "")}
	for _, r := range readers {
		if ev, err := readEvent(r); err != nil || ev.event != "" {
			t.Fatalf("first event %+v (%v), want the cursor", ev, err)
		}
	}
	first := publishWithKey(ctx, t, bases[1], key, "public/news", `<p id="n">first</p>`)
	for i, r := range readers {
		if got := readPatches(t, fmt.Sprintf("reader %d", i), r, 1); got[0] != first {
			t.Fatalf("reader %d got %v, want %s", i, got, first)
		}
	}

	stream, err := js.Stream(ctx, "HUBD")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: replicas %d, cluster %+v: want a leader and two followers", info.Config.Name, info.Config.Replicas, info.Cluster)
	}

	// Shut the stream leader's server down; publish on a node whose own
	// server survives, and read on another such node.
	leader := slices.IndexFunc(srvs, func(s *server.Server) bool { return s.Name() == info.Cluster.Leader })
	// The node on the leader's server loses its NATS connection and must
	// move to a surviving server (which it learnt of from the cluster) and
	// go on applying events there.
	orphan := openStream(ctx, t, bases[leader], "public/news", first)
	if ev, err := readEvent(orphan); err != nil || ev.id != first || ev.event != "" {
		t.Fatalf("stream on the leader's node: %+v (%v), want the cursor %s", ev, err, first)
	}
	srvs[leader].Shutdown()
	srvs[leader].WaitForShutdown()
	others := slices.DeleteFunc([]int{0, 1, 2}, func(i int) bool { return i == leader })
	reader := openStream(ctx, t, bases[others[1]], "public/news", first)
	if ev, err := readEvent(reader); err != nil || ev.id != first || ev.event != "" {
		t.Fatalf("resume on a surviving node: %+v (%v), want the cursor %s", ev, err, first)
	}
	next := publishWithKey(ctx, t, bases[others[0]], key, "public/news", `<p id="n">after the leader went</p>`)
	if got := readPatches(t, "surviving node", reader, 1); got[0] != next {
		t.Fatalf("after the leader's server stopped: read %v, want %s", got, next)
	}
	// A publish on the moved node is answered once that node has applied
	// it, which it can only do if its follower started over on the new
	// connection instead of waiting for its old pull to expire: then its
	// own subscribers count, and read it.
	start := time.Now()
	last, offered := publishCounted(ctx, t, bases[leader], key, "public/news", `<p id="n">on the moved node</p>`)
	t.Logf("the publish on the moved node was answered in %v", time.Since(start).Round(time.Millisecond))
	if offered == 0 {
		t.Errorf("publish on the moved node offered to no subscriber, want its own: it answered before applying its own event")
	}
	if got := readPatches(t, "the moved node", orphan, 2); got[0] != next || got[1] != last {
		t.Fatalf("the moved node read %v, want [%s %s]", got, next, last)
	}
}

// publishWithKey publishes one patch-elements event on base with a publish
// key and returns its ID. While the cluster cannot store it (503, e.g.
// during a leader election) it retries with the same Idempotency-Key until
// ctx ends, as a back end should.
func publishWithKey(ctx context.Context, t *testing.T, base, key, topic, html string) string {
	t.Helper()
	id, _ := publishCounted(ctx, t, base, key, topic, html)
	return id
}

// publishCounted is publishWithKey that also returns how many of the
// node's subscribers the event was offered to: 0 when the node answered
// before it had applied the event itself.
func publishCounted(ctx context.Context, t *testing.T, base, key, topic, html string) (string, int) {
	t.Helper()
	idem := fmt.Sprintf("test-%d", time.Now().UnixNano())
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/topics/"+topic, strings.NewReader(html))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/html")
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Idempotency-Key", idem)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("publish on %s: %v", base, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			var res struct {
				ID          string
				Subscribers int
			}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("publish response %q: %v", body, err)
			}
			return res.ID, res.Subscribers
		case http.StatusServiceUnavailable:
			select {
			case <-ctx.Done():
				t.Fatalf("publish on %s: still %s when time ran out: %s", base, resp.Status, body)
			case <-time.After(100 * time.Millisecond):
			}
		default:
			t.Fatalf("publish on %s: %s %s", base, resp.Status, body)
		}
	}
}
