// Package auth decides who may publish to and subscribe to which topics.
//
// Bearers present JSON Web Tokens whose "hubd" claim lists the topic
// patterns they may publish to and subscribe to; tokens are verified with
// an HMAC secret, public keys (RSA, ECDSA or Ed25519) and keys fetched from
// a JWKS URL, each algorithm only with a key of its own kind, so that a
// token signed with "none" or with a public key used as an HMAC secret is
// refused. A token must carry exp (unless the hub allows tokens that never
// expire) and, when the hub pins them, the expected iss and aud, so that a
// token another service minted with a shared key is not taken for one of
// the hub's. Publishers may instead present a static API key. Topics that
// anyone may subscribe to without a token are listed by pattern.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults for Config's zero values.
const (
	// DefaultLeeway is the clock skew allowed when checking exp and nbf.
	DefaultLeeway = 30 * time.Second
	// DefaultJWKSRefresh is how often keys are fetched again from the
	// JWKS URL (a token with an unknown key ID also triggers a fetch, at
	// most every few minutes).
	DefaultJWKSRefresh = 10 * time.Minute
	// MinSecretLength is the shortest HMAC secret and API key accepted,
	// in bytes: a short one can be guessed offline from one token.
	MinSecretLength = 32
	// MinKeyLength is the shortest publisher API key accepted, in bytes.
	MinKeyLength = 24
)

// Errors of authorization. Each error returned wraps one of them.
var (
	// ErrNoCredential: the request carries no token or key.
	ErrNoCredential = errors.New("auth: no credential")
	// ErrInvalidToken: the token is malformed, forged, expired, not yet
	// valid, or signed with an algorithm or key that is not accepted.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrForbidden: the credential is valid but does not grant the topic.
	ErrForbidden = errors.New("auth: forbidden")
)

// Grants are the topic patterns a token allows, its "hubd" claim, and
// the shape of an auth-request answer.
type Grants struct {
	Publish   Patterns `json:"publish,omitempty"`
	Subscribe Patterns `json:"subscribe,omitempty"`
	// Admin lets the bearer use the operator's endpoints, such as
	// POST /streams/disconnect.
	Admin bool `json:"admin,omitempty"`
}

// Validate returns an error naming every invalid pattern of g.
func (g Grants) Validate() error {
	var errs []error
	if err := g.Publish.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("publish: %w", err))
	}
	if err := g.Subscribe.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("subscribe: %w", err))
	}
	return errors.Join(errs...)
}

// Claims are the claims of a hubd token: the registered ones (exp, nbf,
// and iss and aud when the hub pins them, are enforced) and the grants.
type Claims struct {
	jwt.RegisteredClaims
	Hubd Grants `json:"hubd"`
	// Mercure and AuthorizationDetails are the Mercure protocol's grants,
	// the older "mercure" claim and RFC 9396 "authorization_details", as
	// the token holds them (nil when absent): package mercure reads them.
	// Parse verifies the token that carries them, not their content.
	Mercure              json.RawMessage `json:"mercure,omitempty"`
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

// Config sets up an Authorizer. Its zero value turns authorization off.
type Config struct {
	// Secret verifies HS256, HS384 and HS512 tokens; at least
	// MinSecretLength bytes.
	Secret []byte
	// PublicKeys verify RS*, PS*, ES* and EdDSA tokens, each algorithm with
	// keys of its own kind (see ParsePublicKeys).
	PublicKeys []crypto.PublicKey
	// JWKSURL is a JSON Web Key Set fetched at start and refreshed; its
	// keys verify tokens as PublicKeys do, chosen by the token's kid.
	JWKSURL string
	// JWKSRefresh is how often the JWKS is fetched again
	// (DefaultJWKSRefresh if zero).
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS (http.DefaultClient if nil).
	HTTPClient *http.Client
	// Leeway is the clock skew allowed for exp and nbf (DefaultLeeway if
	// zero).
	Leeway time.Duration
	// Issuer, if not empty, is the only iss claim accepted: a token that
	// another service signed with a shared secret or key, or one without
	// iss, is refused.
	Issuer string
	// Audience, if not empty, must be one of a token's aud claim values:
	// a token meant for another service, or one without aud, is refused.
	Audience string
	// AllowNoExpiry accepts tokens without an exp claim, which never
	// expire and so can never be revoked short of changing the key. By
	// default such tokens are refused.
	AllowNoExpiry bool
	// PublishKeys are static API keys that may publish to any topic; each
	// at least MinKeyLength bytes.
	PublishKeys []string
	// AdminKeys are static API keys that may use the operator's
	// endpoints (POST /streams/disconnect); each at least MinKeyLength
	// bytes. They grant no topic.
	AdminKeys []string
	// AnonymousSubscribe are the topic patterns anyone may subscribe to
	// without a token. They never grant private events.
	AnonymousSubscribe Patterns
	// Logger receives JWKS refresh failures; nil discards them.
	Logger *slog.Logger
}

// Enabled reports whether c configures any credential. Without one, every
// request is allowed (hubd then serves loopback only, unless told
// otherwise).
func (c Config) Enabled() bool {
	return len(c.Secret) > 0 || len(c.PublicKeys) > 0 || c.JWKSURL != "" || len(c.PublishKeys) > 0
}

// Validate returns every invalid field of c at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Secret) > 0 && len(c.Secret) < MinSecretLength {
		errs = append(errs, fmt.Errorf("secret: %d bytes, shorter than %d", len(c.Secret), MinSecretLength))
	}
	for i, k := range c.PublicKeys {
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			errs = append(errs, fmt.Errorf("public key %d: %T is not an RSA, ECDSA or Ed25519 key", i, k))
		}
	}
	if c.JWKSURL != "" && !strings.HasPrefix(c.JWKSURL, "https://") && !strings.HasPrefix(c.JWKSURL, "http://") {
		errs = append(errs, fmt.Errorf("JWKS URL %q: want an http:// or https:// URL", c.JWKSURL))
	}
	for i, k := range c.PublishKeys {
		if len(k) < MinKeyLength {
			errs = append(errs, fmt.Errorf("publish key %d: %d bytes, shorter than %d", i, len(k), MinKeyLength))
		}
	}
	for i, k := range c.AdminKeys {
		if len(k) < MinKeyLength {
			errs = append(errs, fmt.Errorf("admin key %d: %d bytes, shorter than %d", i, len(k), MinKeyLength))
		}
	}
	if err := c.AnonymousSubscribe.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("anonymous subscribe patterns: %w", err))
	}
	if c.Leeway < 0 {
		errs = append(errs, fmt.Errorf("leeway %v: must not be negative", c.Leeway))
	}
	if c.JWKSRefresh < 0 {
		errs = append(errs, fmt.Errorf("JWKS refresh %v: must not be negative", c.JWKSRefresh))
	}
	return errors.Join(errs...)
}

