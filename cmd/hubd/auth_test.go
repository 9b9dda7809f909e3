package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
)

const secret32 = "0123456789abcdef0123456789abcdef"

func TestAuthConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "pub.pem")
	secretFile := filepath.Join(dir, "secret")
	for name, data := range map[string][]byte{pubFile: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), secretFile: []byte(secret32 + "\n")} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// With authorization, a public address needs no -insecure-anonymous.
	c, err := loadConfig([]string{"-addr", "0.0.0.0:8080", "-jwt-secret-file", secretFile, "-jwt-public-keys", pubFile,
		"-anonymous-subscribe", "public/**, news/*", "-publish-rate", "2.5"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := c.authConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(ac.Secret) != secret32 || len(ac.PublicKeys) != 1 || strings.Join(ac.AnonymousSubscribe, ",") != "public/**,news/*" || c.PublishRate != 2.5 {
		t.Errorf("auth config: %+v, rate %v", ac, c.PublishRate)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"-addr", "0.0.0.0:8080"}, "no authorization is configured"},
		{[]string{"-anonymous-subscribe", "a/../b"}, `anonymous-subscribe (from flag -anonymous-subscribe): auth: invalid topic pattern: "a/../b"`},
		{[]string{"-jwt-secret", "x", "-jwt-secret-file", secretFile}, "give one or neither"},
		{[]string{"-publish-rate", "-1"}, `publish-rate (from flag -publish-rate): "-1" is not a number`},
	}
	for _, b := range bad {
		_, err := loadConfig(b.args, env(nil), io.Discard)
		var ce *configError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want a config error saying %q", b.args, err, b.want)
		}
	}
	badAuth := []struct {
		args []string
		want string
	}{
		{[]string{"-jwt-secret", "short"}, "secret: 5 bytes, shorter than 32"},
		{[]string{"-jwt-public-keys", filepath.Join(dir, "missing.pem")}, "jwt-public-keys " + filepath.Join(dir, "missing.pem")},
		{[]string{"-jwt-public-keys", secretFile}, "no PEM block found"},
		{[]string{"-publish-keys", "tiny"}, "publish key 0: 4 bytes"},
	}
	for _, b := range badAuth {
		c, err := loadConfig(b.args, env(nil), io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", b.args, err)
		}
		if _, err := c.authConfig(nil); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: %v, want an error saying %q", b.args, err, b.want)
		}
	}
}

