package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/gateway/metrics"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// Fleet features (issue 6; SEEDS.md B2, B11, B14):
//   - The fleet (the config's fleet section) is made at New and kept for the gateway's life;
//     a reload cannot change it. Without a fleet section the gateway still has a local Fleet,
//     so a service's cache and DR cache work in this gateway alone.
//   - Proxy cache (services.X.cache): one fleet.Cache ("proxy") for every service, keyed by
//     service, method and the service's key spec. A GET or HEAD without Authorization is
//     looked up after fault injection, just before the local attempt; a hit is answered with
//     Bulwark-Cache: hit. A miss goes upstream, and a 200/203/301/404 answer that may be
//     stored (storable) is kept for cache.ttl. Concurrent misses each go upstream (the
//     library's Cache.Get has singleflight; a streaming proxy does not wait on another
//     request's body).
//   - DR cache (services.X.dr_cache): every 2xx answer to a cacheable request is recorded
//     under its generalized signature; when the local attempt, the failover and the fallback
//     pool have all failed, the winning answer for the signature is served with
//     Bulwark-Degraded: dr-cache.
//   - Fallback pool (services.X.fallback_upstreams): tried once after the local center and the
//     remote failover failed, for requests the failover rules would have sent (not writes).
//   - Cluster rate limit (rate_limit.scope: cluster): fleet.Limiter in place of the local one.

// fleetRuntime is the gateway's part of the fleet.
type fleetRuntime struct {
	f        *fleet.Fleet
	shared   bool // backed by Redis (a fleet section), not Local
	cacheMax int64

	switches *fleet.Switches // shared switches and faults; nil without a fleet section

	mu    sync.Mutex
	cache *fleet.Cache             // the proxy cache; made for the first service that needs it
	dr    map[drKey]*fleet.DRCache // per service and TTL; kept across reloads
}

type drKey struct {
	service string
	ttl     time.Duration
}

func newFleetRuntime(g *Gateway, cfg *config.Config) (*fleetRuntime, error) {
	fc, shared := cfg.FleetConfig()
	if !shared {
		fc = fleet.Config{Instance: cfg.Instance, Local: true}
	}
	if fc.Instance == "" { // a config built in memory without Validate's default
		fc.Instance = "gateway"
	}
	fc.Logger, fc.Clock = g.log, g.clkOpt
	f, err := fleet.New(fc)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return &fleetRuntime{f: f, shared: shared, cacheMax: int64(cfg.CacheSize()), dr: map[drKey]*fleet.DRCache{}}, nil
}

// proxyCache returns the proxy cache, making it on first use.
func (fr *fleetRuntime) proxyCache() (*fleet.Cache, error) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.cache == nil {
		c, err := fleet.NewCache(fr.f, "proxy", fleet.WithCacheL1Bytes(fr.cacheMax))
		if err != nil {
			return nil, err
		}
		fr.cache = c
	}
	return fr.cache, nil
}

// cacheNow returns the proxy cache, or nil when no service has needed it yet.
func (fr *fleetRuntime) cacheNow() *fleet.Cache {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.cache
}

// drCache returns the DR cache of a service with that TTL, making it on first use.
func (fr *fleetRuntime) drCache(service string, ttl time.Duration) (*fleet.DRCache, error) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	k := drKey{service, ttl}
	if d := fr.dr[k]; d != nil {
		return d, nil
	}
	d, err := fleet.NewDRCache(fr.f, "dr-"+service, ttl)
	if err != nil {
		return nil, err
	}
	fr.dr[k] = d
	return d, nil
}

func (fr *fleetRuntime) close() { _ = fr.f.Close() }

// serviceFleet is a service's fleet features; the zero value has none.
type serviceFleet struct {
	cache    *fleet.Cache
	cacheTTL time.Duration
	cacheKey fleet.KeySpec
	varyOK   map[string]bool // headers of the cache key: a response may vary on these only
	dr       *fleet.DRCache
	drKey    fleet.KeySpec
	drVaryOK map[string]bool
	fallback *upstream.Pool
	limiter  *fleet.Limiter // cluster rate limit; also the service's limiter

	cacheHit, cacheMiss, drHit, drMiss, fallbackOK, fallbackErr atomic.Uint64
}

