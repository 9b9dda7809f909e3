package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubd-dev/hubd/hub"
	"github.com/hubd-dev/hubd/web"
)

// BenchmarkPublishHandler measures one POST /topics/{topic} of a 256-byte
// JSON signals patch through the whole HTTP surface (routing, middleware,
// validation, encoding, the hub, the answer), to a topic nobody follows,
// so that it counts the publish path's own work and allocations (those of
// net/http's reading of the request excepted).
func BenchmarkPublishHandler(b *testing.B) {
	h, s := newAPI(b, hub.Config{Heartbeat: time.Hour}, web.Config{})
	b.Cleanup(func() { h.Shutdown(b.Context()) })
	body := `{"t":1764140000000000000,"s":1,"p":"` + strings.Repeat("x", 200) + `"}`
	b.ReportAllocs()
	for b.Loop() {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/topics/load-1", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		r.RemoteAddr, r.RequestURI = "127.0.0.1:40000", "/topics/load-1"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("publish: %d %s", w.Code, w.Body)
		}
	}
}
