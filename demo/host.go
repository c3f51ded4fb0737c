package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/overload"
)

// Behavior is what a simulated host does; every field can change while it runs (SetBehavior).
type Behavior struct {
	Workers   int           // requests served at once; more wait for a worker (≥ 1)
	Latency   time.Duration // mean service time
	Jitter    float64       // service time is Latency × (1 ± Jitter), uniform; 0..1
	ErrorRate float64       // share of requests answered 500, 0..1
	Down      bool          // the host refuses connections (its listener is closed)
}

// Host is a simulated backend host: a real HTTP server on loopback with a fixed number of
// workers, a service-time distribution, an error rate, and overload reporting. Its requests go
// through httpmw.Protect, as a real Bulwark service's would: a bounded worker pool (more
// requests wait, up to the queue-wait drop of SEEDS.md B12) and the active-worker overload
// detector (B9), which counts the requests waiting for and holding a worker as active work.
// So its Bulwark-Overload: 1 answers, which move it to the gateway's overloaded state, come
// from the real middleware (the report chain of B9).
//
// GET /healthz answers 200 unless the host is down, outside the middleware, as health checks
// of real services usually are; every other path is served by a worker.
type Host struct {
	Service, Center, Name string

	mu       sync.Mutex // guards behavior changes, srv and ln
	behavior atomic.Pointer[Behavior]
	protect  atomic.Pointer[httpmw.Handler] // replaced when Workers changes
	addr     string
	srv      *http.Server

	served, failed atomic.Int64
	oldReports     atomic.Uint64 // overload reports of replaced handlers
}

// NewHost starts a host on a free loopback port with the given behavior.
func NewHost(service, center, name string, b Behavior) (*Host, error) {
	h := &Host{Service: service, Center: center, Name: name}
	if err := h.apply(b); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.addr = ln.Addr().String()
	h.serve(ln)
	return h, nil
}

// Addr is the host's address (host:port).
func (h *Host) Addr() string { return h.addr }

// Behavior returns the host's current behavior.
func (h *Host) Behavior() Behavior { return *h.behavior.Load() }

// Stats returns the requests served (any status), the 500s it answered, and the answers that
// carried Bulwark-Overload.
func (h *Host) Stats() (served, failed, overloads int64) {
	reports := h.oldReports.Load() + h.protect.Load().Stats().Reports
	return h.served.Load(), h.failed.Load(), int64(reports)
}

// SetBehavior changes what the host does. Going Down closes the listener and every
// connection; coming back up listens again on the same address.
func (h *Host) SetBehavior(b Behavior) error {
	old := h.Behavior()
	if err := h.apply(b); err != nil {
		return err
	}
	switch {
	case b.Down && !old.Down:
		h.mu.Lock()
		srv := h.srv
		h.srv = nil
		h.mu.Unlock()
		if srv != nil {
			_ = srv.Close()
		}
	case !b.Down && old.Down:
		var ln net.Listener
		var err error
		for range 50 { // the port may linger for a moment after Close
			if ln, err = net.Listen("tcp", h.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("demo: host %s back up: %w", h.Name, err)
		}
		h.serve(ln)
	}
	return nil
}

func (h *Host) apply(b Behavior) error {
	if b.Workers < 1 || b.Latency < 0 || b.Jitter < 0 || b.Jitter > 1 || b.ErrorRate < 0 || b.ErrorRate > 1 {
		return fmt.Errorf("demo: host %s: bad behavior %+v", h.Name, b)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.behavior.Load(); cur == nil || cur.Workers != b.Workers {
		d, err := overload.New(overload.WithWorkers(b.Workers))
		if err != nil {
			return err
		}
		p, err := httpmw.Protect(http.HandlerFunc(h.work), httpmw.WithName(h.Name),
			httpmw.WithOverload(d, 100*time.Millisecond), httpmw.WithWorkers(b.Workers, hostQueue, 0))
		if err != nil {
			return err
		}
		if old := h.protect.Swap(p); old != nil {
			h.oldReports.Add(old.Stats().Reports)
		}
	}
	h.behavior.Store(&b)
	return nil
}

// hostQueue is how many requests may wait for a worker. It is deep enough that the queue-wait
// drop (500 ms), not the queue's length, limits waiting, as in the source's design (B12).
const hostQueue = 1024

func (h *Host) serve(ln net.Listener) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// ServeHTTP answers health checks itself and passes everything else through the middleware.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	h.protect.Load().ServeHTTP(w, r)
}

// work is one request's service, run by a worker of the middleware's pool.
func (h *Host) work(w http.ResponseWriter, r *http.Request) {
	b := h.behavior.Load()
	if d := serviceTime(b); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h.served.Add(1)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Backend", h.Name)
	if b.ErrorRate > 0 && rand.Float64() < b.ErrorRate {
		h.failed.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":"simulated failure","host":%q}`+"\n", h.Name)
		return
	}
	fmt.Fprintf(w, `{"service":%q,"center":%q,"host":%q,"path":%q}`+"\n", h.Service, h.Center, h.Name, r.URL.Path)
}

func serviceTime(b *Behavior) time.Duration {
	if b.Latency == 0 {
		return 0
	}
	f := 1.0
	if b.Jitter > 0 {
		f += b.Jitter * (2*rand.Float64() - 1)
	}
	return time.Duration(float64(b.Latency) * f)
}

// Close stops the host.
func (h *Host) Close() error {
	h.mu.Lock()
	srv := h.srv
	h.srv = nil
	h.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