// newServiceFleet makes the fleet features sc configures.
func newServiceFleet(g *Gateway, cfg *config.Config, sc *config.Service) (*serviceFleet, error) {
	sf := &serviceFleet{}
	fr := g.fleet
	if c := sc.Cache; c != nil {
		cache, err := fr.proxyCache()
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		sf.cache, sf.cacheTTL, sf.cacheKey, sf.varyOK = cache, c.TTL.D(), c.Spec, c.Spec.Headers()
	}
	if d := sc.DRCache; d != nil {
		dr, err := fr.drCache(sc.Name, d.TTL.D())
		if err != nil {
			return nil, fmt.Errorf("dr_cache: %w", err)
		}
		sf.dr, sf.drKey, sf.drVaryOK = dr, d.Spec, d.Spec.Headers()
	}
	if len(sc.FallbackUpstreams) > 0 {
		pool, err := upstream.New(upstream.Options{
			Service: sc.Name, Center: "fallback", Hosts: sc.FallbackUpstreams,
			Breaker: sc.Breaker, Health: sc.Health, Passive: sc.Passive, Policy: sc.Balancer.Policy,
			Clock: g.clkOpt, OnStateChange: g.hostStateChanged(sc.Name),
		})
		if err != nil {
			return nil, fmt.Errorf("fallback_upstreams: %w", err)
		}
		sf.fallback = pool
	}
	if rl := sc.RateLimit; rl != nil && rl.Scope == config.ScopeCluster {
		l, err := fleet.NewLimiter(fr.f, sc.Name, rl.Limit, rl.Per.D())
		if err != nil {
			return nil, fmt.Errorf("rate_limit: %w", err)
		}
		sf.limiter = l
	}
	return sf, nil
}

func (sf *serviceFleet) start() {
	if sf.fallback != nil {
		sf.fallback.Start()
	}
}

func (sf *serviceFleet) stop() {
	if sf.fallback != nil {
		sf.fallback.Stop()
	}
	if sf.limiter != nil {
		sf.limiter.Close()
	}
}

// cacheKeyOf is the proxy cache key of r for service svc, or false when r is not cached.
func (sf *serviceFleet) cacheKeyOf(svc string, r *http.Request) (string, bool) {
	if sf.cache == nil || !cacheableRequest(r) {
		return "", false
	}
	k, ok := sf.cacheKey.Key(r)
	if !ok {
		return "", false
	}
	return svc + "\x1f" + r.Method + "\x1f" + k, true
}

// drSignature is r's DR signature, or false when r has none.
func (sf *serviceFleet) drSignature(r *http.Request) (string, bool) {
	if sf.dr == nil || r.Method != http.MethodGet || r.Header.Get("Authorization") != "" {
		return "", false
	}
	return sf.drKey.Key(r)
}

// fromCache answers r from the proxy cache when it holds an answer; it reports whether it did.
func (g *Gateway) fromCache(w http.ResponseWriter, r *http.Request, x *exchange, svc *service, key string) bool {
	sf := svc.fleet
	v, ok := sf.cache.Peek(r.Context(), key)
	if ok {
		cr, err := decodeResponse(v)
		if err == nil {
			sf.cacheHit.Add(1)
			x.outcome = metrics.OutcomeCacheHit
			g.serveCached(w, r, x, cr, [2]string{HeaderCache, "hit"})
			return true
		}
		g.log.Warn("proxy cache: a corrupt entry was skipped", "service", svc.name, "error", err.Error())
	}
	sf.cacheMiss.Add(1)
	return false
}

// maxCaptured bounds the body kept for the caches: the fleet's largest value.
const maxCaptured = fleet.DefaultCacheMaxValue

// lastResortReasons are the local failures that the fallback pool and the DR cache answer:
// an outage, not a deliberate refusal (a rate limit).
var lastResortReasons = map[string]bool{config.ReasonConnectError: true, config.ReasonTimeout: true,
	config.Reason5xx: true, config.ReasonBreakerOpen: true}

