package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hubd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.HistorySize != 10000 || c.Heartbeat != 15*time.Second || c.ShutdownGrace != DefaultShutdownGrace ||
		c.LogLevel != slog.LevelInfo || c.LogFormat != "auto" || c.Compression != nil || c.ClientBuffer != 128 {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestConfigPrecedence checks flag > environment > file > default, setting
// by setting.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "addr: 127.0.0.1:1001\nheartbeat: 20s\nhistory-size: 5\ncompression: [zstd, gzip]\nlog-level: debug\n")
	c, err := loadConfig([]string{"-config", file, "-addr", "127.0.0.1:1003"}, env(map[string]string{
		"HUBD_ADDR": "127.0.0.1:1002", "HUBD_HEARTBEAT": "30s",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:1003" {
		t.Errorf("addr %s: the flag should win", c.Addr)
	}
	if c.Heartbeat != 30*time.Second {
		t.Errorf("heartbeat %v: the environment should win over the file", c.Heartbeat)
	}
	if c.HistorySize != 5 || c.LogLevel != slog.LevelDebug {
		t.Errorf("history-size %d, log-level %v: the file should win over the defaults", c.HistorySize, c.LogLevel)
	}
	if len(c.Compression) != 2 || c.Compression[0] != sse.Zstd || c.Compression[1] != sse.Gzip {
		t.Errorf("compression %v from a YAML list", c.Compression)
	}
	// HUBD_CONFIG names the file too.
	c, err = loadConfig(nil, env(map[string]string{"HUBD_CONFIG": file}), io.Discard)
	if err != nil || c.Addr != "127.0.0.1:1001" {
		t.Errorf("HUBD_CONFIG: %v %+v", err, c)
	}
}

// TestConfigErrors checks that every bad setting is named with its source,
// all at once.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "history-bytes: lots\nunknown-key: 1\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"flags", []string{"-history-size", "nope", "-heartbeat", "-1s", "-log-format", "xml"}, nil,
			[]string{`history-size (from flag -history-size): "nope"`, "heartbeat (from flag -heartbeat): -1s is not positive", `log-format (from flag -log-format): "xml"`}},
		{"env", nil, map[string]string{"HUBD_WRITE_TIMEOUT": "soon", "HUBD_COMPRESSION": "gzip,lz4"},
			[]string{`write-timeout (from env HUBD_WRITE_TIMEOUT): "soon"`, `compression (from env HUBD_COMPRESSION): "lz4"`}},
		{"file", []string{"-config", file}, nil,
			[]string{`history-bytes (from file ` + file + `): "lots"`, `unknown setting "unknown-key"`}},
		{"missing file", []string{"-config", "/nonexistent/hubd.yaml"}, nil, []string{"config file", "no such file"}},
		{"unknown flag", []string{"-bogus"}, nil, []string{"bogus"}},
		{"stray argument", []string{"serve"}, nil, []string{`unexpected argument "serve"`}},
		{"bad level", []string{"-log-level", "loud"}, nil, []string{"log-level (from flag -log-level)"}},
		{"client buffer", []string{"-client-buffer", "0", "-addr", "nocolon"}, nil, []string{"client-buffer", "0 is less than 1", `addr (from flag -addr): "nocolon"`}},
		{"public address without authorization", []string{"-addr", "0.0.0.0:8080"}, nil, []string{"addr 0.0.0.0:8080 is not a loopback address", "-insecure-anonymous"}},
		{"public address from env", nil, map[string]string{"HUBD_ADDR": "192.0.2.1:80"}, []string{"not a loopback address"}},
		{"cert without key", []string{"-tls-cert", "c.pem"}, nil, []string{`tls-cert "c.pem" and tls-key "": give both or neither`}},
		{"bad proxy", []string{"-trusted-proxies", "10.0.0.0/8, proxy.local"}, nil, []string{`trusted-proxies (from flag -trusted-proxies): "proxy.local"`}},
		{"bad origin", []string{"-cors-origins", "app.example"}, nil, []string{`cors-origins (from flag -cors-origins): "app.example"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(tt.args, env(tt.env), io.Discard)
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a configuration error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigPublicAddress(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-addr", "0.0.0.0:8080", "-insecure-anonymous"},
		{"-addr", "localhost:8080"},
		{"-addr", "[::1]:8080"},
	} {
		if _, err := loadConfig(args, env(nil), io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	c, err := loadConfig([]string{"-trusted-proxies", "10.0.0.1, 192.168.0.0/16"}, env(nil), io.Discard)
	if err != nil || len(c.TrustedProxies) != 2 || c.TrustedProxies[0].String() != "10.0.0.1/32" {
		t.Errorf("trusted proxies: %v %v", c, err)
	}
	c, err = loadConfig([]string{"-cors-origins", "https://a.example/, http://b.example:3000"}, env(nil), io.Discard)
	if err != nil || len(c.AllowedOrigins) != 2 || c.AllowedOrigins[0] != "https://a.example" {
		t.Errorf("cors origins: %v %v", c, err)
	}
}

// TestShippedConfig checks that configs/hubd.yaml loads, names every
// setting, and holds each one's default, so that it stays a true reference.
func TestShippedConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "configs", "hubd.yaml")
	values, err := readConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		v, ok := values[s.name]
		if !ok {
			t.Errorf("%s lacks the setting %s", path, s.name)
			continue
		}
		shipped, def := &config{}, &config{}
		if err := s.set(shipped, v); err != nil {
			t.Errorf("%s: %s: %v", path, s.name, err)
		}
		if err := s.set(def, s.def); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shipped, def) {
			t.Errorf("%s sets %s to %q, not its default %q", path, s.name, v, s.def)
		}
	}
	if _, err := loadConfig([]string{"-config", path}, env(nil), io.Discard); err != nil {
		t.Errorf("loading %s: %v", path, err)
	}
}
