// Package gateway is Bulwark's two-center HTTP gateway: a reverse proxy that serves one data
// center and keeps the service available through host failures, a center failure and overload
// (SEEDS.md A1, A2, B1–B13, B16).
//
// A request goes through, cheap checks first (ARCHITECTURE.md "The request path"):
//
//	route → block rules → per-key frequency limits → Bulwark-Deadline → write routing to the
//	primary → route rate limit → level-aware adaptive admission (gateway CPU, BBR) →
//	per-service admission (concurrency bound and pool pressure, with the queue-wait drop) →
//	degrade switch → request body (the traffic recorder samples here) → fault injection →
//	proxy cache (L1 → L2) → local host (P2C, breaker, EMA timeout; one retry on another host
//	if the request was never sent) → on failure: the remote center, bounded by the retry
//	window → the fallback upstreams → the DR cache.
//
// The fleet features (fleet.go: cluster limits, shared switches and faults, the caches, the
// fallback pool) share state with the center's other gateways through Redis when the config
// has a fleet section.
//
// Faults (faults.go) and the recorder (recorder.go) are run-time state driven by the admin
// API; while none is active, each costs the request path one atomic load.
//
// Every response carries Bulwark-Center. Rejections are 429 or 503 with Retry-After and
// Bulwark-Reject (403 for block rules, 404 for no route, 413 for a body over the limit).
// Upstream failures with no failover are answered 502 or 504, or with the upstream's own 5xx.
//
// The configuration is swapped atomically on Reload. In-flight requests finish on the config
// they started with; services whose config did not change keep their pools, breakers, host
// states, retry windows and estimates.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/cpu"
	"github.com/bulwark-go/bulwark/observe"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/shed"
)

// Gateway is one gateway instance. Create it with New, serve with Start, stop with Shutdown.
type Gateway struct {
	clk    clock.Clock // never nil
	epoch  time.Time   // the clock's reading at New; hot paths keep offsets from it
	clkOpt clock.Clock // passed to the algorithm packages (nil = real)
	log    *slog.Logger
	fwd    engine

	metrics  *metrics.Metrics
	switches retry.Switches
	cpu      adaptive.CPU
	sampler  interface {
		Start()
		Stop()
	} // nil when the CPU reading is pinned or injected

	state    atomic.Pointer[state]
	reloadMu sync.Mutex // serializes Reload

	faults *faultSet // run-time faults; they outlive reloads
	rec    *recorder // the traffic recorder

	panics       observe.PanicReporter // recovered panics also go here (Sentry); nil = none
	tel          *telemetry            // tracing, Sentry, the profiler; outlive reloads
	spanExporter sdktrace.SpanExporter // WithSpanExporter; nil = OTLP from the config
	fleet        *fleetRuntime         // shared state (or a local stand-in); outlives reloads
	keepSem      chan struct{}         // cache stores in flight (keepLater)
	keepDropped  atomic.Uint64

	ln, adminLn   net.Listener
	srv, adminSrv *http.Server
	started       atomic.Bool
	stopped       atomic.Bool
	stopOnce      sync.Once
}

// engine sends attempts and writes responses: *forward.Engine, or a stand-in without I/O in
// the decision-chain benchmark.
type engine interface {
	RoundTrip(*forward.Request) (*forward.Response, error)
	WriteResponse(http.ResponseWriter, *forward.Response, [][2]string, []string) error
	Close()
}

