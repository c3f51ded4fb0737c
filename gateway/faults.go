package gateway

// Fault injection (SEEDS.md C1): delays and aborts that the admin API adds at run time, with
// guards on their blast radius.
//
// Decisions where the issue is silent:
//   - Place: after the degrade switch and after the request body is buffered, just before the
//     local attempt ("degrade switch → fault injection → local center"). The body is read first
//     so that an aborted request can fail over with its body, like a real failure.
//   - A delay waits (on the gateway clock, while holding the request's admission slot, as a
//     slow upstream would), then the request goes on normally. A client that goes away or a
//     Bulwark-Deadline that passes ends the wait early; the normal path then answers.
//   - An abort is an injected upstream failure: the local attempt counts as failed with reason
//     5xx, so failover runs exactly as for a real 5xx (rules, retry window, method, body). With
//     no failover the gateway answers the fault's status (500..599, default 503) itself, with
//     Bulwark-Reject: fault_injected and outcome upstream_error. No local host is touched, so
//     breakers and host states are not fed by injected failures.
//   - Every response to a request a fault hit carries Bulwark-Fault: <id>, the failed-over
//     one included.
//   - A write that a non-primary gateway forwards to the primary meets the primary's faults,
//     not this gateway's.
//   - At most one fault applies to a request: the oldest that matches and whose percent roll
//     fires.
//   - route matches the route's name (its metrics label; default its path). A level-1 service,
//     or a route of level 1, needs allow_level1: true; without a route, every route of the
//     service counts.
//   - percent is in (0, faults.max_percent]; ttl in (0, 1h]; delay in (0, 1m].
//   - match_header "Name: value" matches requests whose first Name header equals value exactly.
//   - Faults are run-time state: a reload keeps them, except those whose service (or route) is
//     gone; a reload to faults.enabled: false drops them all (a kill switch). They are never
//     written anywhere; a restart drops them.
//   - Errors: a bad body or field is 400 naming the field (an unknown service too), a level-1
//     refusal and disabled faults are 403, an unknown id on DELETE is 404.
//   - An expired fault stops matching at once; it is removed from the list by the first request
//     or admin call that sees it expired.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// HeaderFault names the fault that hit a request, on its response.
const HeaderFault = "Bulwark-Fault"

// Fault kinds.
const (
	FaultDelay = "delay"
	FaultAbort = "abort"
)

// Fault guards that are not in the config.
const (
	MaxFaultTTL   = time.Hour
	MaxFaultDelay = time.Minute
)

// Errors of the fault API. Every error that AddFault returns matches one of the first three
// under errors.Is.
var (
	ErrFaultsDisabled = errors.New("faults are disabled in the config (faults.enabled: false)")
	ErrBadFault       = errors.New("bad fault")
	ErrFaultRefused   = errors.New("fault refused")
	ErrUnknownFault   = errors.New("unknown fault")
)

// FaultSpec is the body of POST /faults. Durations are Go duration strings ("250ms", "10m").
type FaultSpec struct {
	Service     string  `json:"service"`                // required; a configured service
	Route       string  `json:"route,omitempty"`        // a route name of that service; "" = all
	Kind        string  `json:"kind"`                   // delay or abort
	Delay       string  `json:"delay,omitempty"`        // delay only: (0, 1m]
	Status      int     `json:"status,omitempty"`       // abort only: 500..599; default 503
	Percent     float64 `json:"percent"`                // share of matching requests, in (0, faults.max_percent]
	MatchHeader string  `json:"match_header,omitempty"` // "Name: value"; "" = every request
	TTL         string  `json:"ttl"`                    // required: (0, 1h]; the fault then expires
	AllowLevel1 bool    `json:"allow_level1,omitempty"` // needed for a level-1 service or route
}

// Fault is an active fault as the admin API shows it: its spec with defaults filled, and its
// state.
type Fault struct {
	ID string `json:"id"`
	FaultSpec
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Injected  uint64    `json:"injected"` // requests it hit so far
}

