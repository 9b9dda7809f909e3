package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Embedded is the Config.URLs value that runs a NATS server with
// JetStream inside the process, storing in Config.DataDir.
const Embedded = "embedded"

// Defaults for the zero values of Config.
const (
	DefaultStream           = "HUBD"
	DefaultSubjectPrefix    = "hubd.events"
	DefaultMaxAge           = 24 * time.Hour
	DefaultMaxMsgs          = 1_000_000
	DefaultMaxBytes         = 1 << 30 // 1 GiB
	DefaultReplicas         = 1
	DefaultDuplicateWindow  = 2 * time.Minute
	DefaultConnectTimeout   = 5 * time.Second
	DefaultPublishTimeout   = 5 * time.Second
	DefaultReconnectWait    = 250 * time.Millisecond
	DefaultReconnectMaxWait = 5 * time.Second
	// DefaultSyncInterval is the NATS server's own default.
	DefaultSyncInterval = 2 * time.Minute
)

// Config says where the event log lives and how it is kept. Its zero
// value is not usable on its own: URLs must be set. Every other zero
// field takes the matching Default.
type Config struct {
	// URLs is a comma-separated list of NATS server URLs
	// ("nats://a:4222,nats://b:4222"), or Embedded.
	URLs string
	// Stream names the JetStream stream (DefaultStream).
	Stream string
	// SubjectPrefix is the subject the stream takes every message under,
	// as PREFIX.> (DefaultSubjectPrefix). See TopicToken for the subjects.
	SubjectPrefix string
	// Name is the connection's name as NATS monitoring shows it, such as
	// the node ID. Optional.
	Name string

	// At most one way to authenticate to a remote NATS: a credentials
	// file (JWT and seed), a user and password, or a token.
	CredsFile string
	User      string
	Password  string
	Token     string

	// TLS to a remote NATS: CAFile verifies the server (the system roots
	// when empty); CertFile and KeyFile, both or neither, are the
	// client's certificate.
	CAFile   string
	CertFile string
	KeyFile  string

	// The stream's limits, applied when Open creates it and checked when
	// it exists: zero takes the default, a negative value means no limit.
	MaxAge   time.Duration // DefaultMaxAge
	MaxMsgs  int64         // DefaultMaxMsgs
	MaxBytes int64         // DefaultMaxBytes
	// Replicas is how many servers keep each message: 1 or 3
	// (DefaultReplicas). Embedded allows only 1.
	Replicas int
	// DuplicateWindow is how long an idempotency key is remembered
	// (DefaultDuplicateWindow, or MaxAge when that is shorter); at most
	// MaxAge.
	DuplicateWindow time.Duration

	// DataDir is where the embedded server stores the stream. Required
	// with Embedded, refused otherwise.
	DataDir string
	// EmbeddedListen is a host:port where the embedded server also takes
	// NATS clients (for the nats CLI, say). Empty: it takes none, and
	// this process reaches it in-process.
	EmbeddedListen string

	// ConnectTimeout bounds connecting at Open (DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// PublishTimeout bounds how long Append waits for JetStream to store
	// a message (DefaultPublishTimeout).
	PublishTimeout time.Duration
	// After a disconnect the client reconnects forever, waiting
	// ReconnectWait before the first try and doubling the wait up to
	// ReconnectMaxWait (DefaultReconnectWait, DefaultReconnectMaxWait).
	ReconnectWait    time.Duration
	ReconnectMaxWait time.Duration

	// OnDamage is what Open does when the stream lost events it once
	// held: DamageNewEpoch (the default, also for "") or DamageRefuse.
	OnDamage string
	// The embedded server writes each event to the operating system at
	// once (it survives the process's crash) and syncs its files to disk
	// every SyncInterval (DefaultSyncInterval): a power cut can lose
	// what was acknowledged since the last sync. SyncAlways syncs every
	// write before it is acknowledged instead. Embedded only: a remote
	// NATS server has its own sync_interval setting.
	SyncInterval time.Duration
	SyncAlways   bool
}

// Embedded reports whether c runs an embedded NATS server.
func (c Config) Embedded() bool { return strings.TrimSpace(c.URLs) == Embedded }

// FieldError is one invalid setting of a Config, as Validate reports it:
// a program that names the fields otherwise (cmd/hubd's settings, say)
// finds each one with errors.As on the errors that Validate's error
// joins, and words it in its own names.
type FieldError struct {
	// Fields are the Config fields at fault, such as "DataDir"; several
	// when their combination is wrong (CertFile and KeyFile).
	Fields []string
	// Value is the bad value as text, quoted when it is a string; empty
	// when the combination is at fault rather than one value.
	Value string
	// Reason says what is wrong and, when it can, what to give instead.
	Reason string
}

// Error reads "cluster: Field value: reason".
func (e *FieldError) Error() string {
	s := "cluster: " + strings.Join(e.Fields, "/")
	if e.Value != "" {
		s += " " + e.Value
	}
	return s + ": " + e.Reason
}