// Authorizer verifies credentials. Its methods are safe for concurrent use.
type Authorizer struct {
	cfg       Config
	keySums   [][sha256.Size]byte // of cfg.PublishKeys, compared in constant time
	adminSums [][sha256.Size]byte // of cfg.AdminKeys, likewise
	parser    *jwt.Parser
	jwks      keyfunc.Keyfunc // nil without a JWKS URL
	ctx       context.Context
	methods   []string
}

// New returns an Authorizer for cfg. With a JWKS URL it fetches the keys
// in the background until ctx ends; a failed fetch is logged and retried,
// and tokens that need its keys are refused meanwhile.
func New(ctx context.Context, cfg Config) (*Authorizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.JWKSRefresh == 0 {
		cfg.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{cfg: cfg, ctx: ctx}
	for _, k := range cfg.PublishKeys {
		a.keySums = append(a.keySums, sha256.Sum256([]byte(k)))
	}
	for _, k := range cfg.AdminKeys {
		a.adminSums = append(a.adminSums, sha256.Sum256([]byte(k)))
	}
	if len(cfg.Secret) > 0 {
		a.methods = append(a.methods, "HS256", "HS384", "HS512")
	}
	if len(cfg.PublicKeys) > 0 || cfg.JWKSURL != "" {
		a.methods = append(a.methods, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
	}
	if cfg.JWKSURL != "" {
		noError := true // a JWKS that is down at start is retried, not fatal
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:          cfg.HTTPClient,
			HTTPTimeout:     10 * time.Second,
			RefreshInterval: cfg.JWKSRefresh,
			// A token with an unknown kid fetches the set again at most
			// every 30 s; meanwhile such tokens are refused at once rather
			// than held waiting for the limiter.
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(30*time.Second), 1),
			RateLimitWaitMax:          5 * time.Second,
			NoErrorReturnFirstHTTPReq: &noError,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					cfg.Logger.LogAttrs(ctx, slog.LevelError, "refresh JWKS", slog.String("url", u), slog.Any("err", err))
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS %s: %w", cfg.JWKSURL, err)
		}
		a.jwks = k
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(a.methods), jwt.WithLeeway(cfg.Leeway), jwt.WithStrictDecoding()}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if !cfg.AllowNoExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// Enabled reports whether any credential is configured; a nil Authorizer
// is disabled.
func (a *Authorizer) Enabled() bool { return a != nil && a.cfg.Enabled() }

// Expiry is when a stream admitted by claims must end: when the hub
// stops accepting the token (its exp plus the leeway), or the zero time
// for a token without exp.
func (a *Authorizer) Expiry(claims *Claims) time.Time {
	if claims.ExpiresAt == nil {
		return time.Time{}
	}
	return claims.ExpiresAt.Add(a.cfg.Leeway)
}

// AnonymousSubscribe reports whether anyone may subscribe to topic; a
// nil Authorizer opens none.
func (a *Authorizer) AnonymousSubscribe(topic string) bool {
	return a != nil && a.cfg.AnonymousSubscribe.Allows(topic)
}

// Parse verifies a token and returns its claims. It refuses a token whose
// signature does not verify, that has expired or is not valid yet (nbf),
// that has no exp unless Config.AllowNoExpiry, whose iss is not
// Config.Issuer or whose aud does not hold Config.Audience (when those are
// set). The error wraps ErrInvalidToken and says what is wrong, naming
// each claim at fault. A nil Authorizer accepts no token.
func (a *Authorizer) Parse(token string) (*Claims, error) {
	if !a.AcceptsTokens() {
		return nil, fmt.Errorf("%w: this hub accepts no tokens, only publish keys", ErrInvalidToken)
	}
	claims := &Claims{}
	if _, err := a.parser.ParseWithClaims(token, claims, a.key); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, a.tokenReason(err, claims))
	}
	if err := claims.Hubd.Validate(); err != nil {
		return nil, fmt.Errorf("%w: claim hubd.%w", ErrInvalidToken, err)
	}
	return claims, nil
}