// fault is one active fault. Immutable once published, except injected.
type fault struct {
	view     Fault
	kind     string
	delay    time.Duration
	status   int
	percent  float64
	hdrName  string // canonical; "" = no header condition
	hdrValue string
	expires  time.Duration // g.since() at which it stops matching
	rej      rejection
	counter  prometheus.Counter
	injected atomic.Uint64
}

// faultSet holds the active faults. The request path reads active, one atomic load that is
// nil while no fault exists; changes copy the list under mu.
type faultSet struct {
	mu     sync.Mutex
	list   []*fault
	active atomic.Pointer[[]*fault]
	rnd    func() float64 // in [0, 1); safe for concurrent use
}

func newFaultSet() *faultSet { return &faultSet{rnd: mrand.Float64} }

// publishLocked makes list the one the request path sees.
func (fs *faultSet) publishLocked() {
	if len(fs.list) == 0 {
		fs.active.Store(nil)
		return
	}
	l := slices.Clone(fs.list)
	fs.active.Store(&l)
}

// pruneLocked drops the faults that expired at now or for which drop says so.
func (fs *faultSet) pruneLocked(now time.Duration, drop func(*fault) bool) {
	n := len(fs.list)
	fs.list = slices.DeleteFunc(fs.list, func(f *fault) bool {
		return now >= f.expires || (drop != nil && drop(f))
	})
	if len(fs.list) != n {
		fs.publishLocked()
	}
}

// pick returns the fault to apply to a request of route ro, or nil.
func (fs *faultSet) pick(list []*fault, r *http.Request, ro *route, now time.Duration) *fault {
	expired := false
	for _, f := range list {
		if f.view.Service != ro.svc.name || (f.view.Route != "" && f.view.Route != ro.name) {
			continue
		}
		if now >= f.expires {
			expired = true
			continue
		}
		if f.hdrName != "" && headerValue(r.Header, f.hdrName) != f.hdrValue {
			continue
		}
		if fs.rnd()*100 >= f.percent {
			continue
		}
		if expired {
			fs.expire(now)
		}
		return f
	}
	if expired {
		fs.expire(now)
	}
	return nil
}

func (fs *faultSet) expire(now time.Duration) {
	fs.mu.Lock()
	fs.pruneLocked(now, nil)
	fs.mu.Unlock()
}

// injectFault applies the fault, if any, that hits this request. It reports true when it
// answered the request itself (an abort); after a delay, or with no fault, the caller goes on.
func (g *Gateway) injectFault(w http.ResponseWriter, r *http.Request, x *exchange, body *forward.Body, list []*fault) bool {
	f := g.faults.pick(list, r, x.route, g.since())
	if f == nil {
		return false
	}
	f.injected.Add(1)
	f.counter.Inc()
	w.Header()[HeaderFault] = []string{f.view.ID}
	if f.kind == FaultDelay {
		t := g.clk.NewTimer(f.delay)
		select {
		case <-t.C():
		case <-r.Context().Done():
			t.Stop()
		}
		return false
	}
	g.localFailed(w, r, x, body, attemptResult{reason: config.Reason5xx, rej: f.rej})
	return true
}

// AddFault checks spec against the guards and the config in force, and activates it, on
// every instance of the fleet when there is one. Errors match ErrFaultsDisabled, ErrBadFault
// (the message names the field) or ErrFaultRefused (a level-1 service or route without
// allow_level1); an error wrapping ErrNotShared comes with the fault, active on this instance
// only for now.
func (g *Gateway) AddFault(spec FaultSpec) (Fault, error) {
	st := g.state.Load()
	f, err := newFault(spec, st)
	if err != nil {
		return Fault{}, err
	}
	now := g.clk.Now()
	f.view.CreatedAt, f.view.ExpiresAt = now, now.Add(f.expires)
	f.expires += g.since()
	f.counter = g.metrics.Fault(spec.Service, spec.Kind)
	fs := g.faults
	fs.mu.Lock()
	fs.pruneLocked(g.since(), nil)
	for f.view.ID == "" || slices.ContainsFunc(fs.list, func(o *fault) bool { return o.view.ID == f.view.ID }) {
		f.view.ID = newFaultID()
	}
	fs.list = append(fs.list, f)
	fs.publishLocked()
	fs.mu.Unlock()
	g.log.Warn("fault injected", "id", f.view.ID, "service", spec.Service, "route", spec.Route, "kind", spec.Kind,
		"percent", spec.Percent, "ttl", f.view.TTL, "match_header", spec.MatchHeader)
	view := f.snapshot()
	return view, g.shareFault(view)
}