// Validate returns every field error at once, or nil: errors.Join of one
// *FieldError per problem, each naming the field and its bad value.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &FieldError{Fields: strings.Split(field, "/"), Value: fmt.Sprint(v), Reason: why})
	}
	embedded := c.Embedded()
	switch {
	case strings.TrimSpace(c.URLs) == "":
		bad("URLs", `""`, `want NATS URLs or "embedded"`)
	case !embedded:
		for u := range strings.SplitSeq(c.URLs, ",") {
			if err := checkURL(strings.TrimSpace(u)); err != nil {
				bad("URLs", fmt.Sprintf("%q", u), err.Error())
			}
		}
	}
	if c.Stream != "" && !validStreamName(c.Stream) {
		bad("Stream", fmt.Sprintf("%q", c.Stream), "want letters, digits, '-' or '_'")
	}
	if c.SubjectPrefix != "" && !validPrefix(c.SubjectPrefix) {
		bad("SubjectPrefix", fmt.Sprintf("%q", c.SubjectPrefix), "want dot-separated tokens of letters, digits, '-' or '_'")
	}
	auths := 0
	for _, s := range []string{c.CredsFile, c.User + c.Password, c.Token} {
		if s != "" {
			auths++
		}
	}
	if auths > 1 {
		bad("CredsFile/User/Token", "", "give one way to authenticate, not several")
	}
	if c.Password != "" && c.User == "" {
		bad("User", `""`, "a password needs a user")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		bad("CertFile/KeyFile", fmt.Sprintf("%q/%q", c.CertFile, c.KeyFile), "give both or neither")
	}
	if embedded {
		if auths > 0 || c.CAFile != "" || c.CertFile != "" {
			bad("URLs", Embedded, "credentials and TLS apply to a remote NATS only")
		}
		if c.DataDir == "" {
			bad("DataDir", `""`, "the embedded server needs a directory to store in")
		}
		if c.Replicas > 1 {
			bad("Replicas", c.Replicas, "the embedded server is one server: want 1")
		}
		if c.EmbeddedListen != "" {
			if _, _, err := net.SplitHostPort(c.EmbeddedListen); err != nil {
				bad("EmbeddedListen", fmt.Sprintf("%q", c.EmbeddedListen), "want host:port")
			}
		}
	} else {
		if c.DataDir != "" {
			bad("DataDir", fmt.Sprintf("%q", c.DataDir), "applies to the embedded server only")
		}
		if c.EmbeddedListen != "" {
			bad("EmbeddedListen", fmt.Sprintf("%q", c.EmbeddedListen), "applies to the embedded server only")
		}
		const remoteSync = "applies to the embedded server only: set sync_interval in the NATS servers' configuration"
		if c.SyncAlways {
			bad("SyncAlways", true, remoteSync)
		}
		if c.SyncInterval != 0 {
			bad("SyncInterval", c.SyncInterval, remoteSync)
		}
	}
	if c.SyncInterval < 0 {
		bad("SyncInterval", c.SyncInterval, "must not be negative")
	}
	switch c.OnDamage {
	case "", DamageNewEpoch, DamageRefuse:
	default:
		bad("OnDamage", fmt.Sprintf("%q", c.OnDamage), fmt.Sprintf("want %q or %q", DamageNewEpoch, DamageRefuse))
	}
	if c.Replicas != 0 && c.Replicas != 1 && c.Replicas != 3 {
		bad("Replicas", c.Replicas, "want 1 or 3")
	}
	if c.DuplicateWindow < 0 {
		bad("DuplicateWindow", c.DuplicateWindow, "must not be negative")
	}
	w := c.withDefaults()
	if w.MaxAge > 0 && w.DuplicateWindow > w.MaxAge {
		bad("DuplicateWindow", w.DuplicateWindow, fmt.Sprintf("longer than MaxAge %v", w.MaxAge))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ConnectTimeout", c.ConnectTimeout},
		{"PublishTimeout", c.PublishTimeout},
		{"ReconnectWait", c.ReconnectWait},
		{"ReconnectMaxWait", c.ReconnectMaxWait},
	} {
		if d.v < 0 {
			bad(d.name, d.v, "must not be negative")
		}
	}
	if w.ReconnectMaxWait < w.ReconnectWait {
		bad("ReconnectMaxWait", w.ReconnectMaxWait, fmt.Sprintf("shorter than ReconnectWait %v", w.ReconnectWait))
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return errors.New("want a nats://, tls://, ws:// or wss:// URL")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

func validStreamName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return len(s) <= 255
}

func validPrefix(s string) bool {
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || !validStreamName(tok) {
			return false
		}
	}
	return true
}

// tokenByte reports whether c is one of the plainest subject bytes.
func tokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// withDefaults returns c with every zero field set to its default, and
// negative limits as JetStream spells "no limit".
func (c Config) withDefaults() Config {
	c.URLs = strings.TrimSpace(c.URLs)
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	switch {
	case c.MaxAge == 0:
		c.MaxAge = DefaultMaxAge
	case c.MaxAge < 0:
		c.MaxAge = 0 // JetStream: no limit
	}
	switch {
	case c.MaxMsgs == 0:
		c.MaxMsgs = DefaultMaxMsgs
	case c.MaxMsgs < 0:
		c.MaxMsgs = -1
	}
	switch {
	case c.MaxBytes == 0:
		c.MaxBytes = DefaultMaxBytes
	case c.MaxBytes < 0:
		c.MaxBytes = -1
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
		if c.MaxAge > 0 {
			c.DuplicateWindow = min(c.DuplicateWindow, c.MaxAge)
		}
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.ReconnectMaxWait == 0 {
		c.ReconnectMaxWait = DefaultReconnectMaxWait
	}
	if c.OnDamage == "" {
		c.OnDamage = DamageNewEpoch
	}
	if c.SyncInterval == 0 && c.Embedded() {
		c.SyncInterval = DefaultSyncInterval
	}
	return c
}
