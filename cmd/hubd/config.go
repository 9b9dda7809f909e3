package main

import (
	"bytes"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/heartbeat"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/sse"
	"github.com/hubd-dev/hubd/web"
)

// Defaults of the settings that belong to the daemon itself.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultShutdownGrace     = 10 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	// DefaultHTTP2MaxStreams lets one browser tab set open many streams
	// over one connection (HTTP/1.1 allows six connections per host).
	DefaultHTTP2MaxStreams = 250
	// DefaultMercure serves the Mercure protocol unless told otherwise.
	DefaultMercure = true
)

// config is every setting of hubd.
type config struct {
	Addr              string
	HistorySize       int
	HistoryBytes      int64
	HistoryPerTopic   int
	ClientBuffer      int
	Heartbeat         time.Duration
	IdempotencyWindow time.Duration
	WriteTimeout      time.Duration
	ReadTimeout       time.Duration
	MaxBodyBytes      int64
	MaxBatchEvents    int
	MaxTopics         int
	MaxStreams        int
	AllowedOrigins    []string
	AllowedHosts      []string
	DatastarClient    string
	TrustedProxies    []netip.Prefix
	InsecureAnonymous bool
	TLSCert, TLSKey   string
	H2C               bool
	HTTP2MaxStreams   int
	MaxStreamsPerIP   int
	Compression       []sse.Encoding
	ShutdownGrace     time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	LogLevel          slog.Level
	LogFormat         string
	NodeID            string

	JWTSecret          string
	JWTSecretFile      string
	JWTPublicKeys      []string // PEM files
	JWKSURL            string
	JWTLeeway          time.Duration
	JWTIssuer          string
	JWTAudience        string
	JWTAllowNoExp      bool
	PublishKeys        []string
	AnonymousSubscribe auth.Patterns
	AuthCookie         string
	QueryToken         bool
	PublishRate        float64
	PublishBurst       int
	Demos              bool
	HistoryFile        string

	// The retained state's bounds, per topic and in total (hub.Config).
	RetainedTopicBytes, RetainedBytes int64

	// The cluster's event log (package cluster); Cluster empty: none.
	Cluster                         string
	ClusterStream                   string
	ClusterCreds                    string
	ClusterUser, ClusterPassword    string
	ClusterToken                    string
	ClusterCA                       string
	ClusterCert, ClusterKey         string
	ClusterMaxAge                   time.Duration
	ClusterMaxMsgs, ClusterMaxBytes int64
	ClusterReplicas                 int
	DataDir                         string

	// The Mercure protocol's endpoint, /.well-known/mercure (web.MercureConfig).
	Mercure          bool
	MercureCookie    string
	MercureAnonymous bool
	// Durability of the event log: how the embedded server syncs to disk,
	// and what a damaged store makes hubd do (cluster.Config).
	ClusterSync     string
	ClusterOnDamage string
	// Authorization by the app (auth-request), operators' disconnects
	// and per-user limits (web.Config, auth.Config).
	AuthRequest            string
	AuthRequestForward     []string
	AuthRequestTimeout     time.Duration
	AuthRequestRecheck     time.Duration
	AuthRequestConcurrency int
	AdminKeys              []string
	MaxStreamsPerUser      int
}

// Defaults of the durability settings.
const (
	// DefaultClusterSync is how often the embedded server syncs its files
	// to disk (NATS's own default); "always" syncs every event.
	DefaultClusterSync = "2m0s"
	// DefaultClusterOnDamage serves what remains of a damaged store under
	// a new epoch.
	DefaultClusterOnDamage = cluster.DamageNewEpoch
)

// syncAlways is the cluster-sync value that syncs every event.
const syncAlways = "always"

// clusterConfig is the event log the cluster settings describe.
func (c *config) clusterConfig() cluster.Config {
	cfg := cluster.Config{
		URLs: c.Cluster, Stream: c.ClusterStream, Name: c.NodeID,
		CredsFile: c.ClusterCreds, User: c.ClusterUser, Password: c.ClusterPassword, Token: c.ClusterToken,
		CAFile: c.ClusterCA, CertFile: c.ClusterCert, KeyFile: c.ClusterKey,
		MaxAge: c.ClusterMaxAge, MaxMsgs: c.ClusterMaxMsgs, MaxBytes: c.ClusterMaxBytes, Replicas: c.ClusterReplicas,
		DataDir: c.DataDir, OnDamage: c.ClusterOnDamage,
	}
	switch c.ClusterSync {
	case "", DefaultClusterSync:
		// The server's default; also the only value a remote NATS allows.
	case syncAlways:
		cfg.SyncAlways = true
	default:
		// A duration, checked when the setting was read.
		cfg.SyncInterval, _ = time.ParseDuration(c.ClusterSync)
	}
	return cfg
}

