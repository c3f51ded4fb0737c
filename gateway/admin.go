package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/shed"
)

// AdminHandler is the admin API (JSON over HTTP). Every endpoint requires
// "Authorization: Bearer <admin.token>" when a token is configured; the token is compared in
// constant time. Endpoints:
//
//	GET  /status                                  centers, services, hosts, windows, estimates
//	GET  /metrics                                 Prometheus
//	GET  /switches                                retry switches and degrade pass fractions
//	PUT  /switches                                change them (see Switches)
//	POST /services/{svc}/hosts/{addr}/drain       take a host out (state offline)
//	POST /services/{svc}/hosts/{addr}/undrain     put it back
//	POST /reload                                  reload the config file
//	GET  /faults                                  the active faults
//	POST /faults                                  inject a fault (see FaultSpec); 201
//	DELETE /faults/{id}                           end a fault
//	POST /cache/invalidate                        drop a cached answer fleet-wide (CacheInvalidation)
//	GET  /tracing, PUT /tracing                   the trace sample rate (TracingStatus)
//	GET  /recorder                                the traffic recorder's status
//	POST /recorder/start                          start recording (optional RecorderOverrides)
//	POST /recorder/stop                           stop recording, after a flush
//	GET  /debug/pprof/...                         Go profiles
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", g.handleStatus)
	mux.Handle("GET /metrics", g.metrics.Handler())
	mux.HandleFunc("GET /switches", g.handleGetSwitches)
	mux.HandleFunc("PUT /switches", g.handlePutSwitches)
	mux.HandleFunc("POST /services/{svc}/hosts/{addr}/drain", g.handleDrain(true))
	mux.HandleFunc("POST /services/{svc}/hosts/{addr}/undrain", g.handleDrain(false))
	mux.HandleFunc("POST /reload", g.handleReload)
	mux.HandleFunc("GET /faults", g.handleListFaults)
	mux.HandleFunc("POST /faults", g.handleAddFault)
	mux.HandleFunc("DELETE /faults/{id}", g.handleDeleteFault)
	mux.HandleFunc("POST /cache/invalidate", g.handleCacheInvalidate)
	mux.HandleFunc("GET /tracing", g.handleGetTracing)
	mux.HandleFunc("PUT /tracing", g.handlePutTracing)
	mux.HandleFunc("GET /recorder", g.handleRecorderStatus)
	mux.HandleFunc("POST /recorder/start", g.handleRecorderStart)
	mux.HandleFunc("POST /recorder/stop", g.handleRecorderStop)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return g.adminAuth(mux)
}

