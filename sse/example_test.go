package sse_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/hubd-dev/hubd/sse"
)

func ExampleAppendEvent() {
	e := sse.Event{Type: "greeting", ID: "1", Fields: []sse.Field{{Key: "", Value: "hello\nworld"}}}
	frame, err := sse.AppendEvent(nil, &e)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(frame))
	// Output:
	// event: greeting
	// id: 1
	// data: hello
	// data: world
}

func ExamplePatchElements() {
	e, err := sse.PatchElements{Elements: "<li>new</li>", Selector: "#feed", Mode: sse.ModeAppend}.Event()
	if err != nil {
		panic(err)
	}
	frame, _ := sse.AppendEvent(nil, &e)
	fmt.Print(string(frame))
	// Output:
	// event: datastar-patch-elements
	// data: mode append
	// data: selector #feed
	// data: elements <li>new</li>
}

func ExampleReadSignals() {
	r := httptest.NewRequest(http.MethodPost, "/vote", strings.NewReader(`{"choice":"tabs"}`))
	var signals struct {
		Choice string `json:"choice"`
	}
	if err := sse.ReadSignals(r, &signals); err != nil {
		panic(err)
	}
	fmt.Println(signals.Choice)
	// Output: tabs
}

func ExampleNewSSE() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		stream, err := sse.NewSSE(w, r)
		if err != nil {
			return
		}
		defer stream.Close()
		for i := 1; i <= 2; i++ {
			stream.Send(sse.PatchElements{Elements: fmt.Sprintf(`<span id="n">%d</span>`, i)})
		}
		stream.Send(sse.PatchSignals{Signals: []byte(`{"done":true}`)})
	}
	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output:
	// event: datastar-patch-elements
	// data: elements <span id="n">1</span>
	//
	// event: datastar-patch-elements
	// data: elements <span id="n">2</span>
	//
	// event: datastar-patch-signals
	// data: signals {"done":true}
}

func ExampleWithCompression() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream, err := sse.NewSSE(w, r, sse.WithCompression())
		if err != nil {
			return
		}
		defer stream.Close()
		stream.Send(sse.PatchElements{Elements: `<p id="p">compressed</p>`})
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept-Encoding", "br;q=0.5, gzip")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
	// Output: gzip Accept-Encoding
}
