package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// FuzzPublish sends arbitrary publishes over HTTP to a real server with a
// subscriber. Every answer is either a clear refusal (a 4xx naming the
// field at fault, and nothing delivered) or a 200 whose event reaches the
// subscriber once, with the elements it was sent.
func FuzzPublish(f *testing.F) {
	srv, _ := newServer(f, hub.Config{}, web.Config{MaxBodyBytes: 1024})
	watcher, err := trySubscribeWith(context.Background(), srv, "/topics/fuzz", "", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(watcher.Close)
	if _, err := watcher.next(); err != nil { // the cursor frame
		f.Fatal(err)
	}
	f.Add("text/html", "fuzz", "", "", []byte("<p>hi</p>"))
	f.Add("text/html", "fuzz", "append", "#list", []byte("<li>a</li>\r\n<li>b</li>"))
	f.Add("application/json", "fuzz", "", "", []byte(`{"a":{"b":1}}`))
	f.Add("text/javascript", "fuzz", "", "", []byte("console.log(1)"))
	f.Add("text/html; charset=utf-8", "a/../b", "inner", "x\ny", []byte("\x00"))
	valid := []int{200, 400, 403, 413, 415}
	f.Fuzz(func(t *testing.T, contentType, topic, mode, selector string, body []byte) {
		v := url.Values{}
		if mode != "" {
			v.Set("mode", mode)
		}
		if selector != "" {
			v.Set("selector", selector)
		}
		u := srv.URL + "/topics/" + url.PathEscape(topic) + "?" + v.Encode()
		req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(string(body)))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Content-Type", contentType)
		status, res, err := doPublish(srv, req)
		if err != nil {
			if strings.Contains(err.Error(), "invalid header") || strings.Contains(err.Error(), "net/http:") {
				return // the client refused to send it
			}
			t.Fatalf("publish: %v", err)
		}
		if !slices.Contains(valid, status) {
			t.Fatalf("status %d for %q %q: %+v", status, contentType, topic, res)
		}
		if status != 200 {
			if res.Error == "" || (status != 403 && res.Field == "") {
				t.Fatalf("status %d without a named field: %+v", status, res)
			}
			return
		}
		if res.Topics[0] != "fuzz" {
			return // delivered elsewhere; the watcher only follows fuzz
		}
		ev, err := watcher.nextEvent()
		if err != nil || ev.ID != res.ID {
			t.Fatalf("watcher got %+v, %v; want event %s", ev, err, res.ID)
		}
		mt, _, _ := strings.Cut(contentType, ";")
		if strings.TrimSpace(strings.ToLower(mt)) == "text/html" {
			var lines []string
			for _, l := range strings.Split(ev.Data, "\n") {
				if rest, ok := strings.CutPrefix(l, "elements "); ok {
					lines = append(lines, rest)
				}
			}
			want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(body))
			if got := strings.Join(lines, "\n"); got != want && !(want == "" && len(lines) == 0) {
				t.Fatalf("elements %q came back as %q", want, got)
			}
		}
	})
}

func doPublish(srv interface{ Client() *http.Client }, req *http.Request) (int, publishResult, error) {
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	resp, err := srv.Client().Do(req.WithContext(ctx))
	var res publishResult
	if err != nil {
		return 0, res, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, res, json.NewDecoder(resp.Body).Decode(&res)
}

// FuzzBatch posts arbitrary bodies to POST /publish on a real server with
// a subscriber, with small limits so that every one of them is reached.
// Every answer is either a refusal naming the field at fault, with
// nothing delivered, or a 200 whose events reach the subscriber once each,
// in order.
func FuzzBatch(f *testing.F) {
	srv, _ := newServer(f, hub.Config{}, web.Config{MaxBodyBytes: 2048, MaxBatchEvents: 4})
	watcher, err := trySubscribeWith(context.Background(), srv, "/topics/fuzz", "", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(watcher.Close)
	if _, err := watcher.next(); err != nil { // the cursor frame
		f.Fatal(err)
	}
	f.Add([]byte(`{"topics":["fuzz"],"events":[{"type":"patchSignals","signals":{"a":1}}]}`))
	f.Add([]byte(`{"topics":["fuzz","other"],"events":[{"type":"patchElements","elements":"<p>1</p>\n<p>2</p>","selector":"#x","mode":"append"},{"type":"executeScript","script":"go()","attributes":{"type":"module"}}]}`))
	f.Add([]byte(`{"topics":["fuzz"],"events":[{"type":"patchSignals","signals":{"a":1},"retryDuration":3600000}]} `))
	f.Add([]byte(`{"topics":["fuzz"],"events":[{"type":"patchSignals","signals":{"a":1},"retryDuration":3600001}]}`))
	f.Add([]byte(`{"topics":["fuzz"],"events":[{"type":"patchSignals","signals":{"a":1}}]} {}`))
	f.Add([]byte(`{"topics":["fuzz"],"events":[{"type":"patchElements","elements":"` + strings.Repeat(`a\n`, 300) + `"}]}`))
	f.Add([]byte(`{"topics":["fuzz"],"events":[{"type":"patchSignals","signals":{}},{"type":"patchSignals","signals":{}},{"type":"patchSignals","signals":{}},{"type":"patchSignals","signals":{}},{"type":"patchSignals","signals":{}}]}`))
	valid := []int{200, 400, 403, 413}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/publish", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		status, res, err := doPublish(srv, req)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		if !slices.Contains(valid, status) {
			t.Fatalf("status %d for %q: %+v", status, body, res)
		}
		if status != 200 {
			if res.Error == "" || (status != 403 && res.Field == "") {
				t.Fatalf("status %d without a named field: %+v", status, res)
			}
			return
		}
		if !slices.Contains(res.Topics, "fuzz") {
			return // delivered elsewhere; the watcher only follows fuzz
		}
		for _, id := range res.IDs {
			ev, err := watcher.nextEvent()
			if err != nil || ev.ID != id {
				t.Fatalf("watcher got %+v, %v; want event %s", ev, err, id)
			}
		}
	})
}