// TestTokenCommand mints a token with the built binary and uses it against
// the same binary serving with that secret.
func TestTokenCommand(t *testing.T) {
	bin := buildHubd(t)
	mint := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"token"}, args...)...)
		cmd.Env = append(os.Environ(), "HUBD_JWT_SECRET="+secret32)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", errors.New(err.Error() + ": " + stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	tok, err := mint("-publish", "news/**", "-ttl", "10m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mint(); err == nil || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "give -publish or -subscribe patterns, -admin") {
		t.Errorf("token without patterns: %v", err)
	}

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-log-level", "warn")
	cmd.Env = append(os.Environ(), "HUBD_JWT_SECRET="+secret32)
	_, base := startCmd(t, cmd)
	publish := func(topic, credential string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/topics/"+topic, strings.NewReader("<p>x</p>"))
		req.Header.Set("Content-Type", "text/html")
		if credential != "" {
			req.Header.Set("Authorization", "Bearer "+credential)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		topic, credential string
		want              int
	}{{"news/a", tok, 200}, {"sport", tok, 403}, {"news/a", "", 401}} {
		if got := publish(c.topic, c.credential); got != c.want {
			t.Errorf("publish to %s with %.10q...: %d, want %d", c.topic, c.credential, got, c.want)
		}
	}
}

// TestJWTClaimSettings checks that jwt-issuer, jwt-audience and
// jwt-allow-no-exp come from the file, the environment and the flags, and
// reach auth.Config.
func TestJWTClaimSettings(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "jwt-secret: "+secret32+"\njwt-issuer: https://file.example\njwt-audience: file-aud\njwt-allow-no-exp: true\n")
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		iss, aud string
		noExp    bool
	}{
		{"defaults", []string{"-jwt-secret", secret32}, nil, "", "", false},
		{"file", []string{"-config", file}, nil, "https://file.example", "file-aud", true},
		{"env over file", []string{"-config", file}, map[string]string{"HUBD_JWT_ISSUER": "https://env.example", "HUBD_JWT_AUDIENCE": "env-aud", "HUBD_JWT_ALLOW_NO_EXP": "false"},
			"https://env.example", "env-aud", false},
		{"flags over env", []string{"-config", file, "-jwt-issuer", " https://flag.example ", "-jwt-audience", "flag-aud", "-jwt-allow-no-exp=false"},
			map[string]string{"HUBD_JWT_ISSUER": "https://env.example"}, "https://flag.example", "flag-aud", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			ac, err := c.authConfig(nil)
			if err != nil {
				t.Fatal(err)
			}
			if ac.Issuer != tt.iss || ac.Audience != tt.aud || ac.AllowNoExpiry != tt.noExp {
				t.Errorf("issuer %q, audience %q, allow no exp %v; want %q, %q, %v", ac.Issuer, ac.Audience, ac.AllowNoExpiry, tt.iss, tt.aud, tt.noExp)
			}
		})
	}
	_, err := loadConfig([]string{"-jwt-allow-no-exp=maybe"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "jwt-allow-no-exp (from flag -jwt-allow-no-exp)") {
		t.Errorf("bad boolean: %v", err)
	}
}

// TestTokenClaimsEndToEnd runs the built binary pinned to an issuer and an
// audience: tokens that `hubd token` mints with the same settings publish;
// a token signed with the same secret for another issuer or audience, or
// without exp, gets 401 naming the claim; and -ttl 0 is refused unless the
// hub accepts tokens without exp.
func TestTokenClaimsEndToEnd(t *testing.T) {
	bin := buildHubd(t)
	hubEnv := append(os.Environ(), "HUBD_JWT_SECRET="+secret32, "HUBD_JWT_ISSUER=https://idp.example", "HUBD_JWT_AUDIENCE=hubd")
	hubdToken := func(extraEnv []string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"token"}, args...)...)
		cmd.Env = append(slices.Clone(hubEnv), extraEnv...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", errors.New(err.Error() + ": " + stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	good, err := hubdToken(nil, "-publish", "news/**")
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, err := hubdToken(nil, "-publish", "news/**", "-jwt-issuer", "https://other.example")
	if err != nil {
		t.Fatal(err)
	}
	otherAudience, err := hubdToken([]string{"HUBD_JWT_AUDIENCE=billing"}, "-publish", "news/**")
	if err != nil {
		t.Fatal(err)
	}
	forever, err := auth.Mint(auth.Token{Grants: auth.Grants{Publish: auth.Patterns{"news/**"}}, NoExpiry: true,
		Issuer: "https://idp.example", Audience: []string{"hubd"}}, []byte(secret32), time.Now())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ttl 0", func(t *testing.T) {
		if _, err := hubdToken(nil, "-publish", "news/**", "-ttl", "0"); err == nil ||
			!strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "-ttl 0") {
			t.Errorf("-ttl 0 on a hub that requires exp: %v, want exit status 2 naming -ttl 0", err)
		}
		tok, err := hubdToken([]string{"HUBD_JWT_ALLOW_NO_EXP=true"}, "-publish", "news/**", "-ttl", "0")
		if err != nil {
			t.Fatalf("-ttl 0 with jwt-allow-no-exp: %v", err)
		}
		if p := payloadOf(t, tok); strings.Contains(p, `"exp"`) || !strings.Contains(p, `"iss":"https://idp.example"`) {
			t.Errorf("-ttl 0 token claims %s, want iss and no exp", p)
		}
	})

	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-log-level", "warn")
	cmd.Env = hubEnv
	_, base := startCmd(t, cmd)
	tests := []struct {
		name, token string
		status      int
		says        string
	}{
		{"minted by hubd token", good, 200, ""},
		{"other issuer", otherIssuer, 401, `claim iss "https://other.example": want "https://idp.example"`},
		{"other audience", otherAudience, 401, `claim aud ["billing"]: want one to be "hubd"`},
		{"no exp", forever, 401, "claim exp: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/topics/news/a", strings.NewReader("<p>x</p>"))
			req.Header.Set("Content-Type", "text/html")
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Error, Field string }
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(body.Error, tt.says) {
				t.Errorf("publish: %d %+v, want %d saying %q", resp.StatusCode, body, tt.status, tt.says)
			}
		})
	}
}

// payloadOf returns the JSON payload of a token.
func payloadOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
