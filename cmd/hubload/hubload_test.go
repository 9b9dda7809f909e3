package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got > tc.want || got < tc.want*93/100 { // buckets are within ~6%
			t.Errorf("quantile(%v) = %v, want about %v", tc.q, got, tc.want)
		}
	}
	var merged histogram
	merged.merge(&h)
	merged.merge(&h)
	if merged.N != 2000 || merged.quantile(0.5) != h.quantile(0.5) {
		t.Errorf("merged: n %d, median %v", merged.N, merged.quantile(0.5))
	}
}

func TestExpectedRoundRobin(t *testing.T) {
	t.Parallel()
	var sum uint64
	for topic := range 7 {
		sum += expectedFor(100, 7, topic)
	}
	if sum != 100 || expectedFor(100, 7, 0) != 15 || expectedFor(100, 7, 6) != 14 {
		t.Errorf("round robin split of 100 over 7 topics: sum %d, first %d, last %d", sum, expectedFor(100, 7, 0), expectedFor(100, 7, 6))
	}
}

// TestRunAgainstHub runs a small load against a real hub on loopback and
// checks the report: everything delivered once, with latencies.
func TestRunAgainstHub(t *testing.T) {
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(h, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	var out bytes.Buffer
	args := []string{"-url", srv.URL, "-subscribers", "40", "-topics", "4", "-count", "200", "-publishers", "4",
		"-size", "100", "-source-ips", "4", "-json", "-drain", "20s"}
	if err := run(context.Background(), args, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	// 200 publishes over 4 topics reach the 10 subscribers of each topic.
	if rep.Connected != 40 || rep.Published != 200 || rep.Expected != 2000 || rep.Deliveries != 2000 || rep.Lost != 0 || rep.Dups != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.LatMaxMs <= 0 || rep.HubRSSMiB <= 0 || rep.HubSource != "/metrics" {
		t.Fatalf("report lacks latency or hub usage: %+v", rep)
	}
	if h.Stats().Events != 200 {
		t.Fatalf("hub saw %d events", h.Stats().Events)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com", "https://127.0.0.1:1"} {
		if _, err := parseOptions([]string{"-url", u}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("-url %s: %v, want a loopback error", u, err)
		}
	}
}

func TestTargetFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // empty: accepted
		subPath string
		label   string
	}{
		{"default is hubd", nil, "", "/topics/", "hubd"},
		{"nchan with its processes", []string{"-target", "nchan", "-hub-pid", "10,11,12"}, "", "/sub/", "nchan"},
		{"label", []string{"-target", "hubd", "-label", "hubd@abc123"}, "", "/topics/", "hubd@abc123"},
		{"unknown target", []string{"-target", "mercure"}, `-target "mercure": want hubd or nchan`, "", ""},
		{"nchan has no /metrics", []string{"-target", "nchan"}, "-target nchan needs -hub-pid", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.proto.subPath != tc.subPath || o.Label != tc.label {
				t.Errorf("subscribe path %q, label %q; want %q, %q", o.proto.subPath, o.Label, tc.subPath, tc.label)
			}
		})
	}
}
