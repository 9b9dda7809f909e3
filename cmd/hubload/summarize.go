package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// summarizeFiles reads one hubload report from each path (the last line
// of the file that holds a JSON object, as hubload prints it) and writes
// the table summarize makes of them.
func summarizeFiles(paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return errors.New("-summarize: no report files given")
	}
	reps := make([]report, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("-summarize: %w", err)
		}
		r, err := lastReport(b)
		if err != nil {
			return fmt.Errorf("-summarize %s: %w", p, err)
		}
		reps = append(reps, r)
	}
	return summarize(reps, w)
}

// lastReport decodes the last line of out that starts with '{'.
func lastReport(out []byte) (report, error) {
	var r report
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := bytes.TrimSpace(lines[i])
		if len(line) > 0 && line[0] == '{' {
			if err := json.Unmarshal(line, &r); err != nil {
				return r, fmt.Errorf("report line: %w", err)
			}
			if r.Scenario == "" || r.Label == "" {
				return r, errors.New("report line names no scenario or label")
			}
			return r, nil
		}
	}
	return r, errors.New("no report line (a JSON object) in the output")
}

// summarize writes a markdown table of reports: one row per scenario, in
// the order they first appear, and for each label (in the order they first
// appear) deliveries per second, latency p50 and p99, hub CPU per
// delivery, hub memory per connection (after the hold too, when there was
// one), and events lost and repeated; then, for every label after the
// first, the first one's deliveries per second, p99, CPU per delivery and
// memory per connection divided by that label's. A figure that does not
// apply (no publishes, no report) is "–". Two reports of one scenario and
// label are an error.
func summarize(reps []report, w io.Writer) error {
	var scenarios, labels []string
	byKey := map[[2]string]*report{}
	for i := range reps {
		r := &reps[i]
		key := [2]string{r.Scenario, r.Label}
		if byKey[key] != nil {
			return fmt.Errorf("two reports of scenario %q against %q", r.Scenario, r.Label)
		}
		byKey[key] = r
		if !slices.Contains(scenarios, r.Scenario) {
			scenarios = append(scenarios, r.Scenario)
		}
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}

	head := []string{"scenario"}
	for _, l := range labels {
		head = append(head, l+" deliveries/s", l+" p50 ms", l+" p99 ms", l+" CPU µs/delivery", l+" KiB/conn", l+" lost/dup")
	}
	first := labels[0]
	for _, l := range labels[1:] {
		ratio := first + "/" + l
		head = append(head, "deliveries "+ratio, "p99 "+ratio, "CPU "+ratio, "KiB "+ratio)
	}
	writeRow(w, head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
	}
	writeRow(w, sep)

	for _, sc := range scenarios {
		row := []string{sc}
		for _, l := range labels {
			row = append(row, cells(byKey[[2]string{sc, l}])...)
		}
		a := byKey[[2]string{sc, first}]
		for _, l := range labels[1:] {
			b := byKey[[2]string{sc, l}]
			row = append(row,
				ratio(a, b, func(r *report) float64 { return r.DeliveriesPerS }),
				ratio(a, b, func(r *report) float64 { return r.LatP99Ms }),
				ratio(a, b, func(r *report) float64 { return r.HubCPUPerDelivU }),
				ratio(a, b, memPerConn))
		}
		writeRow(w, row)
	}
	return nil
}

// cells are one label's figures in a scenario's row.
func cells(r *report) []string {
	if r == nil {
		return []string{"–", "–", "–", "–", "–", "–"}
	}
	mem := fmt.Sprintf("%.1f", r.HubRSSPerConnKB)
	if r.HubRSSHeldMiB > 0 {
		mem += fmt.Sprintf(" / held %.1f", r.HubRSSHeldKB)
	}
	loss := fmt.Sprintf("%d/%d", r.Lost, r.Dups)
	if r.Failed > 0 || r.Connected < r.Subscribers {
		loss += fmt.Sprintf(", %d of %d connected", r.Connected, r.Subscribers)
	}
	if r.PublishErrors > 0 {
		loss += fmt.Sprintf(", %d publish errors", r.PublishErrors)
	}
	if r.Published == 0 {
		return []string{"–", "–", "–", "–", mem, loss}
	}
	return []string{
		fmt.Sprintf("%.0f", r.DeliveriesPerS),
		fmt.Sprintf("%.1f", r.LatP50Ms),
		fmt.Sprintf("%.1f", r.LatP99Ms),
		fmt.Sprintf("%.1f", r.HubCPUPerDelivU),
		mem, loss,
	}
}

// memPerConn is the memory per connection a ratio compares: after the
// hold when there was one, else once connected.
func memPerConn(r *report) float64 {
	if r.HubRSSHeldMiB > 0 {
		return r.HubRSSHeldKB
	}
	return r.HubRSSPerConnKB
}

// ratio formats f(a)/f(b), or "–" when either report is missing or
// either figure is not positive (a run without publishes has no
// deliveries, latency or CPU per delivery).
func ratio(a, b *report, f func(*report) float64) string {
	if a == nil || b == nil || f(b) <= 0 || f(a) <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", f(a)/f(b))
}

func writeRow(w io.Writer, cells []string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}
