// Command service is a small HTTP service that protects itself with httpmw.Protect and calls
// its dependency through httpmw.Transport: what a Bulwark service looks like in a few lines.
//
//	go run ./examples/service                     # serves on 127.0.0.1:8081, with a built-in dependency
//	curl -i 127.0.0.1:8081/products/7             # level 1: calls the inventory dependency
//	curl -i 127.0.0.1:8081/badges                 # level 4: the first to be shed under pressure
//	curl -i -H 'Bulwark-Color: stress' 127.0.0.1:8081/products/7   # colored: "storage":"shadow"
//	curl -s 127.0.0.1:8081/metrics | grep bulwark_
//
// With -dependency URL it calls a real inventory service (GET URL/stock/{id}); without it, it
// starts a small one on a loopback port. It stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/degrade"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/observe"
	"github.com/bulwark-go/bulwark/overload"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	dep := fs.String("dependency", "", "inventory base URL; empty starts a built-in one on loopback")
	workers := fs.Int("workers", 64, "handlers running at once (more wait, up to 500 ms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	if *dep == "" {
		inv, err := startInventory()
		if err != nil {
			return err
		}
		defer inv.Close()
		*dep = "http://" + inv.Addr().String()
	}

	// Outgoing: a breaker and an EMA timeout per host, and a fallback when inventory is sick.
	inventoryDegrade, err := degrade.New()
	if err != nil {
		return err
	}
	transport, err := httpmw.Transport(nil, httpmw.WithName("inventory"), httpmw.WithLogger(logger),
		httpmw.WithPropagator(observe.HTTP{}), // W3C trace context and baggage (with the color) onward
		httpmw.WithDegrade(inventoryDegrade, unknownStock))
	if err != nil {
		return err
	}
	svc := &service{inventory: &http.Client{Transport: transport}, dep: strings.TrimSuffix(*dep, "/")}

	// Incoming: BBR on a real CPU reading, levels by route, overload reports, bounded workers.
	cpu, err := adaptive.NewCPUSampler()
	if err != nil {
		return err
	}
	cpu.Start()
	defer cpu.Stop()
	bbr, err := adaptive.New(adaptive.WithCPU(cpu))
	if err != nil {
		return err
	}
	detector, err := overload.New(overload.WithWorkers(*workers))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", svc.product)
	mux.HandleFunc("GET /badges", svc.badges)
	protected, err := httpmw.Protect(mux, httpmw.WithName("service"), httpmw.WithLogger(logger),
		httpmw.WithPropagator(observe.HTTP{}),
		httpmw.WithLimiter(bbr), httpmw.WithOverload(detector, 0), httpmw.WithWorkers(*workers, 0, 0),
		httpmw.WithLevels(map[string]int{"/products/": 1, "/badges": 4}))
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(protected, transport)
	root := http.NewServeMux()
	root.Handle("/", protected)
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: root, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "service listening on http://%s (inventory %s)\n", ln.Addr(), svc.dep)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "service stopped")
	return nil
}

type service struct {
	inventory *http.Client
	dep       string
}

type stock struct {
	ID       string `json:"id"`
	InStock  *int   `json:"in_stock"` // null when the inventory could not say
	Degraded bool   `json:"degraded,omitempty"`
}

// product answers a product page. Its call to inventory carries this request's context, so the
// caller's deadline, trace context and color travel on.
func (s *service) product(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, s.dep+"/stock/"+id, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := s.inventory.Do(req)
	if err != nil {
		http.Error(w, "inventory: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var st stock
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		http.Error(w, "inventory: "+err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, map[string]any{"product": id, "stock": st, "storage": storage(r.Context())})
}

func (s *service) badges(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"badges": []string{"new"}, "storage": storage(r.Context())})
}

// storage is where this request's writes would go: colored (load-test) traffic uses shadow
// storage, so a load test never touches production data (SEEDS.md C4).
func storage(ctx context.Context) string {
	if color.From(ctx) != "" {
		return "shadow"
	}
	return "production"
}

// unknownStock is the fallback when the inventory call is degraded, refused or failed: the
// page still renders, without a stock count (SEEDS.md B8).
func unknownStock(r *http.Request, cause error) (*http.Response, error) {
	id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	body, _ := json.Marshal(stock{ID: id, Degraded: true})
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(body))), ContentLength: int64(len(body)), Request: r,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		slog.Warn("write", "err", err)
	}
}

// startInventory serves GET /stock/{id} on a loopback port: the stand-in dependency.
func startInventory() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stock/{id}", func(w http.ResponseWriter, r *http.Request) {
		n := len(r.PathValue("id")) * 3
		writeJSON(w, stock{ID: r.PathValue("id"), InStock: &n})
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	return ln, nil
}
