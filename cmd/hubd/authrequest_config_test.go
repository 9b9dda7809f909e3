package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// TestAuthRequestSettings checks the auth-request, admin-keys and
// max-streams-per-user settings: their defaults, each way to set them,
// that auth-request counts as authorization (so a hub that uses it may
// listen beyond loopback), and a clear error naming each bad value.
func TestAuthRequestSettings(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthRequest != "" || !slices.Equal(c.AuthRequestForward, web.DefaultAuthRequestForward) || c.AuthRequestTimeout != web.DefaultAuthRequestTimeout ||
		c.AuthRequestRecheck != web.DefaultAuthRequestRecheck || c.AuthRequestConcurrency != web.DefaultAuthRequestConcurrency || c.MaxStreamsPerUser != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	file := writeFile(t, "auth-request: http://127.0.0.1:3000/hubd/auth\nauth-request-forward: [Cookie]\nadmin-keys: [ops-key-0123456789abcdefgh]\n")
	c, err = loadConfig([]string{"-config", file, "-addr", "0.0.0.0:8080", "-auth-request-timeout", "1s", "-max-streams-per-user", "4"},
		env(map[string]string{"HUBD_AUTH_REQUEST_RECHECK": "30s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthRequest != "http://127.0.0.1:3000/hubd/auth" || !slices.Equal(c.AuthRequestForward, []string{"Cookie"}) ||
		c.AuthRequestTimeout != time.Second || c.AuthRequestRecheck != 30*time.Second || c.MaxStreamsPerUser != 4 ||
		!slices.Equal(c.AdminKeys, []string{"ops-key-0123456789abcdefgh"}) {
		t.Fatalf("set: %+v", c)
	}

	cases := []struct{ args []string }{
		{[]string{"-auth-request", "/hubd/auth"}},
		{[]string{"-auth-request", "ftp://app/auth"}},
		{[]string{"-auth-request", "http://app/auth#x"}},
		{[]string{"-auth-request-forward", "Cookie,Bad Header"}},
		{[]string{"-auth-request-forward", ","}},
		{[]string{"-auth-request-timeout", "0s"}},
		{[]string{"-auth-request-concurrency", "0"}},
		{[]string{"-max-streams-per-user", "-1"}},
	}
	for _, tc := range cases {
		_, err := loadConfig(tc.args, env(nil), io.Discard)
		parts := strings.Split(tc.args[1], ",")
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.args[0], "-")) || !strings.Contains(err.Error(), parts[len(parts)-1]) {
			t.Errorf("%v: error %v, want one naming the setting and its value", tc.args, err)
		}
	}
}
