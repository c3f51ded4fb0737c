package config

import (
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/bulwark-go/bulwark/fleet"
)

// Defaults and bounds of the fleet section and of the per-service caches that the fleet
// package does not define (its own are fleet.DefaultSyncInterval, fleet.DefaultPrefix and
// fleet.DefaultOpTimeout).
const (
	DefaultCacheSize  = 64 << 20 // fleet.cache_size, and the L1 size without a fleet
	MinCacheSize      = 1 << 10
	DefaultCacheTTL   = 30 * time.Second // services.NAME.cache.ttl
	DefaultDRCacheTTL = 72 * time.Hour   // services.NAME.dr_cache.ttl
	MinFleetInterval  = time.Millisecond // the least fleet.sync_interval and fleet.op_timeout
	redisExample      = "127.0.0.1:6379"
)

// validateFleet fills and checks the fleet section, if there is one.
func (c *Config) validateFleet(p *problems) {
	f := c.Fleet
	if f == nil {
		return
	}
	r := &f.Redis
	if len(r.Addrs) == 0 {
		p.add("fleet.redis.addrs", "required when fleet is set; list the Redis addresses, e.g. addrs: [%s] (or remove fleet to keep all state local)", redisExample)
	}
	checkHostList(p, "fleet.redis.addrs", r.Addrs, redisExample)
	if len(r.Addrs) > 1 && r.MasterName == "" && r.DB != 0 {
		p.add("fleet.redis.db", "db %d with %d addrs and no master_name: several addresses are a Redis Cluster, which has only db 0; write db: 0, or set master_name if the addresses are Sentinels", r.DB, len(r.Addrs))
	}
	defDur(&f.SyncInterval, fleet.DefaultSyncInterval)
	if f.SyncInterval.D() < MinFleetInterval {
		p.add("fleet.sync_interval", "%s is under 1ms; the fleet would talk to Redis non-stop (default %s)", f.SyncInterval, fleet.DefaultSyncInterval)
	}
	defDur(&f.OpTimeout, fleet.DefaultOpTimeout)
	if f.OpTimeout.D() < MinFleetInterval {
		p.add("fleet.op_timeout", "%s is under 1ms; no Redis operation would finish in time (default %s)", f.OpTimeout, fleet.DefaultOpTimeout)
	}
	defStr(&f.Prefix, fleet.DefaultPrefix)
	if i := strings.IndexFunc(f.Prefix, badPrefixRune); i >= 0 {
		p.add("fleet.prefix", "%q holds %q; a prefix may not hold spaces, control characters or * ? [ ] \\ (pub/sub patterns made from it would match other channels), e.g. %q",
			f.Prefix, f.Prefix[i:i+1], fleet.DefaultPrefix)
	}
	if f.CacheSize == 0 {
		f.CacheSize = DefaultCacheSize
	}
	if f.CacheSize < MinCacheSize {
		p.add("fleet.cache_size", "%s is under the minimum of 1KiB", f.CacheSize)
	}
}