// setting is one configurable value: its name (the flag, the YAML key, and
// HUBD_ plus the name in upper case with underscores), default, help, and
// how to parse it into a config.
type setting struct {
	name, def, help string
	set             func(c *config, v string) error
	boolean         bool // its flag needs no value
}

func boolSetting(name string, def bool, help string, dst func(*config) *bool) setting {
	return setting{name: name, def: strconv.FormatBool(def), help: help, boolean: true, set: func(c *config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*dst(c) = b
		return nil
	}}
}

func intSetting(name string, def int, help string, dst func(*config) *int, min int) setting {
	return setting{name: name, def: strconv.Itoa(def), help: help, set: func(c *config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < min {
			return fmt.Errorf("%d is less than %d", n, min)
		}
		*dst(c) = n
		return nil
	}}
}

func int64Setting(name string, def int64, help string, dst func(*config) *int64) setting {
	return setting{name: name, def: strconv.FormatInt(def, 10), help: help, set: func(c *config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number of bytes", v)
		}
		if n < 1 {
			return fmt.Errorf("%d is not positive", n)
		}
		*dst(c) = n
		return nil
	}}
}

// noLimit is how a cluster-max-* setting says "no limit"; -1 says it too.
const noLimit = "none"

// limitSetting is a limit of the cluster's stream: a positive whole
// number, or none (or -1) for no limit, which cluster.Config spells as a
// negative value.
func limitSetting(name string, def int64, help string, dst func(*config) *int64) setting {
	return setting{name: name, def: strconv.FormatInt(def, 10), help: help + "; " + noLimit + " (or -1): no limit", set: func(c *config, v string) error {
		v = strings.TrimSpace(v)
		if v == noLimit || v == "-1" {
			*dst(c) = -1
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number, nor %s (or -1) for no limit", v, noLimit)
		}
		*dst(c) = n
		return nil
	}}
}

// durationLimitSetting is limitSetting for a duration.
func durationLimitSetting(name string, def time.Duration, help string, dst func(*config) *time.Duration) setting {
	return setting{name: name, def: def.String(), help: help + "; " + noLimit + " (or -1): no limit", set: func(c *config, v string) error {
		v = strings.TrimSpace(v)
		if v == noLimit || v == "-1" {
			*dst(c) = -1
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as 24h, nor %s (or -1) for no limit", v, noLimit)
		}
		*dst(c) = d
		return nil
	}}
}

func durationSetting(name string, def time.Duration, help string, dst func(*config) *time.Duration) setting {
	return setting{name: name, def: def.String(), help: help, set: func(c *config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 15s or 1m", v)
		}
		if d <= 0 {
			return fmt.Errorf("%v is not positive", d)
		}
		*dst(c) = d
		return nil
	}}
}

// listSetting is a comma-separated list; empty items are dropped.
func listSetting(name, help string, dst func(*config) *[]string) setting {
	return setting{name: name, help: help, set: func(c *config, v string) error {
		*dst(c) = splitList(v)
		return nil
	}}
}

