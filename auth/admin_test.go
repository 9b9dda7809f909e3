package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/auth"
)

// TestAdminCredentials checks the operator's credentials: admin keys
// compare whole, grant nothing else and must be long enough, and the
// admin claim survives minting and parsing.
func TestAdminCredentials(t *testing.T) {
	t.Parallel()
	const key = "admin-key-0123456789abcdef"
	a, err := auth.New(t.Context(), auth.Config{Secret: secret, AdminKeys: []string{key}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.AdminKey(key) || a.AdminKey(key[:len(key)-1]) || a.AdminKey("") || a.PublishKey(key) {
		t.Fatal("AdminKey must accept exactly the configured key, and it must not be a publish key")
	}
	if _, err := auth.New(t.Context(), auth.Config{AdminKeys: []string{"short"}}); err == nil || !strings.Contains(err.Error(), "admin key 0: 5 bytes") {
		t.Fatalf("a short admin key: %v, want an error naming it", err)
	}
	tok, err := auth.Mint(auth.Token{Subject: "ops", Grants: auth.Grants{Admin: true}, TTL: time.Minute}, secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Parse(tok)
	if err != nil || !c.Hubd.Admin || c.Subject != "ops" {
		t.Fatalf("admin token: %+v, %v", c, err)
	}
	if got, want := a.Expiry(c), c.ExpiresAt.Add(auth.DefaultLeeway); !got.Equal(want) {
		t.Fatalf("Expiry %v, want exp plus the leeway %v", got, want)
	}
	var nilAuth *auth.Authorizer
	if nilAuth.AdminKey(key) || nilAuth.AcceptsTokens() {
		t.Fatal("a nil Authorizer has no admin keys and accepts no tokens")
	}
}