// badPrefixRune reports a rune that fleet.prefix may not hold.
func badPrefixRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`*?[]\`, r)
}

// checkFleetInstance reports a fleet gateway whose instance would default to hostname:0,
// which every gateway on the host listening on port 0 would share. It runs before instance
// is defaulted.
func (c *Config) checkFleetInstance(p *problems) {
	if c.Fleet == nil || c.Instance != "" {
		return
	}
	if _, port, err := net.SplitHostPort(c.Listen); err == nil && port == "0" {
		p.at(lineOf(p.lines, "listen"), "instance", "required with a fleet when listen has port 0: the default, hostname:0, would be the same for every such gateway on this host, and the fleet tells instances apart by name; write instance: NAME, unique in the fleet")
	}
}

// validateServiceFleet fills and checks a service's cache, dr_cache and fallback_upstreams.
func validateServiceFleet(p *problems, path string, s *Service) {
	if ca := s.Cache; ca != nil {
		cpath := join(path, "cache")
		defDur(&ca.TTL, DefaultCacheTTL)
		ca.Spec = parseKeySpec(p, join(cpath, "key"), ca.Key, "cache key", "[path, query:page, header:Accept-Language]")
	}
	if dr := s.DRCache; dr != nil {
		dpath := join(path, "dr_cache")
		defDur(&dr.TTL, DefaultDRCacheTTL)
		dr.Spec = parseKeySpec(p, join(dpath, "key"), dr.Key, "signature", "[path, query:city, query:lat~0.01, query:lng~0.01]")
	}
	checkHostList(p, join(path, "fallback_upstreams"), s.FallbackUpstreams, "10.0.0.9:8080")
}

// parseKeySpec parses a cache key or DR signature with fleet.ParseKeySpec and reports every
// element that it refuses, at that element: each element is parsed after the good ones before
// it, so that a part listed twice is blamed where it repeats. what names the list in the
// message and example is a valid one. It returns the zero KeySpec on a problem.
func parseKeySpec(p *problems, path string, key []string, what, example string) fleet.KeySpec {
	if len(key) == 0 {
		p.add(path, "required; list the request parts the %s is made of, e.g. %s (parts: method, host, path, query:NAME, query:NAME~STEP, header:NAME)", what, example)
		return fleet.KeySpec{}
	}
	good := make([]string, 0, len(key))
	for i, part := range key {
		if _, err := fleet.ParseKeySpec(append(good, part)); err != nil {
			msg := strings.TrimPrefix(err.Error(), "fleet: ")
			msg = strings.TrimPrefix(msg, fmt.Sprintf("key part [%d] ", len(good)))
			p.add(index(path, i), "%s", msg)
			continue
		}
		good = append(good, part)
	}
	if len(good) < len(key) {
		return fleet.KeySpec{}
	}
	spec, err := fleet.ParseKeySpec(key)
	if err != nil { // not reached: every element parsed after the ones before it
		p.add(path, "%s", strings.TrimPrefix(err.Error(), "fleet: "))
	}
	return spec
}

// checkRateLimitScope fills and checks the scope of a rate limit whose algorithm has been
// checked: cluster needs the fleet section and the sliding window, the one algorithm the
// fleet keeps in Redis.
func checkRateLimitScope(p *problems, path string, r *RateLimit, hasFleet bool) {
	defStr(&r.Scope, ScopeLocal)
	spath := join(path, "scope")
	switch {
	case r.Scope == ScopeLocal:
	case r.Scope != ScopeCluster:
		p.add(spath, "unknown scope %q; write local (the limit holds in this gateway) or cluster (in all the fleet's gateways together)", r.Scope)
	case !hasFleet:
		p.add(spath, "cluster needs the fleet section, which this config does not have: the instances share the limit through Redis; add fleet: {redis: {addrs: [HOST:PORT]}} or write scope: local")
	case r.Algorithm != "sliding_window":
		p.add(spath, "cluster works only with algorithm sliding_window (the fleet keeps the cluster's counts as a sliding window in Redis), not %s; write algorithm: sliding_window or scope: local", r.Algorithm)
	}
}

// checkHostList checks a list of host:port addresses, none listed twice.
func checkHostList(p *problems, path string, hosts []string, example string) {
	seen := map[string]int{}
	for i, h := range hosts {
		hpath := index(path, i)
		if !checkHostPort(p, hpath, h, false, example) {
			continue
		}
		if first, dup := seen[h]; dup {
			p.add(hpath, "%q is listed twice (also %s)", h, index(path, first))
		}
		seen[h] = i
	}
}

// CacheSize is the byte bound of the proxy cache's L1 in this gateway: fleet.cache_size, or
// DefaultCacheSize without a fleet.
func (c *Config) CacheSize() Size {
	if c.Fleet == nil || c.Fleet.CacheSize == 0 {
		return DefaultCacheSize
	}
	return c.Fleet.CacheSize
}

// FleetConfig returns the fleet.Config of the fleet section, with Instance set to this
// gateway's instance; the caller adds Logger and Clock. ok is false when there is no fleet
// section, and everything is local. Call it on a validated Config, whose defaults are filled.
func (c *Config) FleetConfig() (cfg fleet.Config, ok bool) {
	f := c.Fleet
	if f == nil {
		return fleet.Config{}, false
	}
	return fleet.Config{
		Redis: fleet.RedisConfig{
			Addrs: append([]string(nil), f.Redis.Addrs...), Username: f.Redis.Username,
			Password: f.Redis.Password, DB: f.Redis.DB, MasterName: f.Redis.MasterName,
		},
		Instance:     c.Instance,
		Prefix:       f.Prefix,
		SyncInterval: f.SyncInterval.D(),
		OpTimeout:    f.OpTimeout.D(),
	}, true
}