// splitList splits a comma-separated list, trimming items and dropping
// empty ones.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parsePatterns reads a comma-separated list of topic patterns.
func parsePatterns(v string) (auth.Patterns, error) {
	ps := auth.Patterns(splitList(v))
	for _, p := range ps {
		if err := auth.ValidatePattern(p); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func stringSetting(name, def, help string, dst func(*config) *string) setting {
	return setting{name: name, def: def, help: help, set: func(c *config, v string) error {
		*dst(c) = strings.TrimSpace(v)
		return nil
	}}
}

// settings lists every setting, in the order -help shows them.
var settings = []setting{
	{name: "addr", def: DefaultAddr, help: "address to listen on, host:port (an empty host: every interface; port 0: any free port)", set: func(c *config, v string) error {
		if err := checkListenAddr(v); err != nil {
			return err
		}
		c.Addr = v
		return nil
	}},
	{name: "node-id", def: "", help: "name of this node in logs, on the dashboard and, with cluster, in NATS's connection list: 1 to 64 letters, digits, '.', '_' or '-' (empty: a fresh UUID v7 at every start)", set: func(c *config, v string) error {
		if v != "" {
			if err := hub.ValidateNodeID(v); err != nil {
				return err
			}
		}
		c.NodeID = v
		return nil
	}},
	intSetting("history-size", hub.DefaultHistorySize, "events kept for Last-Event-ID replay (-1: none)", func(c *config) *int { return &c.HistorySize }, -1),
	int64Setting("history-bytes", hub.DefaultHistoryBytes, "bound on the encoded size of the history", func(c *config) *int64 { return &c.HistoryBytes }),
	intSetting("history-per-topic", hub.DefaultHistoryPerTopic, "events of one topic kept at most: a topic over it drops its own oldest, so that a flood on one topic cannot push out the others' events", func(c *config) *int { return &c.HistoryPerTopic }, 1),
	int64Setting("retained-topic-bytes", hub.DefaultRetainedTopicBytes, "bound on one topic's retained state (what a publish with Hubd-Retain keeps for subscribers that come later); a retained publish past it is refused with 413", func(c *config) *int64 { return &c.RetainedTopicBytes }),
	int64Setting("retained-bytes", hub.DefaultRetainedBytes, "bound on the retained state of all topics together; a retained publish past it is refused with 507", func(c *config) *int64 { return &c.RetainedBytes }),
	stringSetting("history-file", "", "file the history is saved to at a graceful stop and restored from (then removed) at start, so that clients reconnecting after a restart miss nothing; empty: none", func(c *config) *string { return &c.HistoryFile }),
	durationSetting("idempotency-window", hub.DefaultIdempotencyWindow, "how long a publish's Idempotency-Key is remembered on a single node: a repeat with the same key (and credential) within it answers the first result and publishes nothing; a cluster uses its stream's duplicate window", func(c *config) *time.Duration { return &c.IdempotencyWindow }),
	intSetting("client-buffer", hub.DefaultClientBuffer, "frames that may wait for one subscriber before it is evicted", func(c *config) *int { return &c.ClientBuffer }, 1),
	durationSetting("heartbeat", heartbeat.DefaultInterval, "interval of heartbeat comments: an idle stream gets one every interval, one that events keep writing gets none, and none goes longer without a write", func(c *config) *time.Duration { return &c.Heartbeat }),
	durationSetting("write-timeout", web.DefaultWriteTimeout, "deadline of every write to a subscriber", func(c *config) *time.Duration { return &c.WriteTimeout }),
	durationSetting("read-timeout", web.DefaultReadTimeout, "time allowed to receive a publish's body once its handler reads it; past it 408", func(c *config) *time.Duration { return &c.ReadTimeout }),
	int64Setting("max-body-bytes", web.DefaultMaxBodyBytes, "largest publish body", func(c *config) *int64 { return &c.MaxBodyBytes }),
	intSetting("max-batch-events", web.DefaultMaxBatchEvents, "events one POST /publish may carry; past it 413", func(c *config) *int { return &c.MaxBatchEvents }, 1),
	intSetting("max-topics-per-subscription", web.DefaultMaxTopicsPerConn, "topics one stream may follow", func(c *config) *int { return &c.MaxTopics }, 1),
	intSetting("max-streams", 0, "open streams in all; past it subscribers get 503 (0: the open-file limit less 256)", func(c *config) *int { return &c.MaxStreams }, 0),
	intSetting("max-streams-per-ip", 0, "open streams of one client address; past it 429 (0: no bound)", func(c *config) *int { return &c.MaxStreamsPerIP }, 0),
	{name: "cors-origins", def: "", help: "page origins allowed to subscribe and publish from a browser, comma separated (https://app.example); * for any; empty: same origin only", set: func(c *config, v string) error {
		c.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			switch {
			case o == "":
			case o == "*", strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://"):
				c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimSuffix(o, "/"))
			default:
				return fmt.Errorf("%q is not an origin such as https://app.example", o)
			}
		}
		return nil
	}},
	{name: "allowed-hosts", def: "", help: "host names (comma separated, without port) that requests may carry as Host while authorization is off, besides localhost, *.localhost and IP addresses; * for any. Others get 421, which keeps pages on rebound DNS names out", set: func(c *config, v string) error {
		hosts := splitList(v)
		for _, h := range hosts {
			if err := web.ValidateAllowedHost(h); err != nil {
				return err
			}
		}
		c.AllowedHosts = hosts
		return nil
	}},
	{name: "datastar-client", def: "", help: "where pages load the Datastar client: an https:// URL, or a local file hubd serves at /datastar.js (default: the pinned CDN URL)", set: func(c *config, v string) error {
		c.DatastarClient = v
		return nil
	}},
	{name: "trusted-proxies", def: "", help: "proxies (addresses or CIDR prefixes, comma separated) whose X-Forwarded-For names the client", set: func(c *config, v string) error {
		c.TrustedProxies = nil
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !strings.Contains(p, "/") {
				a, err := netip.ParseAddr(p)
				if err != nil {
					return fmt.Errorf("%q is not an address or prefix", p)
				}
				p = netip.PrefixFrom(a, a.BitLen()).String()
			}
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return fmt.Errorf("%q is not an address or prefix", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
		}
		return nil
	}},
	boolSetting("insecure-anonymous", false, "serve anyone who can reach a non-loopback address, with no authorization", func(c *config) *bool { return &c.InsecureAnonymous }),
	stringSetting("jwt-secret", "", "HMAC secret (32 bytes or more) that verifies HS256/384/512 tokens; prefer jwt-secret-file", func(c *config) *string { return &c.JWTSecret }),
	stringSetting("jwt-secret-file", "", "file holding the HMAC secret (trailing newline ignored)", func(c *config) *string { return &c.JWTSecretFile }),
	listSetting("jwt-public-keys", "PEM files of public keys or certificates (RSA, ECDSA, Ed25519) that verify RS*, PS*, ES* and EdDSA tokens, comma separated", func(c *config) *[]string { return &c.JWTPublicKeys }),
	stringSetting("jwks-url", "", "JSON Web Key Set URL whose keys verify tokens (fetched at start, refreshed every 10 minutes)", func(c *config) *string { return &c.JWKSURL }),
	durationSetting("jwt-leeway", auth.DefaultLeeway, "clock skew allowed for a token's exp and nbf", func(c *config) *time.Duration { return &c.JWTLeeway }),
	stringSetting("jwt-issuer", "", "the only iss claim a token may carry, e.g. https://idp.example (empty: any); hubd token writes it", func(c *config) *string { return &c.JWTIssuer }),
	stringSetting("jwt-audience", "", "a value a token's aud claim must hold, e.g. hubd (empty: any); hubd token writes it", func(c *config) *string { return &c.JWTAudience }),
	boolSetting("jwt-allow-no-exp", false, "accept tokens without an exp claim, which never expire", func(c *config) *bool { return &c.JWTAllowNoExp }),
	listSetting("publish-keys", "static API keys (24 bytes or more) that may publish to any topic, sent as Bearer; comma separated", func(c *config) *[]string { return &c.PublishKeys }),
	{name: "anonymous-subscribe", help: "topic patterns anyone may subscribe to without a token (with authorization on), comma separated: news/*, public/**", set: func(c *config, v string) (err error) {
		c.AnonymousSubscribe, err = parsePatterns(v)
		return err
	}},
	stringSetting("auth-cookie", web.DefaultAuthCookie, "cookie a subscriber's token may come in", func(c *config) *string { return &c.AuthCookie }),
	boolSetting("access-token-query", false, "accept a subscriber's token as the access_token query parameter (it ends up in logs)", func(c *config) *bool { return &c.QueryToken }),
	{name: "publish-rate", def: "0", help: "publishes per second allowed to one token, key or (without authorization) address; past it 429 (0: no bound)", set: func(c *config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a number of publishes per second", v)
		}
		c.PublishRate = f
		return nil
	}},
	intSetting("publish-burst", 0, "publishes allowed at once within publish-rate (0: the rate rounded up)", func(c *config) *int { return &c.PublishBurst }, 0),
	{name: "tls-cert", def: "", help: "TLS certificate file (PEM); with tls-key it turns on HTTPS and HTTP/2; reloaded on SIGHUP", set: func(c *config, v string) error {
		c.TLSCert = v
		return nil
	}},
	{name: "tls-key", def: "", help: "TLS private key file (PEM) for tls-cert", set: func(c *config, v string) error {
		c.TLSKey = v
		return nil
	}},
	boolSetting("h2c", false, "serve cleartext HTTP/2 as well, for a proxy that speaks it", func(c *config) *bool { return &c.H2C }),
	intSetting("http2-max-streams", DefaultHTTP2MaxStreams, "concurrent streams one HTTP/2 connection may open", func(c *config) *int { return &c.HTTP2MaxStreams }, 1),
	{name: "compression", def: "", help: "content codings streams may use, in order of preference (gzip,zstd,br); empty: none", set: func(c *config, v string) error {
		c.Compression = nil
		for _, e := range strings.Split(v, ",") {
			switch enc := sse.Encoding(strings.TrimSpace(e)); enc {
			case "":
			case sse.Gzip, sse.Zstd, sse.Brotli:
				c.Compression = append(c.Compression, enc)
			default:
				return fmt.Errorf("%q is not gzip, zstd or br", e)
			}
		}
		return nil
	}},
	boolSetting("demos", true, "serve the demos under /demo/ and the dashboard's try-it form (only without authorization: they let anyone publish to the demo topics)", func(c *config) *bool { return &c.Demos }),
	stringSetting("cluster", "", "join a cluster: NATS URLs, comma separated (nats://a:4222,nats://b:4222), whose JetStream keeps the event log every node shares; or embedded: run NATS inside hubd, storing in data-dir (empty: no cluster, history in memory)", func(c *config) *string { return &c.Cluster }),
	stringSetting("cluster-stream", cluster.DefaultStream, "name of the JetStream stream that holds the events; created when missing, checked against the cluster-max-* and cluster-replicas settings when it exists", func(c *config) *string { return &c.ClusterStream }),
	stringSetting("cluster-creds", "", "NATS credentials file (JWT and seed)", func(c *config) *string { return &c.ClusterCreds }),
	stringSetting("cluster-user", "", "NATS user name, with cluster-password", func(c *config) *string { return &c.ClusterUser }),
	stringSetting("cluster-password", "", "NATS password of cluster-user", func(c *config) *string { return &c.ClusterPassword }),
	stringSetting("cluster-token", "", "NATS authentication token", func(c *config) *string { return &c.ClusterToken }),
	stringSetting("cluster-ca", "", "CA file (PEM) that verifies the NATS servers (empty: the system's roots)", func(c *config) *string { return &c.ClusterCA }),
	stringSetting("cluster-cert", "", "client certificate file (PEM) for NATS, with cluster-key", func(c *config) *string { return &c.ClusterCert }),
	stringSetting("cluster-key", "", "client private key file (PEM) for cluster-cert", func(c *config) *string { return &c.ClusterKey }),
	durationLimitSetting("cluster-max-age", cluster.DefaultMaxAge, "how long the stream keeps an event; older ones can no longer be replayed", func(c *config) *time.Duration { return &c.ClusterMaxAge }),
	limitSetting("cluster-max-msgs", cluster.DefaultMaxMsgs, "events the stream keeps at most; past it the oldest go", func(c *config) *int64 { return &c.ClusterMaxMsgs }),
	limitSetting("cluster-max-bytes", cluster.DefaultMaxBytes, "bytes the stream keeps at most; past it the oldest events go", func(c *config) *int64 { return &c.ClusterMaxBytes }),
	intSetting("cluster-replicas", cluster.DefaultReplicas, "NATS servers that store each event: 1, or 3 with a NATS cluster of three or more", func(c *config) *int { return &c.ClusterReplicas }, 1),
	stringSetting("data-dir", "", "folder where cluster: embedded stores the event log; events acknowledged to publishers survive a crash", func(c *config) *string { return &c.DataDir }),
	// The Mercure protocol's endpoint, /.well-known/mercure.
	boolSetting("mercure", DefaultMercure, "serve the Mercure protocol at /.well-known/mercure, for Mercure publishers and EventSource pages", func(c *config) *bool { return &c.Mercure }),
	stringSetting("mercure-cookie", web.DefaultMercureCookie, "cookie a Mercure subscriber's (or browser publisher's) token may come in", func(c *config) *string { return &c.MercureCookie }),
	boolSetting("mercure-anonymous", false, "while authorization is on, let Mercure subscribers without a token subscribe (to public updates only)", func(c *config) *bool { return &c.MercureAnonymous }),
	// Durability of the event log.
	{name: "cluster-sync", def: DefaultClusterSync, help: "with cluster: embedded, how often the event log's files are synced to disk (a duration such as 1s), or always: every event is synced before it is acknowledged. An acknowledged event survives a crash of hubd either way; a power cut can lose the events acknowledged since the last sync, unless always. For a remote NATS, set sync_interval in its own configuration", set: func(c *config, v string) error {
		v = strings.TrimSpace(v)
		if v == syncAlways {
			c.ClusterSync = v
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is neither %s nor a positive duration such as 1s or 2m", v, syncAlways)
		}
		c.ClusterSync = d.String()
		return nil
	}},
	{name: "cluster-on-damage", def: DefaultClusterOnDamage, help: "what hubd does when it finds that the event log's store lost events it once held (a damaged or deleted file): " + cluster.DamageNewEpoch + " serves what remains under a new epoch, so that no event ID names two events and clients holding an older ID are told they missed events; " + cluster.DamageRefuse + " refuses to start, leaving the store as it is", set: func(c *config, v string) error {
		v = strings.TrimSpace(v)
		if v != cluster.DamageNewEpoch && v != cluster.DamageRefuse {
			return fmt.Errorf("%q is neither %s nor %s", v, cluster.DamageNewEpoch, cluster.DamageRefuse)
		}
		c.ClusterOnDamage = v
		return nil
	}},
	// Authorization by the app (auth-request), operators' disconnects and
	// per-user limits: see docs/authorization.md.
	{name: "auth-request", help: "URL of the app's endpoint that authorizes its own sessions: a subscribe (or a publish without token or key) that no token decides is asked about there, with the forwarded headers", set: func(c *config, v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
				return fmt.Errorf("%q is not an absolute http:// or https:// URL without a #fragment", v)
			}
		}
		c.AuthRequest = v
		return nil
	}},
	{name: "auth-request-forward", def: strings.Join(web.DefaultAuthRequestForward, ","), help: "request headers forwarded to auth-request, comma separated; their values key its cached answers (by hash)", set: func(c *config, v string) error {
		names := splitList(v)
		if len(names) == 0 {
			return errors.New("empty: name at least one header, such as Cookie")
		}
		for _, n := range names {
			if !httpguts.ValidHeaderFieldName(n) {
				return fmt.Errorf("%q is not a header name", n)
			}
		}
		c.AuthRequestForward = names
		return nil
	}},
	durationSetting("auth-request-timeout", web.DefaultAuthRequestTimeout, "time the app has to answer auth-request; past it the client is refused for a while (retriably)", func(c *config) *time.Duration { return &c.AuthRequestTimeout }),
	durationSetting("auth-request-recheck", web.DefaultAuthRequestRecheck, "how often the app is asked again about the streams it admitted (jittered); those it no longer grants end", func(c *config) *time.Duration { return &c.AuthRequestRecheck }),
	intSetting("auth-request-concurrency", web.DefaultAuthRequestConcurrency, "requests to auth-request in flight at most", func(c *config) *int { return &c.AuthRequestConcurrency }, 1),
	listSetting("admin-keys", "static API keys (24 bytes or more) for the operator's endpoints (POST /streams/disconnect), sent as Bearer; comma separated", func(c *config) *[]string { return &c.AdminKeys }),
	intSetting("max-streams-per-user", 0, "open streams of one user (a token's sub, or auth-request's user); past it 429 (0: no bound)", func(c *config) *int { return &c.MaxStreamsPerUser }, 0),
	durationSetting("shutdown-grace", DefaultShutdownGrace, "time allowed for a graceful stop", func(c *config) *time.Duration { return &c.ShutdownGrace }),
	durationSetting("read-header-timeout", DefaultReadHeaderTimeout, "time allowed to read a request's headers", func(c *config) *time.Duration { return &c.ReadHeaderTimeout }),
	durationSetting("idle-timeout", DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request", func(c *config) *time.Duration { return &c.IdleTimeout }),
	{name: "log-level", def: "info", help: "debug, info, warn or error", set: func(c *config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{name: "log-format", def: "auto", help: "auto (text on a terminal, JSON otherwise), text or json", set: func(c *config, v string) error {
		switch v {
		case "auto", "text", "json":
			c.LogFormat = v
			return nil
		}
		return fmt.Errorf("%q is not auto, text or json", v)
	}},
}

// envName returns the environment variable of a setting.
func envName(name string) string {
	return "HUBD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// configError is an invalid configuration: hubd exits with status 2.
type configError struct{ err error }

func (e *configError) Error() string { return "invalid configuration:\n" + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// loadConfig reads the settings from defaults, then the file named by
// -config (or HUBD_CONFIG), then the environment, then the flags, so that
// a flag wins over the environment, which wins over the file. It reports
// every bad setting at once. help is where -help prints.
func loadConfig(args []string, getenv func(string) string, help io.Writer) (*config, error) {
	c := &config{}
	for _, s := range settings {
		if err := s.set(c, s.def); err != nil {
			panic(fmt.Sprintf("default of %s: %v", s.name, err)) // a programming error
		}
	}

	fs := flag.NewFlagSet("hubd", flag.ContinueOnError)
	fs.SetOutput(help)
	configFile := fs.String("config", getenv("HUBD_CONFIG"), "YAML configuration file (env HUBD_CONFIG)")
	flagged := map[string]string{}
	for _, s := range settings {
		usage := fmt.Sprintf("%s (env %s, default %q)", s.help, envName(s.name), s.def)
		keep := func(v string) error {
			flagged[s.name] = v // parsed below, so that every error is reported
			return nil
		}
		if s.boolean {
			fs.BoolFunc(s.name, usage, keep)
		} else {
			fs.Func(s.name, usage, keep)
		}
	}
	fs.Usage = func() {
		fmt.Fprintln(help, "Usage: hubd [flags]\n       hubd version    (or -version, --version)\n       hubd token -help    (mint a token)\n\nEvery flag can also be set by its HUBD_ environment variable or a key of the -config file.\nA flag wins over the environment, which wins over the file.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &configError{err}
	}
	if fs.NArg() > 0 {
		return nil, &configError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}

	var errs []error
	byName := map[string]setting{}
	for _, s := range settings {
		byName[s.name] = s
	}
	apply := func(name, value, source string) {
		if err := byName[name].set(c, value); err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): %w", name, source, err))
		}
	}
	if *configFile != "" {
		values, err := readConfigFile(*configFile)
		if err != nil {
			errs = append(errs, err)
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := byName[k]; !ok {
				errs = append(errs, fmt.Errorf("%s: unknown setting %q", *configFile, k))
				continue
			}
			apply(k, values[k], "file "+*configFile)
		}
	}
	for _, s := range settings {
		if v, ok := lookupEnv(getenv, envName(s.name)); ok {
			apply(s.name, v, "env "+envName(s.name))
		}
	}
	for _, s := range settings {
		if v, ok := flagged[s.name]; ok {
			apply(s.name, v, "flag -"+s.name)
		}
	}
	if c.RetainedTopicBytes > c.RetainedBytes {
		errs = append(errs, fmt.Errorf("retained-topic-bytes %d is more than retained-bytes %d: one topic could never use it", c.RetainedTopicBytes, c.RetainedBytes))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fmt.Errorf("tls-cert %q and tls-key %q: give both or neither", c.TLSCert, c.TLSKey))
	}
	if c.JWTSecret != "" && c.JWTSecretFile != "" {
		errs = append(errs, errors.New("jwt-secret and jwt-secret-file: give one or neither"))
	}
	if c.Cluster != "" {
		if err := c.clusterConfig().Validate(); err != nil {
			errs = append(errs, clusterSettingErrors(err)...)
		}
		if c.HistoryFile != "" {
			errs = append(errs, fmt.Errorf("history-file %q and cluster %q: give one or neither (a cluster keeps its history in the event log)", c.HistoryFile, c.Cluster))
		}
	} else if c.DataDir != "" {
		errs = append(errs, fmt.Errorf("data-dir %q: applies to cluster: embedded only", c.DataDir))
	}
	if err := (&http.Cookie{Name: c.MercureCookie, Value: "x"}).Valid(); c.Mercure && err != nil {
		errs = append(errs, fmt.Errorf("mercure-cookie %q: not a usable cookie name: %w", c.MercureCookie, err))
	}
	if c.NodeID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			errs = append(errs, fmt.Errorf("node-id: make a UUID: %w", err))
		}
		c.NodeID = id.String()
	}
	if len(errs) == 0 && !c.InsecureAnonymous && !c.authorizing() && !loopbackAddr(c.Addr) {
		errs = append(errs, fmt.Errorf("addr %s is not a loopback address, and no authorization is configured: "+
			"anyone who reaches it could publish; configure jwt-secret, jwt-public-keys, jwks-url or publish-keys, "+
			"or pass -insecure-anonymous (HUBD_INSECURE_ANONYMOUS=true) to serve it anyway", c.Addr))
	}
	if len(errs) > 0 {
		return nil, &configError{errors.Join(errs...)}
	}
	return c, nil
}

