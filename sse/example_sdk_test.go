package sse_test

import (
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/hubd-dev/hubd/sse"
)

// printStream serves handler, requests it with the Accept-Encoding given
// (none if empty) and prints the response's coding and, uncompressed, its
// body.
func printStream(handler http.HandlerFunc, acceptEncoding string) {
	srv := httptest.NewServer(handler)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		fmt.Println("Content-Encoding:", enc)
		io.Copy(io.Discard, resp.Body)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
}

// printEvent prints the wire form of ev.
func printEvent(ev sse.Eventer) {
	e, err := ev.Event()
	if err != nil {
		fmt.Println(err)
		return
	}
	frame, _ := sse.AppendEvent(nil, &e)
	fmt.Print(string(frame))
}

// A stream's state: Closed, Err, and a Context that ends with it, for the
// work done on its behalf.
func ExampleStream_Context() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			return
		}
		fmt.Println("open:", s.Closed(), s.Err())
		ctx := s.Context()
		s.Close()
		<-s.Done()
		fmt.Println("closed:", s.Closed(), s.Err(), context.Cause(ctx))
	}, "")
	// Output:
	// open: false <nil>
	// closed: true sse: stream closed sse: stream closed
}

// OnClose is handed the stream, so it needs no variable set from NewSSE's
// result (it may run before NewSSE returns).
func ExampleOnClose() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r,
			sse.OnOpen(func(s *sse.Stream) { s.PatchElements(`<p id="status">open</p>`) }),
			sse.OnClose(func(s *sse.Stream, cause error) { fmt.Println("closed; cause:", cause, "encoding:", s.Encoding()) }))
		if err != nil {
			return
		}
		s.Close()
	}, "")
	// Output:
	// closed; cause: <nil> encoding: identity
	// event: datastar-patch-elements
	// data: elements <p id="status">open</p>
}

// OnError sees every failed send; for an event refused before anything
// was written, its answer decides whether the stream closes.
func ExampleOnError() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.OnError(func(s *sse.Stream, err error) bool {
			fmt.Println("refused:", err)
			return errors.Is(err, sse.ErrInvalidOption) // a bug in this handler: stop
		}))
		if err != nil {
			return
		}
		defer s.Close()
		s.Send(sse.PatchElements{Elements: `<p>x</p>`, Mode: "sideways"})
		fmt.Println("send after:", s.PatchElements(`<p id="next">next</p>`))
	}, "")
	// Output:
	// refused: sse: invalid option: mode "sideways" (want outer, inner, replace, prepend, append, before, after or remove)
	// send after: sse: stream closed
}

// Write profiles with levels and windows of one's own.
func ExampleWithCoders() {
	zstdBest, err := sse.NewZstdCoder(zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithWindowSize(1<<20))
	if err != nil {
		panic(err)
	}
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.WithCoders(
			sse.BrotliCoder{Level: 5, LGWin: 16},
			zstdBest,
			sse.GzipCoder{Level: 6},
			sse.DeflateCoder{Level: 6},
		))
		if err != nil {
			return
		}
		defer s.Close()
		s.PatchElements(`<p id="p">compressed</p>`)
	}, "gzip, zstd")
	// Output: Content-Encoding: zstd
}

// rawDeflate is a coding of one's own: raw DEFLATE under a private name.
type exampleRawDeflate struct{}

func (exampleRawDeflate) Encoding() sse.Encoding { return "x-raw-deflate" }

func (exampleRawDeflate) NewCompressor(w io.Writer) (sse.Compressor, error) {
	return flate.NewWriter(w, flate.BestSpeed)
}

// A custom write profile: any Coder plugs its coding into a stream.
func ExampleCoder() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.WithCoders(exampleRawDeflate{}, sse.GzipCoder{}))
		if err != nil {
			return
		}
		defer s.Close()
		s.PatchElements(`<p id="p">compressed</p>`)
	}, "x-raw-deflate")
	// Output: Content-Encoding: x-raw-deflate
}

// The server's order of preference over the client's weights; Forced
// would ignore Accept-Encoding altogether.
func ExampleWithNegotiation() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.WithCompression(sse.Gzip, sse.Brotli), sse.WithNegotiation(sse.ServerPreference))
		if err != nil {
			return
		}
		defer s.Close()
		s.PatchElements(`<p id="p">compressed</p>`)
	}, "gzip;q=0.1, br")
	// Output: Content-Encoding: gzip
}

// An encoding without a coder is refused before anything is written.
func ExampleWithCompression_unknown() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		_, err := sse.NewSSE(w, r, sse.WithCompression(sse.Encoding("compress")))
		fmt.Println(errors.Is(err, sse.ErrUnknownEncoding))
		http.Error(w, "no stream", http.StatusInternalServerError)
	}, "compress")
	// Output:
	// true
	// no stream
}

// The buffered profile: many small updates share one write, sent by Flush.
func ExampleWithBuffering() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r, sse.WithBuffering(0))
		if err != nil {
			return
		}
		defer s.Close()
		for i := range 3 {
			s.PatchSignals(fmt.Appendf(nil, `{"tick":%d}`, i)) // buffered
		}
		s.Flush() // one write, one flush
	}, "")
	// Output:
	// event: datastar-patch-signals
	// data: signals {"tick":0}
	//
	// event: datastar-patch-signals
	// data: signals {"tick":1}
	//
	// event: datastar-patch-signals
	// data: signals {"tick":2}
}