// state is everything derived from one config. It is immutable once published, except for the
// run-time state inside services (pools, windows, limiters), which is safe for concurrent use.
type state struct {
	cfg           *config.Config
	loadedAt      time.Time
	router        *router
	entry         *entryRules
	services      map[string]*service
	protection    config.Protection
	bbr           *adaptive.Limiter // nil when protection.adaptive.enabled is false
	admit         *shed.Admitter    // over bbr
	isPrimary     bool
	primaryURL    *url.URL // the primary center's gateway; nil when no center is primary
	remote        string   // the center failovers go to ("" with a single center)
	remoteURL     *url.URL
	accessLog     bool
	successSample float64           // log.success_sample
	keywords      *observe.Keywords // keywords for spans and access logs, masked
	creditCap     int64
	replay        int64
	maxBody       int64
	unrouted      *metrics.RouteMetrics // requests that matched no route
	centerHdr     []string              // the Bulwark-Center value, shared by every rejection
	// failoverHdrs are Bulwark-Failover and Bulwark-Instance for a failover; a write forwarded
	// to the primary sends only the second.
	failoverHdrs [][2]string
}

// Option configures a Gateway.
type Option func(*Gateway)

// WithLogger sets the logger for the access log and events. Default: JSON to stdout.
func WithLogger(l *slog.Logger) Option { return func(g *Gateway) { g.log = l } }

// WithClock sets the clock of every time-dependent part (tests). nil = real.
func WithClock(c clock.Clock) Option { return func(g *Gateway) { g.clkOpt = c } }

// WithCPU injects the CPU reading that the adaptive limiter uses, instead of sampling the
// process (tests, and the demo's simulated load).
func WithCPU(c adaptive.CPU) Option { return func(g *Gateway) { g.cpu = c } }

// WithSpanExporter sends the gateway's spans to e instead of the OTLP exporter of the
// tracing config (tests, or an embedder with its own backend). Tracing must still be enabled
// in the config.
func WithSpanExporter(e sdktrace.SpanExporter) Option { return func(g *Gateway) { g.spanExporter = e } }

// WithListeners makes Start serve on ln (the proxy) and adminLn (the admin API) instead of
// listening on the configured addresses. Either may be nil.
func WithListeners(ln, adminLn net.Listener) Option {
	return func(g *Gateway) { g.ln, g.adminLn = ln, adminLn }
}

// New builds a gateway from a validated config. It opens no socket and starts nothing.
func New(cfg *config.Config, opts ...Option) (*Gateway, error) {
	g := &Gateway{}
	for _, o := range opts {
		o(g)
	}
	g.clk = clock.OrReal(g.clkOpt)
	g.epoch = g.clk.Now()
	if g.log == nil {
		g.log = NewLogger(cfg.Log.Level, nil)
	}
	g.log = slog.New(observe.NewLogHandler(g.log.Handler())) // trace ids on every line with a request context
	g.fwd = forward.New(forward.Options{
		DialTimeout:    cfg.HTTP.DialTimeout.D(),
		MaxIdlePerHost: cfg.HTTP.MaxIdlePerHost,
	})
	g.metrics = metrics.New(g.snapshot)
	g.faults = newFaultSet()
	g.rec = newRecorder(g.clk, g.log)
	if g.cpu == nil {
		if pinned := cfg.Protection.Adaptive.CPU; pinned > 0 {
			g.cpu = pinnedCPU(pinned)
		} else {
			a := cfg.Protection.Adaptive
			s, err := cpu.NewSampler(cpu.WithInterval(a.SampleInterval.D()), cpu.WithDecay(a.SampleDecay))
			if err != nil {
				return nil, fmt.Errorf("gateway: cpu sampler: %w", err)
			}
			g.cpu, g.sampler = s, s
		}
	}
	g.switches.SetGlobal(config.Bool(cfg.Retry.Enabled, true))
	g.keepSem = make(chan struct{}, keepSlots)
	var err error
	if g.tel, err = newTelemetry(g, cfg); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if g.tel.sentry != nil {
		g.panics = g.tel.sentry
	}
	g.metrics.Registry().MustRegister(g.tel.tracing)
	if g.tel.profiler != nil {
		g.metrics.Registry().MustRegister(g.tel.profiler)
	}
	if g.fleet, err = newFleetRuntime(g, cfg); err != nil {
		return nil, err
	}
	st, err := g.build(cfg, nil)
	if err != nil {
		g.fleet.close()
		return nil, err
	}
	g.state.Store(st)
	if err := g.startSharedSwitches(); err != nil {
		g.fleet.close()
		return nil, err
	}
	return g, nil
}