// keepSlots bounds the stores in flight; a store that finds no slot is dropped (the next miss
// stores the answer again).
const keepSlots = 64

// keepLater stores the capture on another goroutine, after the handler returned: the client
// has its answer before the cache write starts.
func (g *Gateway) keepLater(svc *service, cw *captureWriter, cacheKey, sig string) {
	select {
	case g.keepSem <- struct{}{}:
		go func() {
			defer func() { <-g.keepSem }()
			g.keep(svc, cw, cacheKey, sig)
		}()
	default:
		g.keepDropped.Add(1)
	}
}

// keep stores what cw captured in the proxy cache and the DR cache, as the service has them.
// It runs after the response went out: the Redis write never delays the client.
func (g *Gateway) keep(svc *service, cw *captureWriter, cacheKey, sig string) {
	sf := svc.fleet
	var enc []byte // the encoded response, made once for both caches
	encoded := func(cr cachedResponse) []byte {
		if enc == nil {
			enc = encodeResponse(cr.status, cr.header, cr.body)
		}
		return enc
	}
	if cacheKey != "" {
		if cr, ok := cw.captured(sf.varyOK); ok {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := sf.cache.Set(ctx, cacheKey, encoded(cr), sf.cacheTTL)
			cancel()
			if err != nil && !errors.Is(err, fleet.ErrCacheLocalOnly) && !errors.Is(err, fleet.ErrCacheTooLarge) {
				g.log.Debug("proxy cache: store failed", "service", svc.name, "error", err.Error())
			}
		}
	}
	if sig != "" && cw.status >= 200 && cw.status < 300 {
		if cr, ok := cw.captured(sf.drVaryOK); ok {
			sf.dr.Record(sig, encoded(cr)) // Record copies the value
		}
	}
}

// lastResort runs when the local attempt and the failover gave no good answer: the fallback
// pool, then the DR cache. It reports whether it answered. A colored request never gets
// either: both hold production answers.
func (g *Gateway) lastResort(w http.ResponseWriter, r *http.Request, x *exchange, svc *service, body *forward.Body) bool {
	if x.color != "" {
		return false
	}
	sf := svc.fleet
	if sf.fallback != nil && !x.route.write && svc.methods[r.Method] && (body == nil || body.Replayable()) &&
		r.Context().Err() == nil {
		if resp := g.tryFallback(r, x, svc, body); resp != nil {
			x.outcome = metrics.OutcomeFallback
			g.writeResponse(w, x, svc, resp)
			return true
		}
	}
	if sig, ok := sf.drSignature(r); ok && r.Context().Err() == nil {
		if v, ok := sf.dr.Lookup(r.Context(), sig); ok {
			if cr, err := decodeResponse(v); err == nil {
				sf.drHit.Add(1)
				x.outcome = metrics.OutcomeDRCache
				g.serveCached(w, r, x, cr, [2]string{HeaderDegraded, "dr-cache"})
				return true
			}
		}
		sf.drMiss.Add(1)
	}
	return false
}

// tryFallback sends the request to one fallback host, bounded by the service's tmax and the
// request's deadline. It returns the response when it is not a 5xx.
func (g *Gateway) tryFallback(r *http.Request, x *exchange, svc *service, body *forward.Body) *forward.Response {
	sf := svc.fleet
	a, err := sf.fallback.Acquire(nil)
	if err != nil {
		sf.fallbackErr.Add(1)
		return nil
	}
	x.attempts++
	to := svc.cfg.Timeout.Tmax.D()
	if dl, ok := r.Context().Deadline(); ok {
		to = min(to, time.Until(dl))
	}
	at, hdrs := g.startAttempt(r, x, "fallback", "fallback", a.Host().Addr(), x.route.upstreamHdrs)
	resp, err := g.fwd.RoundTrip(&forward.Request{In: r, Target: a.Host().Addr(), Body: body, Timeout: to,
		SetHeader: hdrs})
	at.done(resp, err)
	lat := a.Elapsed()
	switch {
	case err != nil:
		a.DoneElapsed(upstream.Outcome{Err: upstream.ConnectError, Latency: lat})
		sf.fallbackErr.Add(1)
		return nil
	case resp.StatusCode >= 500:
		a.DoneElapsed(upstream.Outcome{Err: upstream.Status5xx, Latency: lat})
		resp.Discard()
		sf.fallbackErr.Add(1)
		return nil
	}
	a.DoneElapsed(upstream.Outcome{Err: upstream.OK, Latency: lat})
	sf.fallbackOK.Add(1)
	x.host = a.Host().Addr()
	return resp
}