// Raw JSON through PatchSignals, Go values through MarshalAndPatchSignals.
func ExampleStream_MarshalAndPatchSignals() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			return
		}
		defer s.Close()
		s.PatchSignals([]byte(`{"raw":true}`))
		s.MarshalAndPatchSignals(struct {
			Count int `json:"count"`
		}{3})
	}, "")
	// Output:
	// event: datastar-patch-signals
	// data: signals {"raw":true}
	//
	// event: datastar-patch-signals
	// data: signals {"count":3}
}

// A JavaScript object literal, for signals written by hand; never build one
// from untrusted input.
func ExamplePatchSignals_jsObject() {
	printEvent(sse.PatchSignals{Signals: []byte(`{count: 1, open: true}`), JSObject: true})
	// Output:
	// event: datastar-patch-signals
	// data: signals {count: 1, open: true}
}

// card stands for a templ component: anything with
// Render(ctx, io.Writer) error.
type card struct{ title string }

func (c card) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<div id="card">%s</div>`, c.title)
	return err
}

func ExampleStream_PatchComponent() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			return
		}
		defer s.Close()
		s.PatchComponent(card{"News"}, sse.PatchElements{})
		s.PatchComponent(card{"More"}, sse.PatchElements{Selector: "#cards", Mode: sse.ModeAppend})
	}, "")
	// Output:
	// event: datastar-patch-elements
	// data: elements <div id="card">News</div>
	//
	// event: datastar-patch-elements
	// data: mode append
	// data: selector #cards
	// data: elements <div id="card">More</div>
}

// RenderElements makes an event of a component, to send in a Batch or
// with other events.
func ExampleRenderElements() {
	p, err := sse.RenderElements(context.Background(), card{"Batch"}, sse.PatchElements{Mode: sse.ModeReplace})
	if err != nil {
		panic(err)
	}
	printEvent(p)
	// Output:
	// event: datastar-patch-elements
	// data: mode replace
	// data: elements <div id="card">Batch</div>
}

func ExamplePatchElementsSeq() {
	printEvent(sse.PatchElementsSeq(sse.PatchElements{Selector: "#list", Mode: sse.ModeAppend}, "<li>a</li>", "<li>b</li>"))
	// Output:
	// event: datastar-patch-elements
	// data: mode append
	// data: selector #list
	// data: elements <li>a</li>
	// data: elements <li>b</li>
}

func ExampleStream_PatchElementsf() {
	printStream(func(w http.ResponseWriter, r *http.Request) {
		s, err := sse.NewSSE(w, r)
		if err != nil {
			return
		}
		defer s.Close()
		s.PatchElementsf(`<span id="left">%d</span>`, 3)
		s.PatchElementsSeq(`<p id="a">a</p>`, `<p id="b">b</p>`)
	}, "")
	// Output:
	// event: datastar-patch-elements
	// data: elements <span id="left">3</span>
	//
	// event: datastar-patch-elements
	// data: elements <p id="a">a</p>
	// data: elements <p id="b">b</p>
}

func ExampleDispatchEvent() {
	printEvent(sse.DispatchEvent{Name: "saved", Detail: map[string]int{"id": 7}, ID: "42", Retry: 5 * time.Second})
	// Output:
	// event: datastar-patch-elements
	// id: 42
	// retry: 5000
	// data: mode append
	// data: selector body
	// data: elements <script data-effect="el.remove()">document.dispatchEvent(new CustomEvent("saved", {detail: {"id":7}, bubbles: false, cancelable: false, composed: false}))</script>
}

func ExampleReplaceURLQuery() {
	page, _ := url.Parse("/todos?page=1")
	printEvent(sse.ReplaceURLQuery(page, url.Values{"page": {"2"}, "filter": {"open"}}))
	// Output:
	// event: datastar-patch-elements
	// data: mode append
	// data: selector body
	// data: elements <script data-effect="el.remove()">window.history.replaceState({}, "", "/todos?filter=open\u0026page=2")</script>
}

func ExamplePrefetch() {
	printEvent(sse.Prefetch("/todos/2", "/todos/3"))
	// Output:
	// event: datastar-patch-elements
	// data: mode append
	// data: selector body
	// data: elements <script type="speculationrules">{"prefetch":[{"source":"list","urls":["/todos/2","/todos/3"]}]}</script>
}

func ExampleConsoleLogf() {
	printEvent(sse.ConsoleLogf("%d todos left", 3))
	// Output:
	// event: datastar-patch-elements
	// data: mode append
	// data: selector body
	// data: elements <script data-effect="el.remove()">console.log("3 todos left")</script>
}

func ExampleRedirectf() {
	printEvent(sse.Redirectf("/todos/%d", 7))
	// Output:
	// event: datastar-patch-elements
	// data: mode append
	// data: selector body
	// data: elements <script data-effect="el.remove()">setTimeout(() => window.location.href = "/todos/7")</script>
}

func ExampleRemoveElementsf() {
	printEvent(sse.RemoveElementsf("#todo-%d", 7))
	// Output:
	// event: datastar-patch-elements
	// data: mode remove
	// data: selector #todo-7
}

// A page that loads the tested client, with its source map for the
// browser's debugger.
func ExampleDatastarCDNMap() {
	fmt.Printf("<script type=\"module\" src=%q></script>\n", sse.DatastarCDN)
	fmt.Println(sse.DatastarCDNMap)
	// Output:
	// <script type="module" src="https://cdn.jsdelivr.net/gh/starfederation/datastar@1.0.2/bundles/datastar.js"></script>
	// https://cdn.jsdelivr.net/gh/starfederation/datastar@1.0.2/bundles/datastar.js.map
}
