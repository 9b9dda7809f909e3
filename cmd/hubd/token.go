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
// or -jwt-secret-file), or with the private key of -signing-key.
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
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token (0: no expiry)")
	subject := fs.String("subject", "hubd-token", "the sub claim: who the token is for")
	signingKey := fs.String("signing-key", "", "PEM private key (RSA, ECDSA or Ed25519) to sign with instead of the HMAC secret")
	configFile := fs.String("config", getenv("HUBD_CONFIG"), "hubd configuration file whose jwt-secret signs the token")
	secretFile := fs.String("jwt-secret-file", "", "file holding the HMAC secret (else jwt-secret of the configuration)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hubd token [flags]\n\nPrints a signed token granting the given topic patterns.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &configError{err}
	}
	if len(publish) == 0 && len(subscribe) == 0 {
		return &configError{errors.New("token: give -publish or -subscribe patterns, or both")}
	}
	if *ttl < 0 {
		return &configError{fmt.Errorf("token: -ttl %v is negative", *ttl)}
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
		var cargs []string
		if *configFile != "" {
			cargs = []string{"-config", *configFile}
		}
		if *secretFile != "" {
			cargs = append(cargs, "-jwt-secret-file", *secretFile)
		}
		cfg, err := loadConfig(cargs, getenv, stderr)
		if err != nil {
			return err
		}
		ac, err := cfg.authConfig(nil)
		if err != nil {
			return &configError{err}
		}
		if len(ac.Secret) == 0 {
			return &configError{errors.New("token: no jwt-secret is configured (set HUBD_JWT_SECRET, jwt-secret-file or -config), and no -signing-key given")}
		}
		key = ac.Secret
	}
	tok, err := auth.Mint(auth.Token{Subject: *subject, Grants: auth.Grants{Publish: publish, Subscribe: subscribe}, TTL: *ttl}, key, time.Now())
	if err != nil {
		return &configError{fmt.Errorf("token: %w", err)}
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
