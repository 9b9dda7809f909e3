package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeReport writes r as hubload prints it (a summary, then the JSON
// line) to a file in dir and returns its path.
func writeReport(t *testing.T, dir string, r report) string {
	t.Helper()
	var out bytes.Buffer
	printSummary(&out, &r)
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(append(line, '\n'))
	p := filepath.Join(dir, r.Scenario+"-"+r.Label+".txt")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fanout := func(label string, perSec, p99, cpu float64) report {
		return report{Scenario: "fanout-max", Label: label, Subscribers: 100, Connected: 100, Published: 10,
			Deliveries: 1000, Expected: 1000, DeliveriesPerS: perSec, LatP50Ms: p99 / 2, LatP99Ms: p99,
			HubCPUPerDelivU: cpu, HubRSSPerConnKB: 12}
	}
	idle := func(label string, connected, held float64) report {
		return report{Scenario: "idle", Label: label, Subscribers: 100, Connected: 100,
			HubRSSPerConnKB: connected, HubRSSHeldMiB: 1, HubRSSHeldKB: held}
	}
	var files []string
	for _, r := range []report{
		fanout("hubd", 200000, 50, 4),
		fanout("nchan", 100000, 100, 8),
		idle("hubd", 16, 8),
		idle("nchan", 10, 10),
	} {
		files = append(files, writeReport(t, dir, r))
	}
	// A hubd@ref run of fan-out only, with a subscriber that never
	// connected and one lost event.
	ref := fanout("hubd@abc", 50000, 200, 16)
	ref.Connected, ref.Lost = 99, 1
	files = append(files, writeReport(t, dir, ref))

	var out bytes.Buffer
	if err := run(t.Context(), append([]string{"-summarize"}, files...), strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"| scenario | hubd deliveries/s | hubd p50 ms | hubd p99 ms | hubd CPU µs/delivery | hubd KiB/conn | hubd lost/dup" +
			" | nchan deliveries/s | nchan p50 ms | nchan p99 ms | nchan CPU µs/delivery | nchan KiB/conn | nchan lost/dup" +
			" | hubd@abc deliveries/s | hubd@abc p50 ms | hubd@abc p99 ms | hubd@abc CPU µs/delivery | hubd@abc KiB/conn | hubd@abc lost/dup" +
			" | deliveries hubd/nchan | p99 hubd/nchan | CPU hubd/nchan | KiB hubd/nchan" +
			" | deliveries hubd/hubd@abc | p99 hubd/hubd@abc | CPU hubd/hubd@abc | KiB hubd/hubd@abc |",
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
		"| fanout-max | 200000 | 25.0 | 50.0 | 4.0 | 12.0 | 0/0 | 100000 | 50.0 | 100.0 | 8.0 | 12.0 | 0/0" +
			" | 50000 | 100.0 | 200.0 | 16.0 | 12.0 | 1/0, 99 of 100 connected | 2.00 | 0.50 | 0.50 | 1.00 | 4.00 | 0.25 | 0.25 | 1.00 |",
		"| idle | – | – | – | – | 16.0 / held 8.0 | 0/0 | – | – | – | – | 10.0 / held 10.0 | 0/0" +
			" | – | – | – | – | – | – | – | – | – | 0.80 | – | – | – | – |",
		"",
	}, "\n")
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestSummarizeRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeReport(t, dir, report{Scenario: "burst", Label: "hubd"})
	b := filepath.Join(dir, "copy.txt")
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, data, 0o644); err != nil {
		t.Fatal(err)
	}
	noReport := filepath.Join(dir, "crashed.txt")
	if err := os.WriteFile(noReport, []byte("hubload: dial tcp: connection refused\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"no files", nil, "no report files"},
		{"missing file", []string{filepath.Join(dir, "absent.txt")}, "absent.txt"},
		{"no report line", []string{noReport}, "crashed.txt: no report line"},
		{"same scenario and label twice", []string{a, b}, `two reports of scenario "burst" against "hubd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), append([]string{"-summarize"}, tc.files...), strings.NewReader(""), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
