// Command sdktest serves the Datastar SDK conformance endpoint with the sse
// package: GET /test?datastar={...} and POST /test with the same JSON as
// the body. The request's signals hold an "events" array; each entry is
// sent as one event, in order.
//
//	go run ./examples/sdktest -addr 127.0.0.1:7331
//
// It prints "listening on http://ADDR" once it accepts connections.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hubd-dev/hubd/sse"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sdktest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sdktest", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7331", "address to listen on (port 0 picks a free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/test", handleTest)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func handleTest(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Events []sse.JSONEvent `json:"events"`
	}
	if err := sse.ReadSignals(r, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	events := make([]sse.Eventer, 0, len(in.Events))
	for i, e := range in.Events {
		ev, err := e.Eventer()
		if err != nil {
			http.Error(w, fmt.Sprintf("events[%d]: %v", i, err), http.StatusBadRequest)
			return
		}
		events = append(events, ev)
	}
	stream, err := sse.NewSSE(w, r)
	if err != nil {
		slog.Error("start stream", "err", err)
		return
	}
	defer stream.Close()
	for i, ev := range events {
		if err := stream.Send(ev); err != nil {
			slog.Error("send event", "index", i, "err", err)
			return
		}
	}
}
