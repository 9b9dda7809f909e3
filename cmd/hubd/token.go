package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hubd-dev/hubd/auth"
)

// runToken mints a token for local use and prints it:
//
//	hubd token -publish 'news/**' -subscribe 'news/*' -ttl 24h
//
// It signs with the configured jwt-secret (from -config, the environment
// or -jwt-secret-file), or with the private key of -signing-key. The
// token carries the configured jwt-issuer and jwt-audience, so that the
// hub it is for accepts it, and always an exp, unless -ttl 0 is given to a
// hub configured with jwt-allow-no-exp.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var publish, subscribe auth.Patterns
	patterns := func(dst *auth.Patterns) func(string) error {
		return func(v string) error {
			ps, err := parsePatterns(v)
			*dst = append(*dst, ps...)
			return err
		}
	}
	fs.Func("publish", "topic pattern the bearer may publish to (repeat or comma separate)", patterns(&publish))
	fs.Func("subscribe", "topic pattern the bearer may subscribe to, private events included (repeat or comma separate)", patterns(&subscribe))
	admin := fs.Bool("admin", false, "let the bearer use the operator's endpoints (POST /streams/disconnect)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token (0: no exp, only where the configuration sets jwt-allow-no-exp)")
	subject := fs.String("subject", "hubd-token", "the sub claim: who the token is for")
	signingKey := fs.String("signing-key", "", "PEM private key (RSA, ECDSA or Ed25519) to sign with instead of the HMAC secret")
	configFile := fs.String("config", getenv("HUBD_CONFIG"), "hubd configuration file whose jwt-secret signs the token")
	// These override the configuration, as the daemon's flags do.
	passed := map[string]*string{
		"jwt-secret-file": fs.String("jwt-secret-file", "", "file holding the HMAC secret (else jwt-secret of the configuration)"),
		"jwt-issuer":      fs.String("jwt-issuer", "", "the iss claim (else jwt-issuer of the configuration)"),
		"jwt-audience":    fs.String("jwt-audience", "", "the aud claim (else jwt-audience of the configuration)"),
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hubd token [flags]\n\nPrints a signed token granting the given topic patterns.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseSubcommand(fs, args); err != nil {
		return err
	}
	if len(publish) == 0 && len(subscribe) == 0 && !*admin {
		return &configError{errors.New("token: give -publish or -subscribe patterns, -admin, or several")}
	}
	if *ttl < 0 {
		return &configError{fmt.Errorf("token: -ttl %v is negative", *ttl)}
	}

	var cargs []string
	if *configFile != "" {
		cargs = []string{"-config", *configFile}
	}
	for _, name := range []string{"jwt-secret-file", "jwt-issuer", "jwt-audience"} {
		if v := *passed[name]; v != "" {
			cargs = append(cargs, "-"+name, v)
		}
	}
	cfg, err := loadConfig(cargs, getenv, stderr)
	if err != nil {
		return err
	}
	if *ttl == 0 && !cfg.JWTAllowNoExp {
		return &configError{errors.New("token: -ttl 0 would mint a token that never expires, which the hub refuses; " +
			"give a lifetime such as -ttl 24h, or set jwt-allow-no-exp (HUBD_JWT_ALLOW_NO_EXP=true) on the hub and here")}
	}

	var key any
	switch {
	case *signingKey != "":
		b, err := os.ReadFile(*signingKey)
		if err != nil {
			return &configError{fmt.Errorf("token: -signing-key: %w", err)}
		}
		if key, err = auth.ParsePrivateKey(b); err != nil {
			return &configError{fmt.Errorf("token: -signing-key %s: %w", *signingKey, err)}
		}
	default:
		ac, err := cfg.authConfig(nil)
		if err != nil {
			return &configError{err}
		}
		if len(ac.Secret) == 0 {
			return &configError{errors.New("token: no jwt-secret is configured (set HUBD_JWT_SECRET, jwt-secret-file or -config), and no -signing-key given")}
		}
		key = ac.Secret
	}
	t := auth.Token{Subject: *subject, Grants: auth.Grants{Publish: publish, Subscribe: subscribe, Admin: *admin},
		TTL: *ttl, NoExpiry: *ttl == 0, Issuer: cfg.JWTIssuer}
	if cfg.JWTAudience != "" {
		t.Audience = []string{cfg.JWTAudience}
	}
	tok, err := auth.Mint(t, key, time.Now())
	if err != nil {
		return &configError{fmt.Errorf("token: %w", err)}
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
