package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metric family names of the fleet features (issue 6): Redis health, the cluster rate limit,
// the proxy cache, the DR cache and the fallback pool. They are read from the Snapshot at
// scrape time, like the gauges, so they cost the request path nothing here; the counters are
// kept by their owners.
const (
	NameFleetRedisUp     = "bulwark_fleet_redis_up"
	NameFleetRedisErrors = "bulwark_fleet_redis_errors_total"
	NameRateLimitMode    = "bulwark_rate_limit_mode"
	NameCacheLookups     = "bulwark_cache_lookups_total"
	NameCacheHits        = "bulwark_cache_hits_total"
	NameCacheSkipped     = "bulwark_cache_skipped_total"
	NameDRLookups        = "bulwark_dr_cache_lookups_total"
	NameDRHitRatio       = "bulwark_dr_cache_hit_ratio"
	NameFallbacks        = "bulwark_fallback_requests_total"
)

// FleetNames returns the families exported only when a feature is configured: the fleet
// section (Redis health, cluster limits), a proxy cache, a DR cache or fallback upstreams.
// They are a subset of Names.
func FleetNames() []string {
	return []string{NameFleetRedisUp, NameFleetRedisErrors, NameRateLimitMode, NameCacheLookups, NameCacheHits,
		NameCacheSkipped, NameDRLookups, NameDRHitRatio, NameFallbacks}
}

// Rate-limit modes: a cluster limit is in cluster mode while Redis answers, and falls back to
// local mode (limit / live instances) while it does not.
const (
	ModeCluster = "cluster"
	ModeLocal   = "local"
)

// FleetSnapshot is the fleet part of a Snapshot; nil when the gateway has no fleet section
// (then only the per-service cache, DR and fallback counts are exported).
type FleetSnapshot struct {
	RedisUp     bool   // bulwark_fleet_redis_up
	RedisErrors uint64 // bulwark_fleet_redis_errors_total: failed Redis operations
}

// CacheSnapshot is the proxy cache's shared counts (one cache serves every service).
type CacheSnapshot struct {
	HitsL1, HitsL2    uint64 // bulwark_cache_hits_total{level}
	TooLarge, Corrupt uint64 // bulwark_cache_skipped_total{reason}
}

// ServiceFleetSnapshot is one service's fleet counts. Only the features the service has
// configured are exported.
type ServiceFleetSnapshot struct {
	LimitMode string // ModeCluster or ModeLocal for a cluster rate limit; "" otherwise

	Cache                   bool   // the service has a proxy cache
	CacheHit, CacheMiss     uint64 // bulwark_cache_lookups_total{service,result}
	DR                      bool   // the service has a DR cache
	DRHit, DRMiss           uint64 // bulwark_dr_cache_lookups_total{service,result}
	Fallback                bool   // the service has fallback upstreams
	FallbackOK, FallbackErr uint64 // bulwark_fallback_requests_total{service,result}
}

// fleetDescs are the fleet families; the snapshot collector sends them from the same
// snapshot as the gauges, so one scrape calls the snapshot callback once.
type fleetDescs struct {
	up, errors, mode, lookups, hits, skipped, drLookups, drRatio, fallbacks *prometheus.Desc
}

func newFleetDescs() fleetDescs {
	return fleetDescs{
		up: prometheus.NewDesc(NameFleetRedisUp,
			"1 while the last Redis operation of the fleet succeeded; 0 while the gateway works on local state.", nil, nil),
		errors: prometheus.NewDesc(NameFleetRedisErrors, "Redis operations of the fleet that failed.", nil, nil),
		mode: prometheus.NewDesc(NameRateLimitMode,
			"1 for the cluster rate limit's current mode (cluster, or local while Redis is unreachable).",
			[]string{"service", "mode"}, nil),
		lookups: prometheus.NewDesc(NameCacheLookups, "Proxy cache lookups by result (hit or miss).",
			[]string{"service", "result"}, nil),
		hits: prometheus.NewDesc(NameCacheHits, "Proxy cache hits by level: l1 (this gateway) or l2 (Redis).",
			[]string{"level"}, nil),
		skipped: prometheus.NewDesc(NameCacheSkipped,
			"Cache values skipped, never served: too_large to store, or corrupt when read.", []string{"reason"}, nil),
		drLookups: prometheus.NewDesc(NameDRLookups,
			"DR cache lookups after every upstream failed, by result (hit: answered from the DR cache).",
			[]string{"service", "result"}, nil),
		drRatio: prometheus.NewDesc(NameDRHitRatio, "DR cache hits / lookups since start; 0 before any lookup.",
			[]string{"service"}, nil),
		fallbacks: prometheus.NewDesc(NameFallbacks,
			"Requests sent to the fallback upstreams after the local center and the failover failed, by result.",
			[]string{"service", "result"}, nil),
	}
}

func (c *fleetDescs) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.errors, c.mode, c.lookups, c.hits, c.skipped, c.drLookups, c.drRatio, c.fallbacks} {
		ch <- d
	}
}

func (c *fleetDescs) collect(ch chan<- prometheus.Metric, s Snapshot) {
	if f := s.Fleet; f != nil {
		gauge(ch, c.up, boolValue(f.RedisUp))
		counter(ch, c.errors, f.RedisErrors)
	}
	if cs := s.Cache; cs != nil {
		counter(ch, c.hits, cs.HitsL1, "l1")
		counter(ch, c.hits, cs.HitsL2, "l2")
		counter(ch, c.skipped, cs.TooLarge, "too_large")
		counter(ch, c.skipped, cs.Corrupt, "corrupt")
	}
	seen := make(map[string]bool, len(s.Services))
	for _, svc := range s.Services {
		if seen[svc.Name] {
			continue
		}
		seen[svc.Name] = true
		fs := svc.Fleet
		if fs.LimitMode != "" {
			gauge(ch, c.mode, boolValue(fs.LimitMode == ModeCluster), svc.Name, ModeCluster)
			gauge(ch, c.mode, boolValue(fs.LimitMode == ModeLocal), svc.Name, ModeLocal)
		}
		if fs.Cache {
			counter(ch, c.lookups, fs.CacheHit, svc.Name, "hit")
			counter(ch, c.lookups, fs.CacheMiss, svc.Name, "miss")
		}
		if fs.DR {
			counter(ch, c.drLookups, fs.DRHit, svc.Name, "hit")
			counter(ch, c.drLookups, fs.DRMiss, svc.Name, "miss")
			ratio := 0.0
			if n := fs.DRHit + fs.DRMiss; n > 0 {
				ratio = float64(fs.DRHit) / float64(n)
			}
			gauge(ch, c.drRatio, ratio, svc.Name)
		}
		if fs.Fallback {
			counter(ch, c.fallbacks, fs.FallbackOK, svc.Name, "ok")
			counter(ch, c.fallbacks, fs.FallbackErr, svc.Name, "error")
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// counter sends one counter sample, or an invalid metric when a label value is not valid UTF-8.
func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