type pinnedCPU int64

func (p pinnedCPU) Usage() int64 { return int64(p) }

// build makes the state of cfg, reusing the services (and the BBR limiter) of old whose
// config did not change.
func (g *Gateway) build(cfg *config.Config, old *state) (*state, error) {
	st := &state{
		cfg:           cfg,
		loadedAt:      g.clk.Now(),
		services:      make(map[string]*service, len(cfg.Services)),
		protection:    cfg.Protection,
		accessLog:     config.Bool(cfg.Log.Access, true),
		successSample: 1,
		creditCap:     int64(cfg.Retry.CreditCap),
		replay:        int64(cfg.Retry.ReplayBuffer),
		maxBody:       int64(cfg.HTTP.MaxBodyBytes),
		centerHdr:     []string{cfg.Center},
		failoverHdrs: [][2]string{
			{HeaderFailover, cfg.Center},
			{HeaderInstance, cfg.Instance},
		},
	}
	var err error
	if cfg.Log.SuccessSample != nil {
		st.successSample = *cfg.Log.SuccessSample
	}
	if st.keywords, err = keywordsFor(cfg); err != nil {
		return nil, err
	}
	if st.entry, err = newEntryRules(cfg, g.clkOpt); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cfg.Centers))
	for name, c := range cfg.Centers {
		names = append(names, name)
		if c.Primary {
			if st.primaryURL, err = url.Parse(c.Gateway); err != nil {
				return nil, fmt.Errorf("centers.%s.gateway: %w", name, err)
			}
			st.isPrimary = name == cfg.Center
		}
	}
	sort.Strings(names)
	for _, name := range names { // the first other center, in name order
		if name != cfg.Center {
			st.remote = name
			if st.remoteURL, err = url.Parse(cfg.Centers[name].Gateway); err != nil {
				return nil, fmt.Errorf("centers.%s.gateway: %w", name, err)
			}
			break
		}
	}

	if config.Bool(cfg.Protection.Adaptive.Enabled, true) {
		if old != nil && old.bbr != nil && reflect.DeepEqual(old.protection, cfg.Protection) {
			st.bbr, st.admit = old.bbr, old.admit
		} else {
			a := cfg.Protection.Adaptive
			if st.bbr, err = adaptive.New(adaptive.WithCPU(g.cpu), adaptive.WithCPUThreshold(a.CPUThreshold),
				adaptive.WithWindow(a.Window.D()), adaptive.WithBuckets(a.Buckets), adaptive.WithClock(g.clkOpt)); err != nil {
				return nil, fmt.Errorf("protection.adaptive: %w", err)
			}
			if st.admit, err = shed.New(st.bbr, shed.WithShares(cfg.Protection.Shares),
				shed.WithQueue(cfg.Protection.Queue), shed.WithMaxWait(cfg.Protection.MaxWait.D()),
				shed.WithClock(g.clkOpt)); err != nil {
				return nil, fmt.Errorf("protection.level_shares: %w", err)
			}
		}
	}

	for name, sc := range cfg.Services {
		if old != nil {
			if prev := old.services[name]; prev != nil && config.Equal(prev.cfg, sc) &&
				reflect.DeepEqual(prev.retry, cfg.Retry) && reflect.DeepEqual(old.cfg.Centers, cfg.Centers) &&
				old.cfg.Center == cfg.Center && reflect.DeepEqual(old.protection.Shares, cfg.Protection.Shares) {
				st.services[name] = prev
				continue
			}
		}
		s, err := newService(g, cfg, sc)
		if err != nil {
			st.stopNew(old)
			return nil, err
		}
		st.services[name] = s
		for _, kind := range []string{FaultDelay, FaultAbort} { // export the fault series at 0
			g.metrics.Fault(name, kind)
		}
	}

	routes := make([]*route, 0, len(cfg.Routes))
	for _, rc := range cfg.Routes {
		svc := st.services[rc.Service]
		level := svc.level
		if rc.Level > 0 {
			level = rc.Level
		}
		ro := &route{cfg: rc, name: rc.Name, host: rc.Host, prefix: rc.Path, methods: rc.Methods,
			svc: svc, level: level, write: rc.Write}
		for k, v := range rc.Headers {
			ro.headers = append(ro.headers, [2]string{http.CanonicalHeaderKey(k), v})
		}
		ro.metrics = g.metrics.Route(ro.name, svc.name, level, cfg.Center)
		ro.upstreamHdrs = [][2]string{{HeaderLevel, strconv.Itoa(level)}}
		routes = append(routes, ro)
	}
	st.router = newRouter(routes)
	st.unrouted = g.metrics.Route("", "", 0, cfg.Center)
	return st, nil
}