// clusterSettings names the setting behind each cluster.Config field that
// hubd sets.
var clusterSettings = map[string]string{
	"URLs": "cluster", "Stream": "cluster-stream", "CredsFile": "cluster-creds", "User": "cluster-user",
	"Password": "cluster-password", "Token": "cluster-token", "CAFile": "cluster-ca", "CertFile": "cluster-cert",
	"KeyFile": "cluster-key", "MaxAge": "cluster-max-age", "MaxMsgs": "cluster-max-msgs", "MaxBytes": "cluster-max-bytes",
	"Replicas": "cluster-replicas", "DataDir": "data-dir",
	"SyncInterval": "cluster-sync", "SyncAlways": "cluster-sync", "OnDamage": "cluster-on-damage",
}

// settingError is a cluster.FieldError worded with the names of hubd's
// settings instead of cluster.Config's fields.
type settingError struct {
	msg string
	err *cluster.FieldError
}

func (e *settingError) Error() string { return e.msg }
func (e *settingError) Unwrap() error { return e.err }

// clusterSettingErrors splits the error of cluster.Config.Validate into
// its field errors, each naming hubd's settings (data-dir, not DataDir),
// so that an operator reads the names they typed.
func clusterSettingErrors(err error) []error {
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var fe *cluster.FieldError
		if !errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		names := make([]string, len(fe.Fields))
		for i, f := range fe.Fields {
			if names[i] = clusterSettings[f]; names[i] == "" {
				names[i] = "cluster " + f // not a setting of hubd's: cannot happen today
			}
		}
		msg := strings.Join(names, " and ")
		if fe.Value != "" {
			msg += " " + fe.Value
		}
		out = append(out, &settingError{msg: msg + ": " + fe.Reason, err: fe})
	}
	return out
}

