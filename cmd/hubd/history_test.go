package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
)

func TestHistoryPerTopicSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want int
		err  string
	}{
		{"default", nil, nil, hub.DefaultHistoryPerTopic, ""},
		{"flag", []string{"-history-per-topic", "50"}, nil, 50, ""},
		{"env", nil, map[string]string{"HUBD_HISTORY_PER_TOPIC": "7"}, 7, ""},
		{"zero", []string{"-history-per-topic", "0"}, nil, 0, "history-per-topic (from flag -history-per-topic): 0 is less than 1"},
		{"negative", nil, map[string]string{"HUBD_HISTORY_PER_TOPIC": "-1"}, 0, "history-per-topic (from env HUBD_HISTORY_PER_TOPIC): -1 is less than 1"},
		{"not a number", []string{"-history-per-topic", "lots"}, nil, 0, `history-per-topic (from flag -history-per-topic): "lots" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.HistoryPerTopic != tt.want {
				t.Errorf("history-per-topic %d, want %d", c.HistoryPerTopic, tt.want)
			}
		})
	}
}

// TestHistoryPerTopicEndToEnd runs the built binary with a small
// history-per-topic: a batch that floods one topic leaves the other's
// events replayable, with no missed signal, while a client of the flooded
// topic is told it missed events and gets the newest ones.
func TestHistoryPerTopicEndToEnd(t *testing.T) {
	bin := buildHubd(t)
	_, base := startHubd(t, bin, "-addr", "127.0.0.1:0", "-history-per-topic", "5", "-history-size", "100", "-log-level", "warn")
	news := []string{publishHTML(t, base, "news", "<p>1</p>"), publishHTML(t, base, "news", "<p>2</p>")}
	var batch strings.Builder
	batch.WriteString(`{"topics":["junk"],"events":[`)
	for i := range 300 {
		if i > 0 {
			batch.WriteString(",")
		}
		fmt.Fprintf(&batch, `{"type":"patchSignals","signals":{"n":%d}}`, i)
	}
	batch.WriteString("]}")
	resp, err := http.Post(base+"/publish", "application/json", strings.NewReader(batch.String()))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res struct{ IDs []string }
	if err == nil {
		err = json.Unmarshal(body, &res)
	}
	if err != nil || resp.StatusCode != http.StatusOK || len(res.IDs) != 300 {
		t.Fatalf("batch: %s %s, %d IDs, %v", resp.Status, body, len(res.IDs), err)
	}
	junk := res.IDs

	tests := []struct {
		name, topic, last string
		missed            bool
		ids               []string // replayed, then the cursor
	}{
		{"quiet topic", "news", news[0], false, []string{news[1], junk[299]}},
		{"flooded topic", "junk", junk[0], true, append(slices.Clone(junk[295:]), junk[299])},
		{"flooded topic, dropped events seen", "junk", junk[294], false, append(slices.Clone(junk[295:]), junk[299])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := openStream(ctx, t, base, tt.topic, tt.last)
			var missed bool
			var ids []string
			for len(ids) < len(tt.ids) {
				ev, err := readEvent(r)
				if err != nil {
					t.Fatalf("after %q: %v", ids, err)
				}
				if ev.id == "" && slices.Equal(ev.data, []string{`signals {"_hubdMissed":true}`}) {
					missed = true
					continue
				}
				ids = append(ids, ev.id)
			}
			if missed != tt.missed || !slices.Equal(ids, tt.ids) {
				t.Errorf("missed %v, IDs %q; want %v, %q", missed, ids, tt.missed, tt.ids)
			}
		})
	}
}
