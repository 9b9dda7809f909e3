// Command hubd is a server-sent-events hub for Datastar applications: back
// ends POST events to topics, browsers subscribe with Datastar's @get.
//
//	hubd                          # 127.0.0.1:8080, in-memory defaults
//	hubd -config configs/hubd.yaml -addr :8080
//	hubd -help                    # every setting and its HUBD_ variable
//	hubd version                  # or -version, --version
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hubd-dev/hubd/auth"
	"github.com/hubd-dev/hubd/cluster"
	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var cfgErr *configError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &cfgErr):
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(1)
	}
}

// run starts hubd and serves until ctx ends or SIGINT/SIGTERM arrives, then
// shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "version" || args[0] == "-version" || args[0] == "--version") {
		fmt.Fprintln(stdout, "hubd", version)
		return nil
	}
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "publish" {
		return runPublish(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "subscribe" {
		return runSubscribe(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	files := raiseFileLimit(log)
	if cfg.MaxStreams == 0 && files > 512 {
		cfg.MaxStreams = files - 256 // keep files for publishers, logs and the listener
	}

	ac, err := cfg.authConfig(log)
	if err != nil {
		return &configError{err}
	}
	authCtx, stopAuth := context.WithCancel(ctx) // ends the JWKS refresh
	defer stopAuth()
	authz, err := auth.New(authCtx, ac)
	if err != nil {
		return &configError{err}
	}

	// The event log, with cluster: opened before the hub, which follows
	// it, and closed after the hub (run's deferred calls come after
	// shutdown).
	var evlog hub.EventLog
	if cfg.Cluster != "" {
		l, err := cluster.Open(ctx, cfg.clusterConfig(), log)
		if errors.Is(err, cluster.ErrStreamMismatch) {
			// The settings, not the moment, are at fault: exit 2.
			return &configError{fmt.Errorf("cluster: %w\n(set cluster-max-age, cluster-max-msgs, cluster-max-bytes "+
				"and cluster-replicas as the stream has them, or name another stream with cluster-stream)", err)}
		}
		if errors.Is(err, cluster.ErrDamaged) {
			return fmt.Errorf("cluster: %w\n(hubd refuses to start on a damaged store because cluster-on-damage is %s; "+
				"set it to %s to serve what remains under a new epoch)", err, cluster.DamageRefuse, cluster.DamageNewEpoch)
		}
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		defer func() {
			// Bounded: a follower that does not return must not hold the
			// exit (the connection is closed when time runs out).
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
			defer cancel()
			if err := l.Shutdown(ctx); err != nil {
				log.Error("close the cluster's event log", "err", err)
			}
		}()
		evlog = l
	}

	historySize := cfg.HistorySize
	if historySize <= 0 {
		historySize = -1 // none
	}
	h, err := startHub(cfg, hub.Config{
		HistorySize: historySize, HistoryBytes: cfg.HistoryBytes, HistoryPerTopic: cfg.HistoryPerTopic, ClientBuffer: cfg.ClientBuffer,
		Heartbeat: cfg.Heartbeat, Logger: log, NodeID: cfg.NodeID, Log: evlog, IdempotencyWindow: cfg.IdempotencyWindow,
		RetainedTopicBytes: cfg.RetainedTopicBytes, RetainedBytes: cfg.RetainedBytes, Version: version,
	}, log)
	if err != nil {
		return err
	}
	api, err := web.New(h, web.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, WriteTimeout: cfg.WriteTimeout, ReadTimeout: cfg.ReadTimeout, Compression: cfg.Compression,
		MaxTopicsPerSubscription: cfg.MaxTopics, MaxStreams: cfg.MaxStreams, MaxStreamsPerIP: cfg.MaxStreamsPerIP,
		AllowedOrigins: cfg.AllowedOrigins, AllowedHosts: cfg.allowedHosts(), TrustedProxies: cfg.TrustedProxies, DatastarClient: cfg.DatastarClient,
		Auth: authz, MaxBatchEvents: cfg.MaxBatchEvents, AuthCookie: cfg.AuthCookie, QueryToken: cfg.QueryToken,
		PublishRate: cfg.PublishRate, PublishBurst: cfg.PublishBurst,
		AuthRequest: cfg.AuthRequest, AuthRequestForward: cfg.AuthRequestForward, AuthRequestTimeout: cfg.AuthRequestTimeout,
		AuthRequestRecheck: cfg.AuthRequestRecheck, AuthRequestConcurrency: cfg.AuthRequestConcurrency,
		MaxStreamsPerUser: cfg.MaxStreamsPerUser,
		Demos:             cfg.Demos && !authz.Enabled() && cfg.AuthRequest == "",
		Logger:            log,
		Mercure:           web.MercureConfig{Disabled: !cfg.Mercure, Cookie: cfg.MercureCookie, Anonymous: cfg.MercureAnonymous},
	})
	if err != nil {
		return &configError{err}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := listen(ctx, cfg)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.HTTP2MaxStreams},
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(cfg.H2C)
	scheme := "http"
	var certs *certStore
	if cfg.TLSCert != "" {
		if certs, err = newCertStore(cfg.TLSCert, cfg.TLSKey); err != nil {
			ln.Close()
			return &configError{err}
		}
		srv.Protocols.SetHTTP2(true)
		srv.TLSConfig = certs.tlsConfig()
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	// SIGHUP reloads the certificate. It is caught with or without TLS:
	// left to its default it would kill hubd (systemctl reload sends it),
	// cutting every stream and skipping the history file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reloads := make(chan struct{})
	go func() { // forwards SIGHUP until run returns
		defer close(reloads)
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				if certs == nil {
					log.Info("SIGHUP: nothing to reload (no tls-cert)")
					continue
				}
				reloads <- struct{}{}
			case <-ctx.Done():
				return
			}
		}
	}()
	if certs != nil {
		go certs.reloadOnSignal(reloads, log) // ends when reloads closes
	}
	url := scheme + "://" + ln.Addr().String() + "/"
	switch {
	case authz.Enabled():
		log.Info("authorization on: publishing needs a token or key",
			"hmac_secret", len(ac.Secret) > 0, "public_keys", len(ac.PublicKeys), "jwks_url", ac.JWKSURL,
			"jwt_issuer", ac.Issuer, "jwt_audience", ac.Audience, "jwt_allow_no_exp", ac.AllowNoExpiry,
			"publish_keys", len(ac.PublishKeys), "anonymous_subscribe", strings.Join(ac.AnonymousSubscribe, ","),
			"auth_request", cfg.AuthRequest != "")
	case cfg.AuthRequest != "":
		log.Info("authorization on: the app behind auth-request decides for its sessions",
			"anonymous_subscribe", strings.Join(ac.AnonymousSubscribe, ","))
	case cfg.InsecureAnonymous:
		log.Warn("anyone who can reach this address may publish and subscribe: there is no authorization; "+
			"requests are answered for localhost, IP addresses and allowed-hosts only", "addr", ln.Addr().String(),
			"allowed_hosts", strings.Join(cfg.allowedHosts(), ","))
	default:
		log.Info("no authorization: listening on loopback only", "addr", ln.Addr().String())
	}
	logOrigins(log, cfg.AllowedOrigins)
	fmt.Fprintf(stdout, "hubd %s listening on %s\n", version, url)
	log.Info("hubd started", "version", version, "node_id", h.NodeID(), "url", url, "history_size", cfg.HistorySize, "history_per_topic", cfg.HistoryPerTopic,
		"heartbeat", cfg.Heartbeat, "max_streams", cfg.MaxStreams, "cluster", cfg.Cluster, "epoch", h.Epoch())

	if cfg.Demos && cfg.authorizing() {
		log.Info("demos off: with authorization on they would let anyone publish to the demo topics")
	}
	statsCtx, stopStats := context.WithCancel(context.Background())
	var stats sync.WaitGroup
	stats.Go(func() { api.RunStats(statsCtx, web.DefaultStatsInterval) }) // ends with stopStats
	defer func() { stopStats(); stats.Wait() }()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // ends when srv is shut down or closed

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return shutdown(log, cfg, srv, api, h, served)
}

// shutdown stops accepting, answers /readyz with 503, aborts every stream
// so that Datastar clients reconnect elsewhere, lets in-flight publishes
// finish, and gives up after the grace period.
func shutdown(log *slog.Logger, cfg *config, srv *http.Server, api *web.Server, h *hub.Hub, served <-chan error) error {
	start := time.Now()
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	api.SetReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()

	var wg sync.WaitGroup
	var srvErr, hubErr error
	wg.Go(func() { srvErr = srv.Shutdown(ctx) })
	wg.Go(func() { hubErr = h.Shutdown(ctx) })
	wg.Wait()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
	}
	if srvErr != nil || hubErr != nil {
		log.Warn("grace period over; closing what is left", "server", srvErr, "hub", hubErr)
		srv.Close()
	}
	if err := api.Close(); err != nil { // the hang-up watcher; streams are over by now
		log.Error("close web server", "err", err)
	}
	if cfg.HistoryFile != "" {
		if err := saveHistory(h, cfg.HistoryFile); err != nil {
			log.Error("save history", "err", err)
		} else {
			log.Info("history saved for the next start", "file", cfg.HistoryFile, "events", h.Stats().HistoryLen)
		}
	}
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// listen opens the TCP listener with keep-alive probes and, where the
// system has it, a TCP user timeout on every connection (listen_linux.go).
func listen(ctx context.Context, cfg *config) (net.Listener, error) {
	lc := net.ListenConfig{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: cfg.Heartbeat, Interval: cfg.Heartbeat / 3, Count: 3},
		Control:         userTimeoutControl(cfg.Heartbeat + cfg.WriteTimeout),
	}
	return lc.Listen(ctx, "tcp", cfg.Addr)
}

// logOrigins says in one line which page origins may call the hub from a
// browser (the cors-origins setting).
func logOrigins(log *slog.Logger, origins []string) {
	switch {
	case len(origins) == 0:
		log.Info("no cors-origins: browser pages of other origins than the hub's own will be refused", "cors_origins", "")
	case slices.Contains(origins, "*"):
		log.Info("cors-origins *: browser pages of any origin may call the hub, without cookies", "cors_origins", strings.Join(origins, ","))
	default:
		log.Info("browser pages of these origins may call the hub", "cors_origins", strings.Join(origins, ","))
	}
}

// newLogger returns the slog logger the configuration asks for: text on a
// terminal, JSON otherwise, unless log-format says which. Durations read
// as Go writes them ("15s") in both, not as nanoseconds.
func newLogger(cfg *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: durationString}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationString is a slog ReplaceAttr that writes a time.Duration as its
// String form: JSON handlers would otherwise write nanoseconds.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