// allowedHosts is the allowed-hosts setting, plus, when insecure-anonymous
// serves a name given in addr, that name: the operator chose to serve it
// without authorization, so its own name must be answered.
func (c *config) allowedHosts() []string {
	hosts := slices.Clip(c.AllowedHosts)
	if host, _, err := net.SplitHostPort(c.Addr); err == nil && c.InsecureAnonymous && host != "" && net.ParseIP(host) == nil {
		hosts = append(hosts, host)
	}
	return hosts
}

// authorizing reports whether any credential is configured.
func (c *config) authorizing() bool {
	return c.JWTSecret != "" || c.JWTSecretFile != "" || len(c.JWTPublicKeys) > 0 || c.JWKSURL != "" || len(c.PublishKeys) > 0 ||
		c.AuthRequest != ""
}

// authConfig reads the key files the settings name into an auth.Config.
func (c *config) authConfig(log *slog.Logger) (auth.Config, error) {
	ac := auth.Config{Secret: []byte(c.JWTSecret), JWKSURL: c.JWKSURL, Leeway: c.JWTLeeway,
		Issuer: c.JWTIssuer, Audience: c.JWTAudience, AllowNoExpiry: c.JWTAllowNoExp,
		PublishKeys: c.PublishKeys, AdminKeys: c.AdminKeys, AnonymousSubscribe: c.AnonymousSubscribe, Logger: log}
	var errs []error
	if c.JWTSecretFile != "" {
		b, err := os.ReadFile(c.JWTSecretFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt-secret-file: %w", err))
		}
		ac.Secret = bytes.TrimRight(b, "\r\n")
	}
	for _, f := range c.JWTPublicKeys {
		b, err := os.ReadFile(f)
		if err == nil {
			var keys []crypto.PublicKey
			keys, err = auth.ParsePublicKeys(b)
			ac.PublicKeys = append(ac.PublicKeys, keys...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt-public-keys %s: %w", f, err))
		}
	}
	if err := ac.Validate(); err != nil {
		errs = append(errs, err)
	}
	return ac, errors.Join(errs...)
}

// checkListenAddr returns nil if addr is host:port with a port number
// from 0 to 65535 (0: any free port), and otherwise an error naming the
// value and what is wrong with it.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// loopbackAddr reports whether addr listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// readConfigFile returns the file's settings as strings, keyed by name.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case nil:
			out[k] = ""
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			out[k] = strings.Join(parts, ",")
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out, nil
}
