package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubd-dev/hubd/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

var grants = auth.Grants{Publish: auth.Patterns{"news/**"}, Subscribe: auth.Patterns{"news/*", "chat"}}

func newAuthorizer(t testing.TB, cfg auth.Config) *auth.Authorizer {
	t.Helper()
	a, err := auth.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mint(t testing.TB, key any, tok auth.Token, now time.Time) string {
	t.Helper()
	s, err := auth.Mint(tok, key, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type keyPair struct {
	name    string
	private crypto.Signer
}

func keyPairs(t *testing.T) []keyPair {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []keyPair{{"RS256", rk}, {"ES256", ek}, {"EdDSA", edk}}
}

func pemPublic(t testing.TB, k crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestParseEachAlgorithm(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tok := auth.Token{Subject: "svc", Grants: grants, TTL: time.Hour}

	a := newAuthorizer(t, auth.Config{Secret: secret})
	c, err := a.Parse(mint(t, secret, tok, now))
	if err != nil {
		t.Fatalf("HS256: %v", err)
	}
	if c.Subject != "svc" || !c.Hubd.Publish.Allows("news/a/b") || c.Hubd.Subscribe.Allows("news/a/b") || !c.Hubd.Subscribe.Allows("chat") {
		t.Errorf("HS256 claims = %+v", c)
	}

	for _, kp := range keyPairs(t) {
		keys, err := auth.ParsePublicKeys(pemPublic(t, kp.private.Public()))
		if err != nil {
			t.Fatal(err)
		}
		a := newAuthorizer(t, auth.Config{PublicKeys: keys})
		signed := mint(t, kp.private, tok, now)
		if alg := header(t, signed)["alg"]; alg != kp.name {
			t.Errorf("minted alg %v, want %s", alg, kp.name)
		}
		if _, err := a.Parse(signed); err != nil {
			t.Errorf("%s: %v", kp.name, err)
		}
		// The other kinds of key do not verify it.
		if _, err := newAuthorizer(t, auth.Config{Secret: secret}).Parse(signed); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s token with only a secret configured: %v", kp.name, err)
		}
	}
}

func header(t testing.TB, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// forge signs claims with any method and key, as an attacker would.
func forge(t testing.TB, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pemPublic(t, &rk.PublicKey)
	keys, err := auth.ParsePublicKeys(rsaPEM)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthorizer(t, auth.Config{Secret: secret, PublicKeys: keys, Leeway: 5 * time.Second})
	now := time.Now()
	claims := func(mod func(*auth.Claims)) auth.Claims {
		c := auth.Claims{Hubd: grants}
		c.ExpiresAt = jwt.NewNumericDate(now.Add(time.Hour))
		if mod != nil {
			mod(&c)
		}
		return c
	}
	valid := forge(t, jwt.SigningMethodHS256, claims(nil), secret)
	parts := strings.Split(valid, ".")
	otherClaims, _ := json.Marshal(claims(func(c *auth.Claims) { c.Hubd.Publish = auth.Patterns{"**"} }))

	cases := map[string]struct {
		token, reason string
	}{
		"expired": {forge(t, jwt.SigningMethodHS256, claims(func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
		}), secret), "expired"},
		"not yet valid": {forge(t, jwt.SigningMethodHS256, claims(func(c *auth.Claims) {
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
		}), secret), "not valid yet"},
		"wrong secret": {forge(t, jwt.SigningMethodHS256, claims(nil), []byte("another secret of thirty-two bytes!!")), "signature is invalid"},
		"alg none":     {forge(t, jwt.SigningMethodNone, claims(nil), jwt.UnsafeAllowNoneSignatureType), "signing method none is invalid"},
		// The RSA public key, which is not secret, used as an HMAC secret.
		"algorithm confusion": {forge(t, jwt.SigningMethodHS256, claims(nil), rsaPEM), "signature is invalid"},
		"unlisted algorithm":  {withAlg("HS1"), "signing method (alg) is unavailable"},
		"tampered claims":     {parts[0] + "." + base64.RawURLEncoding.EncodeToString(otherClaims) + "." + parts[2], "signature is invalid"},
		"garbage":             {"not.a.token", "malformed"},
		"empty":               {"", "malformed"},
		"bad pattern in claim": {forge(t, jwt.SigningMethodHS256, claims(func(c *auth.Claims) {
			c.Hubd.Subscribe = auth.Patterns{"news/../admin"}
		}), secret), `claim hubd.subscribe: [0]: auth: invalid topic pattern: "news/../admin" has a ".." segment`},
	}
	for name, c := range cases {
		_, err := a.Parse(c.token)
		if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: Parse = %v, want ErrInvalidToken saying %q", name, err, c.reason)
		}
	}

	// Within the leeway, exp and nbf still pass.
	late := forge(t, jwt.SigningMethodHS256, claims(func(c *auth.Claims) {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(-2 * time.Second))
		c.NotBefore = jwt.NewNumericDate(now.Add(2 * time.Second))
	}), secret)
	if _, err := a.Parse(late); err != nil {
		t.Errorf("token 2 s past exp and before nbf, leeway 5 s: %v", err)
	}
}

// withAlg returns a token whose header names alg, with a valid-looking
// payload and signature.
func withAlg(alg string) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"hubd":{}}`))
	return h + "." + p + ".c2ln"
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, y := ek.X.FillBytes(make([]byte, 32)), ek.Y.FillBytes(make([]byte, 32))
	set := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y),
	}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	a, err := auth.New(ctx, auth.Config{JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	claims := auth.Claims{Hubd: grants}
	claims.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	withKID := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(ek)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := a.Parse(withKID("k1")); err != nil {
		t.Errorf("token with the JWKS key k1: %v", err)
	}
	if _, err := a.Parse(mint(t, ek, auth.Token{Grants: grants, TTL: time.Hour}, time.Now())); err != nil {
		t.Errorf("token without kid, verified by the set: %v", err)
	}
	if _, err := a.Parse(withKID("k2")); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("token with an unknown kid: %v, want ErrInvalidToken", err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	forged.Header["kid"] = "k1"
	s, err := forged.SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Parse(s); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("token claiming k1, signed by another key: %v, want ErrInvalidToken", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	err := auth.Config{
		Secret:             []byte("short"),
		PublishKeys:        []string{"tiny"},
		JWKSURL:            "ftp://x",
		AnonymousSubscribe: auth.Patterns{"a//b"},
		Leeway:             -1,
	}.Validate()
	for _, want := range []string{"secret: 5 bytes", "publish key 0: 4 bytes", `JWKS URL "ftp://x"`, "anonymous subscribe patterns: [0]", "leeway -1ns"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
	if (auth.Config{}).Enabled() {
		t.Error("zero Config is enabled")
	}
}

func TestPublishKey(t *testing.T) {
	t.Parallel()
	key := "pk_0123456789abcdefghijklmnop"
	a := newAuthorizer(t, auth.Config{PublishKeys: []string{"pk_other-key-of-enough-length", key}})
	if !a.PublishKey(key) {
		t.Error("configured key refused")
	}
	for _, k := range []string{"", key[:len(key)-1], key + "x", strings.ToUpper(key)} {
		if a.PublishKey(k) {
			t.Errorf("key %q accepted", k)
		}
	}
	if _, err := a.Parse(mint(t, secret, auth.Token{TTL: time.Hour}, time.Now())); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("a token on a hub with keys only: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	a := newAuthorizer(f, auth.Config{Secret: secret})
	valid := mint(f, secret, auth.Token{Subject: "s", Grants: grants, TTL: time.Hour}, time.Now())
	want, err := a.Parse(valid)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(withAlg("none"))
	f.Add(valid + "=")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := a.Parse(token)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalidToken", token, err)
			}
			return
		}
		// Only our own signature is accepted, so what is accepted says
		// exactly what we signed.
		if c.Subject != want.Subject || !equal(c.Hubd, want.Hubd) {
			t.Fatalf("Parse(%q) accepted claims %+v, not the signed %+v", token, c, want)
		}
	})
}

func equal(a, b auth.Grants) bool {
	return strings.Join(a.Publish, ",") == strings.Join(b.Publish, ",") &&
		strings.Join(a.Subscribe, ",") == strings.Join(b.Subscribe, ",")
}

// TestParseIssuerAudience checks that a hub that pins its issuer and
// audience refuses tokens signed with the same key for another service,
// naming the claim at fault, and that a hub that pins neither accepts them.
func TestParseIssuerAudience(t *testing.T) {
	t.Parallel()
	const iss, aud = "https://idp.example", "hubd"
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPublic, err := auth.ParsePublicKeys(pemPublic(t, edKey.Public()))
	if err != nil {
		t.Fatal(err)
	}
	signers := []struct {
		name string
		key  any
		cfg  auth.Config
	}{
		{"HS256", secret, auth.Config{Secret: secret}},
		{"EdDSA", edKey, auth.Config{PublicKeys: edPublic}},
	}
	tests := []struct {
		name     string
		iss      string
		aud      []string
		want     []string // what the error says; none: accepted
		unpinned bool     // whether a hub that pins nothing refuses it too
	}{
		{name: "both right", iss: iss, aud: []string{aud}},
		{name: "audience among others", iss: iss, aud: []string{"billing", aud}},
		{name: "other issuer", iss: "https://other.example", aud: []string{aud},
			want: []string{`claim iss "https://other.example": want "https://idp.example"`}},
		{name: "issuer differs in case", iss: "https://IDP.example", aud: []string{aud},
			want: []string{`claim iss "https://IDP.example"`}},
		{name: "no issuer", aud: []string{aud}, want: []string{`claim iss: missing, want "https://idp.example"`}},
		{name: "other audience", iss: iss, aud: []string{"billing"},
			want: []string{`claim aud ["billing"]: want one to be "hubd"`}},
		{name: "no audience", iss: iss, want: []string{`claim aud: missing, want "hubd"`}},
		{name: "both wrong", iss: "svc-b", aud: []string{"svc-c"},
			want: []string{`claim iss "svc-b"`, `claim aud ["svc-c"]`}},
	}
	now := time.Now()
	for _, s := range signers {
		pinned := s.cfg
		pinned.Issuer, pinned.Audience = iss, aud
		strict, open := newAuthorizer(t, pinned), newAuthorizer(t, s.cfg)
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				tok := mint(t, s.key, auth.Token{Subject: "svc", Grants: grants, TTL: time.Hour, Issuer: tt.iss, Audience: tt.aud}, now)
				c, err := strict.Parse(tok)
				if len(tt.want) == 0 {
					if err != nil {
						t.Fatalf("Parse: %v", err)
					}
					if c.Issuer != tt.iss || !slices.Equal(c.Audience, tt.aud) {
						t.Errorf("claims iss %q aud %q, want %q %q", c.Issuer, c.Audience, tt.iss, tt.aud)
					}
				} else {
					if !errors.Is(err, auth.ErrInvalidToken) {
						t.Fatalf("Parse = %v, want ErrInvalidToken", err)
					}
					for _, w := range tt.want {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q does not say %q", err, w)
						}
					}
				}
				if _, err := open.Parse(tok); err != nil {
					t.Errorf("a hub that pins no issuer or audience: %v", err)
				}
			})
		}
	}
}

// TestParseExpiry checks that a token without exp is refused unless the
// hub allows such tokens, and that expiry is enforced either way.
func TestParseExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	forever := mint(t, secret, auth.Token{Grants: grants, NoExpiry: true}, now)
	// A token without exp signed by another tool, with iat and nbf set.
	bare := forge(t, jwt.SigningMethodHS256, auth.Claims{Hubd: grants, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now)}}, secret)
	hour := mint(t, secret, auth.Token{Grants: grants, TTL: time.Hour}, now)
	expired := mint(t, secret, auth.Token{Grants: grants, TTL: -time.Hour}, now)
	tests := []struct {
		name  string
		cfg   auth.Config
		token string
		want  string // what the error says; empty: accepted
	}{
		{"no exp, default", auth.Config{Secret: secret}, forever, "claim exp: missing"},
		{"no exp from another tool, default", auth.Config{Secret: secret}, bare, "claim exp: missing"},
		{"no exp, allowed", auth.Config{Secret: secret, AllowNoExpiry: true}, forever, ""},
		{"no exp from another tool, allowed", auth.Config{Secret: secret, AllowNoExpiry: true}, bare, ""},
		{"exp in an hour", auth.Config{Secret: secret}, hour, ""},
		{"expired", auth.Config{Secret: secret}, expired, "expired"},
		{"expired, no exp allowed", auth.Config{Secret: secret, AllowNoExpiry: true}, expired, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newAuthorizer(t, tt.cfg).Parse(tt.token)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case tt.want != "" && (!errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Parse = %v, want ErrInvalidToken saying %q", err, tt.want)
			}
		})
	}
}

// TestParseRefusesDatesThatAreNotNumbers checks that exp, nbf and iat
// must be JSON numbers, as RFC 7519 makes a NumericDate: one written as a
// string, even of digits, is refused with the claim named, while the same
// dates as numbers are accepted.
func TestParseRefusesDatesThatAreNotNumbers(t *testing.T) {
	t.Parallel()
	a := newAuthorizer(t, auth.Config{Secret: secret})
	// Signed by hand: the JWT library writes dates only as numbers.
	sign := func(payload string) string {
		enc := base64.RawURLEncoding
		in := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
		sig, err := jwt.SigningMethodHS256.Sign(in, secret)
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + enc.EncodeToString(sig)
	}
	const grant = `"hubd":{"publish":["**"]}`
	tests := []struct {
		name, payload string
		want          string // what the error says; empty: accepted
	}{
		{"numbers", `{"exp":4102444800,"nbf":1000000000,"iat":1000000000,` + grant + `}`, ""},
		{"exp as a string", `{"exp":"4102444800",` + grant + `}`, `claim exp: "4102444800" is not a NumericDate`},
		{"nbf as a string", `{"exp":4102444800,"nbf":"1000000000",` + grant + `}`, `claim nbf: "1000000000" is not a NumericDate`},
		{"iat as a string", `{"exp":4102444800,"iat":"1000000000",` + grant + `}`, `claim iat: "1000000000" is not a NumericDate`},
		{"exp as a boolean", `{"exp":true,` + grant + `}`, "claim exp: true is not a NumericDate"},
		{"exp as an object", `{"exp":{"n":4102444800},` + grant + `}`, "claim exp: {"},
		{"exp null", `{"exp":null,` + grant + `}`, "claim exp: null is not a NumericDate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims, err := a.Parse(sign(tt.payload))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case tt.want == "" && (claims.ExpiresAt == nil || claims.ExpiresAt.Unix() != 4102444800):
				t.Errorf("exp = %v, want 4102444800", claims.ExpiresAt)
			case tt.want != "" && (!errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Parse = %v, want ErrInvalidToken saying %q", err, tt.want)
			}
		})
	}
}

// TestMintClaims checks what Mint writes and what it refuses.
func TestMintClaims(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tok := mint(t, secret, auth.Token{Subject: "svc", Grants: grants, TTL: 90 * time.Second, ID: "j1",
		Issuer: "https://idp.example", Audience: []string{"hubd", "other"}}, now)
	var got map[string]any
	if err := json.Unmarshal([]byte(payload(t, tok)), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sub": "svc", "jti": "j1", "iss": "https://idp.example", "aud": []any{"hubd", "other"},
		"iat": float64(now.Unix()), "exp": float64(now.Unix() + 90)}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("claim %s = %v, want %v", k, got[k], v)
		}
	}
	if forever := mint(t, secret, auth.Token{Grants: grants, NoExpiry: true}, now); strings.Contains(payload(t, forever), `"exp"`) {
		t.Errorf("NoExpiry token has exp: %s", payload(t, forever))
	}

	bad := []struct {
		name string
		tok  auth.Token
		want string
	}{
		{"zero TTL", auth.Token{Grants: grants}, "TTL: zero"},
		{"TTL with NoExpiry", auth.Token{Grants: grants, TTL: time.Hour, NoExpiry: true}, "TTL 1h0m0s with NoExpiry"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.Mint(b.tok, secret, now); err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("Mint = %v, want an error saying %q", err, b.want)
			}
		})
	}
}

// payload decodes the claims part of token.
func payload(t testing.TB, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
