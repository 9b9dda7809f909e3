// Command floor measures what net/http itself costs per open streaming
// connection, so that hubd's own share can be told apart. It serves
// /topics/... with the least a stream needs (headers, one frame, then wait)
// either through the ResponseWriter ("plain") or on the hijacked connection
// ("hijack"), and /healthz for the load tool:
//
//	go run ./bench/floor -addr 127.0.0.1:9095 -mode plain &
//	go run ./cmd/hubload -url http://127.0.0.1:9095 -subscribers 5000 -hold 3s -no-publish -hub-pid $!
//
// It listens on loopback only and runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9095", "loopback address to listen on")
	mode := flag.String("mode", "plain", "plain (ResponseWriter) or hijack (raw connection)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-addr %q: must be a loopback address", *addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/topics/", func(w http.ResponseWriter, r *http.Request) {
		if *mode == "hijack" {
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nid: x-0\n\n\r\n")
			<-ctx.Done()
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: x-0\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
		}
	})
	srv := &http.Server{Addr: *addr, Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }() // ends with the process's signal
	fmt.Println("floor listening on", *addr, "mode", *mode)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
