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
		c.LogLevel != slog.LevelInfo || c.LogFormat != "auto" || c.Compression != nil || c.ClientBuffer != 64 ||
		c.HistoryPerTopic != 1000 || c.JWTIssuer != "" || c.JWTAudience != "" || c.JWTAllowNoExp {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestConfigPrecedence checks flag > environment > file > default, setting
// by setting.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "addr: 127.0.0.1:1001\nheartbeat: 20s\nhistory-size: 5\ncompression: [zstd, gzip]\nlog-level: debug\nnode-id: from-file\n")
	c, err := loadConfig([]string{"-config", file, "-addr", "127.0.0.1:1003", "-node-id", "from-flag"}, env(map[string]string{
		"HUBD_ADDR": "127.0.0.1:1002", "HUBD_HEARTBEAT": "30s", "HUBD_NODE_ID": "from-env",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:1003" || c.NodeID != "from-flag" {
		t.Errorf("addr %s, node-id %s: the flag should win", c.Addr, c.NodeID)
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
	if err != nil || c.Addr != "127.0.0.1:1001" || c.NodeID != "from-file" {
		t.Errorf("HUBD_CONFIG: %v %+v", err, c)
	}
	c, err = loadConfig([]string{"-config", file}, env(map[string]string{"HUBD_NODE_ID": "from-env"}), io.Discard)
	if err != nil || c.NodeID != "from-env" {
		t.Errorf("node-id %q (%v): the environment should win over the file", c.NodeID, err)
	}
}

// TestConfigErrors checks that every bad setting is named with its source,
// all at once.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "history-bytes: lots\nunknown-key: 1\n")
	badFile := writeFile(t, "addr: 127.0.0.1:70000\nnode-id: eu/1\n")
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		want   []string
		absent []string // what would mislead: a loopback complaint about a bad port
	}{
		{"flags", []string{"-history-size", "nope", "-heartbeat", "-1s", "-log-format", "xml"}, nil,
			[]string{`history-size (from flag -history-size): "nope"`, "heartbeat (from flag -heartbeat): -1s is not positive", `log-format (from flag -log-format): "xml"`}, nil},
		{"env", nil, map[string]string{"HUBD_WRITE_TIMEOUT": "soon", "HUBD_COMPRESSION": "gzip,lz4"},
			[]string{`write-timeout (from env HUBD_WRITE_TIMEOUT): "soon"`, `compression (from env HUBD_COMPRESSION): "lz4"`}, nil},
		{"file", []string{"-config", file}, nil,
			[]string{`history-bytes (from file ` + file + `): "lots"`, `unknown setting "unknown-key"`}, nil},
		{"missing file", []string{"-config", "/nonexistent/hubd.yaml"}, nil, []string{"config file", "no such file"}, nil},
		{"unknown flag", []string{"-bogus"}, nil, []string{"bogus"}, nil},
		{"stray argument", []string{"serve"}, nil, []string{`unexpected argument "serve"`}, nil},
		{"bad level", []string{"-log-level", "loud"}, nil, []string{"log-level (from flag -log-level)"}, nil},
		{"client buffer", []string{"-client-buffer", "0", "-addr", "nocolon"}, nil, []string{"client-buffer", "0 is less than 1", `addr (from flag -addr): "nocolon"`}, nil},
		{"public address without authorization", []string{"-addr", "0.0.0.0:8080"}, nil, []string{"addr 0.0.0.0:8080 is not a loopback address", "-insecure-anonymous"}, nil},
		{"public address from env", nil, map[string]string{"HUBD_ADDR": "192.0.2.1:80"}, []string{"not a loopback address"}, nil},
		{"cert without key", []string{"-tls-cert", "c.pem"}, nil, []string{`tls-cert "c.pem" and tls-key "": give both or neither`}, nil},
		{"bad proxy", []string{"-trusted-proxies", "10.0.0.0/8, proxy.local"}, nil, []string{`trusted-proxies (from flag -trusted-proxies): "proxy.local"`}, nil},
		{"bad origin", []string{"-cors-origins", "app.example"}, nil, []string{`cors-origins (from flag -cors-origins): "app.example"`}, nil},
		{"port out of range", []string{"-addr", ":99999"}, nil,
			[]string{`addr (from flag -addr): ":99999": port "99999" is not a number from 0 to 65535`}, []string{"loopback"}},
		{"port out of range from env", nil, map[string]string{"HUBD_ADDR": "0.0.0.0:65536"},
			[]string{`addr (from env HUBD_ADDR): "0.0.0.0:65536": port "65536"`}, []string{"loopback"}},
		{"port not a number", []string{"-addr", "127.0.0.1:http"}, nil, []string{`addr (from flag -addr): "127.0.0.1:http": port "http" is not a number`}, nil},
		{"no port", []string{"-addr", "127.0.0.1:"}, nil, []string{`addr (from flag -addr): "127.0.0.1:": port ""`}, nil},
		{"negative port", []string{"-addr", "[::1]:-1"}, nil, []string{`port "-1"`}, nil},
		{"too many colons", []string{"-addr", "::1:80"}, nil, []string{`addr (from flag -addr): "::1:80" is not host:port`}, nil},
		{"bad file values", []string{"-config", badFile}, nil, []string{
			`addr (from file ` + badFile + `): "127.0.0.1:70000": port "70000" is not a number from 0 to 65535`,
			`node-id (from file ` + badFile + `): hub: invalid node ID: "eu/1" has '/' at byte 2`}, []string{"loopback"}},
		{"node id with a space", []string{"-node-id", "eu 1"}, nil, []string{`node-id (from flag -node-id): hub: invalid node ID: "eu 1" has ' ' at byte 2`}, nil},
		{"node id too long", nil, map[string]string{"HUBD_NODE_ID": strings.Repeat("n", 65)}, []string{"node-id (from env HUBD_NODE_ID): hub: invalid node ID", "65 bytes, more than 64"}, nil},
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
			for _, a := range tt.absent {
				if strings.Contains(err.Error(), a) {
					t.Errorf("error %q mentions %q", err, a)
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

// TestAllowedHosts checks the allowed-hosts setting, and that with
// insecure-anonymous the name hubd listens on is answered too (an address,
// or every interface, needs nothing: IP addresses are always answered).
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"default", nil, nil},
		{"listed", []string{"-allowed-hosts", "hub.example, *"}, []string{"hub.example", "*"}},
		{"loopback name", []string{"-addr", "localhost:8080", "-insecure-anonymous"}, []string{"localhost"}},
		{"public name", []string{"-addr", "hub.internal:8080", "-insecure-anonymous", "-allowed-hosts", "hub.example"}, []string{"hub.example", "hub.internal"}},
		{"public name with authorization off but not insecure", []string{"-addr", "localhost:8080"}, nil},
		{"every interface", []string{"-addr", ":8080", "-insecure-anonymous"}, nil},
		{"an address", []string{"-addr", "10.0.0.5:8080", "-insecure-anonymous"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(nil), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.allowedHosts(); !reflect.DeepEqual(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
				t.Errorf("allowed hosts %q, want %q", got, tt.want)
			}
		})
	}
	_, err := loadConfig([]string{"-allowed-hosts", "hub.example,http://hub.example"}, env(map[string]string{"HUBD_MAX_BATCH_EVENTS": "0", "HUBD_READ_TIMEOUT": "0s"}), io.Discard)
	for _, want := range []string{`allowed-hosts (from flag -allowed-hosts): allowed host "http://hub.example": want a host name`,
		"max-batch-events (from env HUBD_MAX_BATCH_EVENTS): 0 is less than 1", "read-timeout (from env HUBD_READ_TIMEOUT): 0s is not positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
