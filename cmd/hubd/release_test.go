package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goreleaserModule reads the GoReleaser the Makefile pins (make dist runs
// it with go run), so that this test runs the same one.
func goreleaserModule(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^GORELEASER\s*:=\s*(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the Makefile pins no GORELEASER")
	}
	return string(m[1])
}

// TestReleaseConfig checks that .goreleaser.yaml builds hubd for linux,
// darwin and windows on amd64 and arm64, and writes checksums.
func TestReleaseConfig(t *testing.T) {
	cfg := readReleaseConfig(t)
	builds := cfg["builds"].([]any)
	b := builds[0].(map[string]any)
	for key, want := range map[string][]string{"goos": {"linux", "darwin", "windows"}, "goarch": {"amd64", "arm64"}} {
		var got []string
		for _, v := range b[key].([]any) {
			got = append(got, v.(string))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s %v, want %v", key, got, want)
		}
	}
	if _, ok := cfg["checksum"]; !ok {
		t.Error(".goreleaser.yaml writes no checksums")
	}
}

func readReleaseConfig(t *testing.T) map[string]any {
	b, err := os.ReadFile(filepath.Join("..", "..", ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestReleaseArchive builds the linux/amd64 release archive with GoReleaser
// from .goreleaser.yaml (restricted to that target, in snapshot mode, as
// make dist runs it), checks it against checksums.txt, and runs the hubd
// inside it, which must print the archive's version. It runs under CI=true
// or with HUBD_RELEASE_TEST=1: the first run downloads and builds
// GoReleaser, which takes minutes.
func TestReleaseArchive(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("HUBD_RELEASE_TEST") != "1" {
		t.Skip("builds GoReleaser; set HUBD_RELEASE_TEST=1 (CI=true runs it)")
	}
	cfg := readReleaseConfig(t)
	b := cfg["builds"].([]any)[0].(map[string]any)
	b["goos"], b["goarch"] = []string{"linux"}, []string{"amd64"}
	dist := t.TempDir()
	cfg["dist"] = dist
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "goreleaser.yaml")
	if err := os.WriteFile(config, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", goreleaserModule(t), "release", "--snapshot", "--clean", "--config", config)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser: %v\n%s", err, out)
	}

	var meta struct {
		Version string `json:"version"`
	}
	mb, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &meta); err != nil || meta.Version == "" {
		t.Fatalf("metadata.json: %v %s", err, mb)
	}
	name := "hubd_" + meta.Version + "_linux_amd64.tar.gz"
	archive, err := os.ReadFile(filepath.Join(dist, name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	sums, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sums), hex.EncodeToString(sum[:])+"  "+name) {
		t.Errorf("checksums.txt lacks %s's sha256:\n%s", name, sums)
	}

	bin := filepath.Join(t.TempDir(), "hubd")
	extractFile(t, filepath.Join(dist, name), "hubd", bin)
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "hubd " + meta.Version + "\n"; string(got) != want {
		t.Fatalf("the archive's hubd prints %q, want %q", got, want)
	}
}

// extractFile copies the file name out of a .tar.gz archive to dst.
func extractFile(t *testing.T, archive, name, dst string) {
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s holds no %s", archive, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != name {
			continue
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
}

// TestReleaseTargetsBuild compiles hubd for every target .goreleaser.yaml
// names, as make dist does, so that code for one system alone (a syscall
// that Windows lacks, say) cannot break the release unnoticed. It runs
// where TestReleaseArchive does: each target compiles the standard
// library anew the first time.
func TestReleaseTargetsBuild(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("HUBD_RELEASE_TEST") != "1" {
		t.Skip("cross-compiles six targets; set HUBD_RELEASE_TEST=1 (CI=true runs it)")
	}
	b := readReleaseConfig(t)["builds"].([]any)[0].(map[string]any)
	for _, goos := range b["goos"].([]any) {
		for _, goarch := range b["goarch"].([]any) {
			target := goos.(string) + "/" + goarch.(string)
			cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos.(string), "GOARCH="+goarch.(string))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: %v\n%s", target, err, out)
			}
		}
	}
}