// stopNew stops the services of st that old does not share (a failed build).
func (st *state) stopNew(old *state) {
	for name, s := range st.services {
		if old == nil || old.services[name] != s {
			s.stop()
		}
	}
}

// since is the monotonic time since New. Hot paths use it instead of Now, which also reads
// the wall clock: about half the cost on the VMs measured.
func (g *Gateway) since() time.Duration { return g.clk.Since(g.epoch) }

// Config returns the config in force.
func (g *Gateway) Config() *config.Config { return g.state.Load().cfg }

// Reload swaps in cfg, which must be validated. On error the old config keeps running and
// nothing changes. The listeners' addresses cannot change on reload.
func (g *Gateway) Reload(cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.state.Load()
	if changed := config.RestartChanges(old.cfg, cfg); len(changed) > 0 {
		return fmt.Errorf("gateway: reload: %s cannot change on reload; restart the gateway", strings.Join(changed, ", "))
	}
	st, err := g.build(cfg, old)
	if err != nil {
		return fmt.Errorf("gateway: reload: %w", err)
	}
	if old.cfg.Retry.Enabled != nil && cfg.Retry.Enabled != nil && *old.cfg.Retry.Enabled != *cfg.Retry.Enabled ||
		(old.cfg.Retry.Enabled == nil) != (cfg.Retry.Enabled == nil) {
		g.switches.SetGlobal(config.Bool(cfg.Retry.Enabled, true))
	}
	if g.stopped.Load() {
		return errors.New("gateway: reload: the gateway is shut down")
	}
	if g.started.Load() {
		for name, s := range st.services {
			if old.services[name] != s {
				s.start()
			}
		}
	}
	g.state.Store(st)
	g.pruneFaults(st)
	// A new sample_rate in the file applies; an unchanged one leaves a rate set at run time.
	if r, o := cfg.Tracing.SampleRate, old.cfg.Tracing.SampleRate; r != nil && (o == nil || *o != *r) {
		_ = g.tel.tracing.SetSampleRate(*r) // validated by the config
	}
	// Old services that are gone or replaced stop their probes; requests still using them
	// finish normally (a stopped pool still serves picks).
	for name, s := range old.services {
		if st.services[name] != s {
			s.stop()
			if st.services[name] == nil {
				g.switches.Forget(name)
			}
		}
	}
	g.log.Info("config reloaded", "file", cfg.File, "services", len(cfg.Services), "routes", len(cfg.Routes))
	return nil
}

// ReloadFile loads the config from the file the current one came from and reloads it.
func (g *Gateway) ReloadFile() error {
	file := g.Config().File
	if file == "" {
		return errors.New("gateway: reload: the config was not loaded from a file")
	}
	cfg, err := config.Load(file)
	if err != nil {
		g.log.Error("reload refused; the old config keeps running", "error", err.Error())
		return err
	}
	if err := g.Reload(cfg); err != nil {
		g.log.Error("reload refused; the old config keeps running", "error", err.Error())
		return err
	}
	return nil
}