// snapshot is the service's part of the metrics snapshot.
func (sf *serviceFleet) snapshot() metrics.ServiceFleetSnapshot {
	s := metrics.ServiceFleetSnapshot{
		Cache: sf.cache != nil, CacheHit: sf.cacheHit.Load(), CacheMiss: sf.cacheMiss.Load(),
		DR: sf.dr != nil, DRHit: sf.drHit.Load(), DRMiss: sf.drMiss.Load(),
		Fallback: sf.fallback != nil, FallbackOK: sf.fallbackOK.Load(), FallbackErr: sf.fallbackErr.Load(),
	}
	if sf.limiter != nil {
		s.LimitMode = metrics.ModeCluster
		if sf.limiter.Stats().Mode != fleet.ModeCluster {
			s.LimitMode = metrics.ModeLocal
		}
	}
	return s
}

// CacheInvalidation is the body of POST /cache/invalidate: the request whose cached answer
// goes. Only the parts in the service's cache key matter; Method defaults to GET.
type CacheInvalidation struct {
	Service string            `json:"service"`
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url"`               // path and query, e.g. /api/songs/7?page=2
	Host    string            `json:"host,omitempty"`    // for a key with the host part
	Headers map[string]string `json:"headers,omitempty"` // for a key with header parts
}

// ErrBadInvalidation is the error of an invalidation that names no cached service or no URL.
var ErrBadInvalidation = errors.New("bad cache invalidation")

// InvalidateCache drops the cached answer to the request inv describes, in this gateway and,
// through the fleet, in every other. With a fleet it returns fleet.ErrCacheLocalOnly
// (wrapped) when Redis could not be reached: the entry is gone here only.
func (g *Gateway) InvalidateCache(ctx context.Context, inv CacheInvalidation) error {
	svc := g.state.Load().services[inv.Service]
	switch {
	case svc == nil:
		return fmt.Errorf("%w: service: unknown service %q", ErrBadInvalidation, inv.Service)
	case svc.fleet.cache == nil:
		return fmt.Errorf("%w: service: %s has no cache", ErrBadInvalidation, inv.Service)
	case inv.URL == "" || inv.URL[0] != '/':
		return fmt.Errorf("%w: url: %q is not a path such as /api/songs/7?page=2", ErrBadInvalidation, inv.URL)
	}
	if inv.Method == "" {
		inv.Method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, inv.Method, inv.URL, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInvalidation, err)
	}
	r.Host = inv.Host
	for k, v := range inv.Headers {
		r.Header.Set(k, v)
	}
	key, ok := svc.fleet.cacheKeyOf(svc.name, r)
	if !ok {
		return fmt.Errorf("%w: the request has no cache key (method, or a missing ~step parameter)", ErrBadInvalidation)
	}
	err = svc.fleet.cache.Invalidate(ctx, key)
	if errors.Is(err, fleet.ErrCacheLocalOnly) && !g.fleet.shared {
		err = nil // no fleet: this gateway's entry is all there is
	}
	return err
}

func (g *Gateway) handleCacheInvalidate(w http.ResponseWriter, r *http.Request) {
	var inv CacheInvalidation
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	err := g.InvalidateCache(r.Context(), inv)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"invalidated": inv, "shared": g.fleet.shared})
	case errors.Is(err, fleet.ErrCacheLocalOnly):
		writeJSON(w, http.StatusOK, map[string]any{"invalidated": inv, "shared": false, "warning": err.Error()})
	case errors.Is(err, ErrBadInvalidation):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	}
}