// newFault checks spec; the returned fault's expires holds the TTL.
func newFault(spec FaultSpec, st *state) (*fault, error) {
	if !config.Bool(st.cfg.Faults.Enabled, true) {
		return nil, ErrFaultsDisabled
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadFault, fmt.Sprintf(format, args...))
	}
	svc := st.services[spec.Service]
	switch {
	case spec.Service == "":
		return nil, bad("service: required; known services: %s", strings.Join(sortedKeys(st.services), ", "))
	case svc == nil:
		return nil, bad("service: unknown service %q; known services: %s", spec.Service, strings.Join(sortedKeys(st.services), ", "))
	}
	level := svc.level
	if spec.Route != "" {
		found := false
		for _, ro := range st.router.routes {
			if ro.svc == svc && ro.name == spec.Route {
				found, level = true, ro.level
			}
		}
		if !found {
			return nil, bad("route: no route named %q serves %s", spec.Route, spec.Service)
		}
	} else {
		for _, ro := range st.router.routes {
			if ro.svc == svc {
				level = min(level, ro.level)
			}
		}
	}
	f := &fault{view: Fault{FaultSpec: spec}, kind: spec.Kind, percent: spec.Percent}
	switch spec.Kind {
	case FaultDelay:
		d, err := time.ParseDuration(spec.Delay)
		switch {
		case spec.Delay == "":
			return nil, bad("delay: required with kind delay; write a duration such as 200ms")
		case err != nil || d <= 0 || d > MaxFaultDelay:
			return nil, bad("delay: %q is not a duration in (0, %s]", spec.Delay, MaxFaultDelay)
		case spec.Status != 0:
			return nil, bad("status: only with kind abort")
		}
		f.delay = d
		f.view.Delay = d.String()
	case FaultAbort:
		if spec.Delay != "" {
			return nil, bad("delay: only with kind delay")
		}
		f.status = spec.Status
		if f.status == 0 {
			f.status = http.StatusServiceUnavailable
		}
		if f.status < 500 || f.status > 599 {
			return nil, bad("status: %d is outside 500..599 (an abort is an injected upstream failure)", spec.Status)
		}
		f.view.Status = f.status
		f.rej = rejection{status: f.status, reason: "fault_injected", outcome: metrics.OutcomeUpstreamError}
	case "":
		return nil, bad("kind: required; write delay or abort")
	default:
		return nil, bad("kind: unknown kind %q; write delay or abort", spec.Kind)
	}
	maxPct := st.cfg.Faults.MaxPercent
	if maxPct == 0 {
		maxPct = config.DefaultFaultMaxPercent
	}
	if !(spec.Percent > 0 && spec.Percent <= maxPct) {
		return nil, bad("percent: %v is outside (0, %v] (faults.max_percent)", spec.Percent, maxPct)
	}
	ttl, err := time.ParseDuration(spec.TTL)
	switch {
	case spec.TTL == "":
		return nil, bad("ttl: required; write a duration up to %s such as 10m", MaxFaultTTL)
	case err != nil || ttl <= 0 || ttl > MaxFaultTTL:
		return nil, bad("ttl: %q is not a duration in (0, %s]", spec.TTL, MaxFaultTTL)
	}
	f.expires = ttl
	f.view.TTL = ttl.String()
	if spec.MatchHeader != "" {
		name, value, ok := strings.Cut(spec.MatchHeader, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenRune(r) }) >= 0 {
			return nil, bad("match_header: %q is not \"Name: value\"", spec.MatchHeader)
		}
		f.hdrName, f.hdrValue = http.CanonicalHeaderKey(name), value
		f.view.MatchHeader = f.hdrName + ": " + value
	}
	if level == 1 && !spec.AllowLevel1 {
		return nil, fmt.Errorf("%w: %s is level 1; set allow_level1: true to inject into it anyway", ErrFaultRefused, spec.Service)
	}
	return f, nil
}