// tokenReason is the part of a jwt error worth telling the client. When
// the signature verified and only claims failed, claims are the token's
// own, and each claim at fault is named with what was wanted (the issuer
// and audience a hub expects are not secret: its tokens carry them).
func (a *Authorizer) tokenReason(err error, claims *Claims) string {
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return err.Error()
	}
	var reasons []string
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		reasons = append(reasons, "expired")
	case claims.ExpiresAt == nil && !a.cfg.AllowNoExpiry:
		reasons = append(reasons, "claim exp: missing (this hub accepts only tokens that expire)")
	}
	if errors.Is(err, jwt.ErrTokenNotValidYet) {
		reasons = append(reasons, "not valid yet (nbf)")
	}
	if want := a.cfg.Issuer; want != "" && claims.Issuer != want {
		if claims.Issuer == "" {
			reasons = append(reasons, fmt.Sprintf("claim iss: missing, want %q", want))
		} else {
			reasons = append(reasons, fmt.Sprintf("claim iss %q: want %q", claims.Issuer, want))
		}
	}
	if want := a.cfg.Audience; want != "" && !slices.Contains(claims.Audience, want) {
		if len(claims.Audience) == 0 {
			reasons = append(reasons, fmt.Sprintf("claim aud: missing, want %q", want))
		} else {
			reasons = append(reasons, fmt.Sprintf("claim aud %q: want one to be %q", []string(claims.Audience), want))
		}
	}
	if len(reasons) == 0 {
		return err.Error() // a claim of the wrong type, say
	}
	return strings.Join(reasons, "; ")
}

// key chooses the keys that may verify t: only keys of the kind its
// algorithm needs, so that an RSA public key is never taken as an HMAC
// secret.
func (a *Authorizer) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if strings.HasPrefix(alg, "HS") {
		return a.cfg.Secret, nil // the parser allows HS* only with a secret
	}
	fits := func(k any) bool {
		switch k.(type) {
		case *rsa.PublicKey:
			return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
		case *ecdsa.PublicKey:
			return strings.HasPrefix(alg, "ES")
		case ed25519.PublicKey:
			return alg == "EdDSA"
		}
		return false
	}
	var set jwt.VerificationKeySet
	for _, k := range a.cfg.PublicKeys {
		if fits(k) {
			set.Keys = append(set.Keys, k)
		}
	}
	if a.jwks != nil {
		if _, hasKID := t.Header["kid"]; hasKID {
			k, err := a.jwks.KeyfuncCtx(a.ctx)(t)
			if err == nil && fits(k) {
				set.Keys = append(set.Keys, k)
			}
		} else if all, err := a.jwks.VerificationKeySet(a.ctx); err == nil {
			for _, k := range all.Keys {
				if fits(k) {
					set.Keys = append(set.Keys, k)
				}
			}
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no %s key is configured", alg)
	}
	return set, nil
}

// PublishKey reports whether key is one of the static publisher keys, in
// time that does not depend on where a wrong key differs; a nil
// Authorizer has none.
func (a *Authorizer) PublishKey(key string) bool { return a != nil && oneOf(a.keySums, key) }

// AdminKey reports whether key is one of the static admin keys
// (Config.AdminKeys), as PublishKey does; a nil Authorizer has none.
func (a *Authorizer) AdminKey(key string) bool { return a != nil && oneOf(a.adminSums, key) }

// AcceptsTokens reports whether a can verify any token: a secret or
// public keys are configured.
func (a *Authorizer) AcceptsTokens() bool { return a != nil && len(a.methods) > 0 }

// oneOf reports whether key's SHA-256 is one of sums, comparing with each
// in constant time.
func oneOf(sums [][sha256.Size]byte, key string) bool {
	sum := sha256.Sum256([]byte(key))
	found := 0
	for _, ks := range sums {
		found |= subtle.ConstantTimeCompare(sum[:], ks[:])
	}
	return found == 1
}

// Fingerprint names a credential without revealing it, for rate limits
// and logs: the first 16 hex digits of its SHA-256.
func Fingerprint(credential string) string {
	sum := sha256.Sum256([]byte(credential))
	return hex.EncodeToString(sum[:8])
}

// ParsePublicKeys reads every public key in PEM data: "PUBLIC KEY"
// (PKIX: RSA, ECDSA or Ed25519), "RSA PUBLIC KEY" (PKCS #1) and
// "CERTIFICATE" blocks. It is an error if data holds none.
func ParsePublicKeys(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var k any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			err = fmt.Errorf("a %q block is not a public key or certificate", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}
