package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/web"
)

// TestConfigValidateNamesEveryField checks that Validate reports every bad
// field of the publish-side settings at once, each with its value.
func TestConfigValidateNamesEveryField(t *testing.T) {
	t.Parallel()
	err := web.Config{ReadTimeout: -time.Second, MaxBatchEvents: -1, MaxBodyBytes: -2,
		AllowedHosts: []string{"hub.example:80", "ok.example", "https://x.example"}}.Validate()
	for _, want := range []string{
		"read timeout -1s: must not be negative",
		"max batch events -1: must not be negative",
		"max body bytes -2: must not be negative",
		`allowed host "hub.example:80"`,
		`allowed host "https://x.example"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "ok.example") {
		t.Errorf("error %v names a valid host", err)
	}
	if err := (web.Config{AllowedHosts: []string{"*", "hub.example"}}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