// Start opens the listeners (unless given with WithListeners), starts the probes and the CPU
// sampler, and serves in the background. It returns once the gateway accepts connections.
func (g *Gateway) Start() error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("gateway: already started")
	}
	st := g.state.Load()
	cfg := st.cfg
	var err error
	if g.ln == nil {
		if g.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("gateway: listen: %w", err)
		}
	}
	if g.adminLn == nil && cfg.Admin.Listen != "" {
		if g.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			g.ln.Close()
			return fmt.Errorf("gateway: admin listen: %w", err)
		}
	}
	if cfg.Recorder.Enabled {
		if _, err := g.rec.start(cfg.Recorder, RecorderOverrides{}); err != nil {
			g.ln.Close()
			if g.adminLn != nil {
				g.adminLn.Close()
			}
			return fmt.Errorf("gateway: %w", err)
		}
	}
	if g.sampler != nil {
		g.sampler.Start()
	}
	if err := g.tel.start(); err != nil {
		g.log.Error("profiling not started", "error", err.Error())
	}
	for _, s := range st.services {
		s.start()
	}
	g.srv = &http.Server{
		Handler:           g,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.HTTP.ReadTimeout.D(),
		WriteTimeout:      cfg.HTTP.WriteTimeout.D(),
		IdleTimeout:       cfg.HTTP.IdleTimeout.D(),
		MaxHeaderBytes:    int(cfg.HTTP.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	go func() {
		var err error
		if cfg.TLS != nil {
			err = g.srv.ServeTLS(g.ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			err = g.srv.Serve(g.ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("proxy listener stopped", "error", err.Error())
		}
	}()
	if g.adminLn != nil {
		g.adminSrv = &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := g.adminSrv.Serve(g.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("admin listener stopped", "error", err.Error())
			}
		}()
	}
	g.log.Info("gateway started", "center", cfg.Center, "instance", cfg.Instance,
		"listen", g.ln.Addr().String(), "admin", g.AdminAddr())
	return nil
}

// Addr is the proxy listener's address, once started.
func (g *Gateway) Addr() string {
	if g.ln == nil {
		return ""
	}
	return g.ln.Addr().String()
}

// AdminAddr is the admin listener's address, once started ("" without one).
func (g *Gateway) AdminAddr() string {
	if g.adminLn == nil {
		return ""
	}
	return g.adminLn.Addr().String()
}

// Shutdown stops accepting connections and waits for in-flight requests to finish, up to
// shutdown_grace or ctx's deadline, whichever comes first. Then it stops the probes and the
// sampler. It is safe to call more than once.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.stopOnce.Do(func() {
		g.reloadMu.Lock() // a reload in progress finishes first; later ones are refused
		g.stopped.Store(true)
		g.reloadMu.Unlock()
		st := g.state.Load()
		ctx, cancel := context.WithTimeout(ctx, st.cfg.ShutdownGrace.D())
		defer cancel()
		g.log.Info("gateway draining", "grace", st.cfg.ShutdownGrace.D().String())
		if g.srv != nil {
			err = g.srv.Shutdown(ctx)
		}
		if g.adminSrv != nil {
			actx, acancel := context.WithTimeout(context.Background(), time.Second)
			_ = g.adminSrv.Shutdown(actx)
			acancel()
		}
		g.rec.stop() // after the drain: the last requests' lines are written, then flushed
		for _, s := range g.state.Load().services {
			s.stop()
		}
		if g.sampler != nil {
			g.sampler.Stop()
		}
		g.fleet.close()
		g.tel.stop()
		g.fwd.Close()
		g.log.Info("gateway stopped")
	})
	return err
}

// hostStateChanged returns the callback a pool calls when a host changes state.
func (g *Gateway) hostStateChanged(svc string) func(host string, from, to upstream.State) {
	return func(host string, from, to upstream.State) {
		g.log.Warn("host state changed", "service", svc, "host", host, "from", from.String(), "to", to.String())
	}
}
