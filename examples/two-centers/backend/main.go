// Command backend is the example service of examples/two-centers: the songs and orders hosts
// behind the two example gateways, and the upstream of scripts/bench-proxy.
//
// It models a "fixed workers and service time" server: with -workers N a request first waits
// for one of N slots, then holds it for -latency, so the backend's capacity is N / latency
// requests per second and anything beyond queues. With -workers 0 there is no bound. -fail-rate
// answers that share of requests with a 500 after the service time.
//
// Endpoints (every response carries X-Backend: <name>, and JSON bodies name the backend):
//
//	GET  /healthz     200 "ok"; never waits for a slot, never fails (the gateway's probe)
//	GET  /api/songs   a JSON list of songs
//	POST /api/orders  reads the body, records it, answers its length and the running count
//	GET  /api/orders  the orders recorded so far (count and bytes)
//	anything else     200 JSON with the method, the path and the backend name
//
// It logs one line when it listens (with the real address, so -listen 127.0.0.1:0 works) and
// nothing per request, because it is also the benchmark backend. SIGTERM or SIGINT stops it
// gracefully: it stops accepting and lets requests in flight finish (up to -grace).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

// run parses the flags, serves until SIGTERM or SIGINT, and drains.
func run(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:7001", "host:port to listen on (port 0 picks a free port)")
	name := fs.String("name", "sz-a", "backend name, sent as X-Backend and in JSON bodies")
	latency := fs.Duration("latency", 0, "fixed service time of every request but /healthz")
	workers := fs.Int("workers", 0, "requests served at once; the rest wait for a slot (0 = unlimited)")
	failRate := fs.Float64("fail-rate", 0, "share of requests answered 500, in [0, 1]")
	grace := fs.Duration("grace", 10*time.Second, "how long SIGTERM waits for requests in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	b, err := newBackend(*name, *latency, *workers, *failRate)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           b,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	// One line, on stderr, that scripts and tests wait for: it carries the bound address.
	fmt.Fprintf(os.Stderr, "backend %s listening on %s\n", *name, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
