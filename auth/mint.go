package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token describes a token to mint.
type Token struct {
	Subject string
	Grants  Grants
	// TTL sets exp to the issue time plus TTL (a negative TTL mints a token
	// that has already expired). Zero is refused unless NoExpiry is set.
	TTL time.Duration
	// NoExpiry mints a token without exp, which only a hub whose Config
	// has AllowNoExpiry accepts; TTL must then be zero.
	NoExpiry bool
	ID       string   // the jti claim, if not empty
	Issuer   string   // the iss claim, if not empty
	Audience []string // the aud claim, if not empty
}

// Mint signs t with key, which is an HMAC secret ([]byte, signed HS256) or
// a private key from ParsePrivateKey (RS256, ES256/384/512 by curve, or
// EdDSA). now is the issue time. A token always gets an exp unless
// t.NoExpiry says otherwise; the error names the field at fault.
func Mint(t Token, key any, now time.Time) (string, error) {
	if err := t.Grants.Publish.Validate(); err != nil {
		return "", fmt.Errorf("publish patterns: %w", err)
	}
	if err := t.Grants.Subscribe.Validate(); err != nil {
		return "", fmt.Errorf("subscribe patterns: %w", err)
	}
	var method jwt.SigningMethod
	switch k := key.(type) {
	case []byte:
		if len(k) < MinSecretLength {
			return "", fmt.Errorf("secret: %d bytes, shorter than %d", len(k), MinSecretLength)
		}
		method = jwt.SigningMethodHS256
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 256:
			method = jwt.SigningMethodES256
		case 384:
			method = jwt.SigningMethodES384
		case 521:
			method = jwt.SigningMethodES512
		default:
			return "", fmt.Errorf("ECDSA curve %s: want P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	default:
		return "", fmt.Errorf("key of type %T: want an HMAC secret or an RSA, ECDSA or Ed25519 private key", key)
	}
	switch {
	case t.NoExpiry && t.TTL != 0:
		return "", fmt.Errorf("TTL %v with NoExpiry: give one or the other", t.TTL)
	case !t.NoExpiry && t.TTL == 0:
		return "", errors.New("TTL: zero; give the token a lifetime, or set NoExpiry for one that never expires")
	}
	c := Claims{Hubd: t.Grants}
	c.Subject, c.ID, c.Issuer = t.Subject, t.ID, t.Issuer
	if len(t.Audience) > 0 {
		c.Audience = jwt.ClaimStrings(t.Audience)
	}
	c.IssuedAt = jwt.NewNumericDate(now)
	if !t.NoExpiry {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(t.TTL))
	}
	return jwt.NewWithClaims(method, c).SignedString(key)
}

// ParsePrivateKey reads the first private key in PEM data: "PRIVATE KEY"
// (PKCS #8), "RSA PRIVATE KEY" (PKCS #1) or "EC PRIVATE KEY" (SEC 1).
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a %q block is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}