// isTokenRune reports whether r may appear in a header name (RFC 9110 tchar).
func isTokenRune(r rune) bool {
	return r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

// newFaultID is 8 random hex digits.
func newFaultID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (f *fault) snapshot() Fault {
	v := f.view
	v.Injected = f.injected.Load()
	return v
}

// Faults lists the active faults, oldest first. Expired ones are dropped first.
func (g *Gateway) Faults() []Fault {
	fs := g.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.pruneLocked(g.since(), nil)
	out := make([]Fault, 0, len(fs.list))
	for _, f := range fs.list {
		out = append(out, f.snapshot())
	}
	return out
}

// DeleteFault ends the fault id at once. It returns ErrUnknownFault when no active fault has
// that id (an expired one included).
func (g *Gateway) DeleteFault(id string) error {
	fs := g.faults
	fs.mu.Lock()
	fs.pruneLocked(g.since(), nil)
	n := len(fs.list)
	fs.pruneLocked(g.since(), func(f *fault) bool { return f.view.ID == id })
	gone := len(fs.list) < n
	fs.mu.Unlock()
	if !gone {
		return fmt.Errorf("%w %q", ErrUnknownFault, id)
	}
	g.log.Warn("fault removed", "id", id)
	return g.share(nil, []string{prefixFault + id})
}

// pruneFaults drops the faults whose service, or route, the state st no longer has (reload),
// and every fault when st disables faults.
func (g *Gateway) pruneFaults(st *state) {
	fs := g.faults
	enabled := config.Bool(st.cfg.Faults.Enabled, true)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.pruneLocked(g.since(), func(f *fault) bool {
		svc := st.services[f.view.Service]
		if svc == nil || !enabled {
			return true
		}
		if f.view.Route == "" {
			return false
		}
		for _, ro := range st.router.routes {
			if ro.svc == svc && ro.name == f.view.Route {
				return false
			}
		}
		return true
	})
}

// decodeFaultSpec reads a POST /faults body: one JSON object, no unknown fields.
func decodeFaultSpec(r io.Reader) (FaultSpec, error) {
	var spec FaultSpec
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return FaultSpec{}, fmt.Errorf("%w: body: %v", ErrBadFault, err)
	}
	if dec.More() {
		return FaultSpec{}, fmt.Errorf("%w: body: more than one JSON value", ErrBadFault)
	}
	return spec, nil
}

// faultsOff answers 403 when faults are disabled in the config in force.
func (g *Gateway) faultsOff(w http.ResponseWriter) bool {
	if config.Bool(g.Config().Faults.Enabled, true) {
		return false
	}
	writeJSON(w, http.StatusForbidden, map[string]string{"error": ErrFaultsDisabled.Error()})
	return true
}

func (g *Gateway) handleListFaults(w http.ResponseWriter, _ *http.Request) {
	if g.faultsOff(w) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"faults": g.Faults()})
}

func (g *Gateway) handleAddFault(w http.ResponseWriter, r *http.Request) {
	if g.faultsOff(w) {
		return
	}
	spec, err := decodeFaultSpec(http.MaxBytesReader(w, r.Body, 64<<10))
	var f Fault
	if err == nil {
		f, err = g.AddFault(spec)
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, f)
	case errors.Is(err, ErrNotShared):
		writeJSON(w, http.StatusCreated, struct {
			Fault
			Warning string `json:"warning"`
		}{f, err.Error()})
	case errors.Is(err, ErrFaultsDisabled), errors.Is(err, ErrFaultRefused):
		writeJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
}

func (g *Gateway) handleDeleteFault(w http.ResponseWriter, r *http.Request) {
	if g.faultsOff(w) {
		return
	}
	id := r.PathValue("id")
	err := g.DeleteFault(id)
	switch {
	case errors.Is(err, ErrNotShared):
		writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "warning": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"deleted": id})
	}
}