func (g *Gateway) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := g.Config().Admin.Token
		if token != "" {
			scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark-admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Status is the body of GET /status.
type Status struct {
	Center     string          `json:"center"`
	Instance   string          `json:"instance"`
	Primary    bool            `json:"primary"`
	ConfigFile string          `json:"config_file,omitempty"`
	LoadedAt   time.Time       `json:"loaded_at"`
	Centers    []CenterStatus  `json:"centers"`
	CPU        int64           `json:"cpu_permille"`
	Adaptive   *AdaptiveStatus `json:"adaptive,omitempty"`
	Switches   Switches        `json:"switches"`
	Services   []ServiceStatus `json:"services"`
}

// CenterStatus is one center in GET /status.
type CenterStatus struct {
	Name    string `json:"name"`
	Gateway string `json:"gateway"`
	Primary bool   `json:"primary"`
	Self    bool   `json:"self"`
}

// AdaptiveStatus is the gateway-wide BBR limiter and its level-aware admission.
type AdaptiveStatus struct {
	CPU         int64      `json:"cpu_permille"`
	Inflight    int64      `json:"inflight"`
	MaxInflight int64      `json:"max_inflight"` // -1 while there is no estimate
	MinRt       string     `json:"min_rt"`
	MaxPassPS   float64    `json:"max_pass_per_second"`
	Limited     bool       `json:"limited"`
	Admission   shed.Stats `json:"admission"`
}

// Status returns what GET /status shows.
func (g *Gateway) Status() Status {
	st := g.state.Load()
	s := Status{
		Center: st.cfg.Center, Instance: st.cfg.Instance, Primary: st.isPrimary,
		ConfigFile: st.cfg.File, LoadedAt: st.loadedAt, CPU: g.cpu.Usage(),
		Switches: g.Switches(),
	}
	for name, c := range st.cfg.Centers {
		s.Centers = append(s.Centers, CenterStatus{Name: name, Gateway: c.Gateway, Primary: c.Primary, Self: name == st.cfg.Center})
	}
	sort.Slice(s.Centers, func(i, j int) bool { return s.Centers[i].Name < s.Centers[j].Name })
	if st.bbr != nil {
		b := st.bbr.Stats()
		s.Adaptive = &AdaptiveStatus{CPU: b.CPU, Inflight: b.InFlight, MaxInflight: shownLimit(b.MaxInflight),
			MinRt: b.MinRt.String(), MaxPassPS: b.MaxPassPerSecond, Limited: b.Limited, Admission: shownStats(st.admit.Stats())}
	}
	for _, name := range sortedKeys(st.services) {
		svc := st.services[name]
		ss := svc.status()
		ss.Counts = make(map[string]uint64)
		for i, n := range outcomeNames {
			if c := svc.counts[i].Load(); c > 0 {
				ss.Counts[n] = c
			}
		}
		s.Services = append(s.Services, ss)
	}
	return s
}

// shownLimit is a limit as /status shows it: -1 while there is no estimate yet, instead of
// adaptive.Unlimited, which JSON readers cannot hold exactly.
func shownLimit(v int64) int64 {
	if v == adaptive.Unlimited {
		return -1
	}
	return v
}

// shownStats is s with its limits as shownLimit shows them.
func shownStats(s shed.Stats) shed.Stats {
	s.Limit = shownLimit(s.Limit)
	for i := range s.Levels {
		s.Levels[i].Limit = shownLimit(s.Levels[i].Limit)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (g *Gateway) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Status())
}

// Switches is the body of GET and PUT /switches. In a PUT every field is optional: only the
// switches named change. Degrade maps a service to its pass fraction in [0, 1] (0 turns the
// service off: every call gets its fallback).
type Switches struct {
	Retry   RetrySwitches      `json:"retry"`
	Degrade map[string]float64 `json:"degrade"`
}

// sharedWarning is an admin answer for a change that applied here but could not be shared.
type sharedWarning struct {
	Switches
	Warning string `json:"warning"`
}

// RetrySwitches are the failover retry switches of SEEDS.md A2.
type RetrySwitches struct {
	Global   *bool           `json:"global,omitempty"`
	Services map[string]bool `json:"services,omitempty"`
}

// Switches returns the switches in force. Retry.Services lists every configured service's
// own switch; a retry is made only while the global switch and the service's are both on.
func (g *Gateway) Switches() Switches {
	st := g.state.Load()
	snap := g.switches.Snapshot()
	out := Switches{Retry: RetrySwitches{Global: &snap.Global, Services: map[string]bool{}}, Degrade: map[string]float64{}}
	for name, svc := range st.services {
		on, set := snap.Services[name]
		out.Retry.Services[name] = !set || on
		out.Degrade[name] = svc.degrade.Pass()
	}
	return out
}

// SetSwitches applies a change, and shares it with the fleet when there is one. It checks
// everything first and changes nothing on error. An error wrapping ErrNotShared means the
// change is in effect on this instance only, for now (Redis is unreachable).
func (g *Gateway) SetSwitches(in Switches) error {
	if err := g.applySwitches(in); err != nil {
		return err
	}
	g.log.Info("switches changed", "retry_global", in.Retry.Global, "retry_services", in.Retry.Services, "degrade", in.Degrade)
	return g.shareSwitches(in)
}

// applySwitches applies a change to this instance.
func (g *Gateway) applySwitches(in Switches) error {
	st := g.state.Load()
	for name := range in.Retry.Services {
		if st.services[name] == nil {
			return fmt.Errorf("retry.services.%s: unknown service; known: %s", name, strings.Join(sortedKeys(st.services), ", "))
		}
	}
	for name, p := range in.Degrade {
		if st.services[name] == nil {
			return fmt.Errorf("degrade.%s: unknown service; known: %s", name, strings.Join(sortedKeys(st.services), ", "))
		}
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("degrade.%s: pass must be in [0, 1], got %v", name, p)
		}
	}
	if in.Retry.Global != nil {
		g.switches.SetGlobal(*in.Retry.Global)
	}
	for name, on := range in.Retry.Services {
		g.switches.Set(name, on)
	}
	for name, p := range in.Degrade {
		if err := st.services[name].degrade.SetPass(p); err != nil {
			return err
		}
	}
	return nil
}

