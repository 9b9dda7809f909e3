package sse_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hubd-dev/hubd/sse"
)

func TestReadSignals(t *testing.T) {
	t.Parallel()
	type signals struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	get := func(q string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/?datastar="+url.QueryEscape(q), nil)
	}
	body := func(method, b string) *http.Request {
		return httptest.NewRequest(method, "/", strings.NewReader(b))
	}
	tests := []struct {
		name string
		req  *http.Request
		want signals
		err  string
	}{
		{"get", get(`{"name":"Ada","count":2}`), signals{"Ada", 2}, ""},
		{"delete uses the query", httptest.NewRequest(http.MethodDelete, "/?datastar=%7B%22count%22%3A3%7D", nil), signals{"keep", 3}, ""},
		{"head uses the query", httptest.NewRequest(http.MethodHead, "/?datastar=%7B%22count%22%3A4%7D", nil), signals{"keep", 4}, ""},
		{"post", body(http.MethodPost, `{"name":"Bo"}`), signals{"Bo", 0}, ""},
		{"put", body(http.MethodPut, `{"count":7}`), signals{"keep", 7}, ""},
		{"patch", body(http.MethodPatch, `{"count":8}`), signals{"keep", 8}, ""},
		{"get without signals", httptest.NewRequest(http.MethodGet, "/", nil), signals{"keep", 0}, ""},
		{"empty body", body(http.MethodPost, ""), signals{"keep", 0}, ""},
		{"invalid JSON in query", get(`{"name":`), signals{}, "invalid JSON"},
		{"invalid JSON in body", body(http.MethodPost, `{"count":"x"}`), signals{}, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := signals{Name: "keep"}
			err := sse.ReadSignals(tt.req, &got)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadSignalsLimit(t *testing.T) {
	t.Parallel()
	var v map[string]any
	big := `{"a":"` + strings.Repeat("x", 100) + `"}`
	if err := sse.ReadSignalsLimit(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big)), &v, 50); !errors.Is(err, sse.ErrSignalsTooLarge) {
		t.Errorf("body over the limit: %v", err)
	}
	if err := sse.ReadSignalsLimit(httptest.NewRequest(http.MethodGet, "/?datastar="+url.QueryEscape(big), nil), &v, 50); !errors.Is(err, sse.ErrSignalsTooLarge) {
		t.Errorf("query over the limit: %v", err)
	}
	if err := sse.ReadSignalsLimit(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(big)), &v, 1000); err != nil {
		t.Errorf("under the limit: %v", err)
	}
}

func TestIsDatastarRequest(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if sse.IsDatastarRequest(r) {
		t.Error("plain request taken for Datastar")
	}
	r.Header.Set("Datastar-Request", "true")
	if !sse.IsDatastarRequest(r) {
		t.Error("Datastar request not recognised")
	}
}

// TestReadSignalsAfterNewSSE: reading a POST's signals after NewSSE has
// started the response fails, as net/http has closed the body; the error
// must say what to do instead of net/http's bare "invalid Read on closed
// Body".
func TestReadSignalsAfterNewSSE(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			got <- err
			return
		}
		defer s.Close()
		var v map[string]any
		got <- sse.ReadSignals(r, &v)
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	err = <-got
	if !errors.Is(err, http.ErrBodyReadAfterClose) || !strings.Contains(err.Error(), "read the signals before NewSSE") {
		t.Fatalf("ReadSignals after NewSSE: %v, want an error saying to read the signals first", err)
	}
}
