package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var updateConfigDoc = flag.Bool("update-config-doc", false, "rewrite docs/configuration.md from the settings table")

// TestConfigurationReference fails when docs/configuration.md is not what
// the settings table produces: a setting added, renamed or removed, or a
// default or help text changed without regenerating the page (go generate
// ./cmd/hubd, or this test with -update-config-doc).
func TestConfigurationReference(t *testing.T) {
	var want bytes.Buffer
	if err := writeConfigReference(&want); err != nil {
		t.Fatal(err)
	}
	if *updateConfigDoc {
		if err := os.WriteFile(configDocPath, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("%v (go generate ./cmd/hubd writes it)", err)
	}
	if bytes.Equal(got, want.Bytes()) {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(want.String(), "\n")
	for i := 0; i < max(len(gotLines), len(wantLines)); i++ {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Fatalf("%s differs from the settings table at line %d:\n have %q\n want %q\nrun go generate ./cmd/hubd", configDocPath, i+1, g, w)
		}
	}
}

// TestConfigurationReferenceRows checks that every setting's row names
// its environment variable and default, the facts a reader looks up.
func TestConfigurationReferenceRows(t *testing.T) {
	var b bytes.Buffer
	if err := writeConfigReference(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		row := "| `" + s.name + "` | `" + envName(s.name) + "` | "
		if s.def != "" {
			row += "`" + s.def + "`"
		}
		if !strings.Contains(b.String(), row) {
			t.Errorf("the reference lacks the row %q", row)
		}
	}
}