func (g *Gateway) handleGetSwitches(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.Switches())
}

func (g *Gateway) handlePutSwitches(w http.ResponseWriter, r *http.Request) {
	var in Switches
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad switches body: " + err.Error()})
		return
	}
	err := g.SetSwitches(in)
	switch {
	case errors.Is(err, ErrNotShared):
		writeJSON(w, http.StatusOK, sharedWarning{g.Switches(), err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, g.Switches())
	}
}

// Drain takes a host of a service out of rotation (state offline); Undrain puts it back.
func (g *Gateway) Drain(service, addr string, drain bool) error {
	svc := g.state.Load().services[service]
	if svc == nil {
		return fmt.Errorf("unknown service %q", service)
	}
	if svc.pool == nil {
		return fmt.Errorf("service %q has no hosts in this center", service)
	}
	if drain {
		return svc.pool.Drain(addr)
	}
	return svc.pool.Undrain(addr)
}

func (g *Gateway) handleDrain(drain bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := g.Drain(r.PathValue("svc"), r.PathValue("addr"), drain)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, upstream.ErrUnknownHost) || strings.HasPrefix(err.Error(), "unknown service") {
				status = http.StatusNotFound
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		g.log.Info("host drain changed", "service", r.PathValue("svc"), "host", r.PathValue("addr"), "drained", drain)
		writeJSON(w, http.StatusOK, map[string]any{"service": r.PathValue("svc"), "host": r.PathValue("addr"), "drained": drain})
	}
}

func (g *Gateway) handleReload(w http.ResponseWriter, _ *http.Request) {
	if err := g.ReloadFile(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "file": g.Config().File})
}

// snapshot feeds the scrape-time gauges.
func (g *Gateway) snapshot() metrics.Snapshot {
	st := g.state.Load()
	snap := metrics.Snapshot{CPUPermille: g.cpu.Usage()}
	if st.bbr != nil {
		snap.AdaptiveMaxInflight = st.bbr.Stats().MaxInflight
	}
	for _, name := range sortedKeys(st.services) {
		svc := st.services[name]
		ss := metrics.ServiceSnapshot{Name: name, Inflight: svc.inflight.Load()}
		for c, w := range svc.windows {
			ss.Windows = append(ss.Windows, metrics.WindowSnapshot{Center: c, Size: int(w.Stats().Window)})
		}
		for _, pool := range []*upstream.Pool{svc.pool, svc.shadowHosts(), svc.fleet.fallback} {
			if pool == nil {
				continue
			}
			for _, h := range pool.Hosts() {
				ss.Hosts = append(ss.Hosts, metrics.HostSnapshot{Addr: h.Addr, State: h.State.String(), Breaker: breakerState(h.Breaker)})
			}
		}
		ss.Fleet = svc.fleet.snapshot()
		snap.Services = append(snap.Services, ss)
	}
	if g.fleet.shared {
		fs := g.fleet.f.Stats()
		snap.Fleet = &metrics.FleetSnapshot{RedisUp: fs.Up, RedisErrors: fs.Errors}
	}
	if c := g.fleet.cacheNow(); c != nil {
		cs := c.Stats()
		snap.Cache = &metrics.CacheSnapshot{HitsL1: cs.HitsL1, HitsL2: cs.HitsL2, TooLarge: cs.SkippedTooLarge,
			Corrupt: cs.SkippedCorrupt}
	}
	return snap
}
