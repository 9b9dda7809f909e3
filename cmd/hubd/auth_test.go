package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	if _, err := mint(); err == nil || !strings.Contains(err.Error(), "exit status 2") || !strings.Contains(err.Error(), "give -publish or -subscribe") {
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
