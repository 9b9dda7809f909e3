package main

import (
	"io"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/web"
)

// TestMercureSettings checks the Mercure settings' defaults, that each
// reaches the config from a flag or the environment, and that a cookie
// name no browser would send back is refused by name.
func TestMercureSettings(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Mercure || c.MercureCookie != web.DefaultMercureCookie || c.MercureAnonymous {
		t.Fatalf("defaults: mercure %v, cookie %q, anonymous %v", c.Mercure, c.MercureCookie, c.MercureAnonymous)
	}
	c, err = loadConfig([]string{"-mercure=false", "-mercure-cookie", "__Secure-mercure_access_token"},
		env(map[string]string{"HUBD_MERCURE_ANONYMOUS": "true"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mercure || c.MercureCookie != "__Secure-mercure_access_token" || !c.MercureAnonymous {
		t.Fatalf("set: mercure %v, cookie %q, anonymous %v", c.Mercure, c.MercureCookie, c.MercureAnonymous)
	}
	_, err = loadConfig([]string{"-mercure-cookie", "no spaces; please"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `mercure-cookie "no spaces; please"`) {
		t.Fatalf("bad cookie name: %v, want an error naming mercure-cookie", err)
	}
}
