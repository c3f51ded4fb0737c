package config

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
)

// fleetLoad loads testdata/fleet.yaml with REDIS_PASSWORD set.
func fleetLoad(t *testing.T) *Config {
	t.Helper()
	t.Setenv("REDIS_PASSWORD", "s3cret")
	cfg, err := Load("testdata/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLoadFleetExample(t *testing.T) {
	cfg := fleetLoad(t)
	wantFleet := &Fleet{
		Redis:        Redis{Addrs: []string{"127.0.0.1:6379"}, Password: "s3cret"},
		SyncInterval: Duration(100 * time.Millisecond), Prefix: "bulwark:",
		OpTimeout: Duration(250 * time.Millisecond), CacheSize: 64 << 20,
	}
	if !reflect.DeepEqual(cfg.Fleet, wantFleet) {
		t.Errorf("fleet = %+v, want %+v", cfg.Fleet, wantFleet)
	}
	s := cfg.Services["songs"]
	if want := (RateLimit{Algorithm: "sliding_window", Limit: 5000, Per: Duration(time.Second), Scope: ScopeCluster}); *s.RateLimit != want {
		t.Errorf("rate_limit = %+v, want %+v", *s.RateLimit, want)
	}
	if s.Cache.TTL.D() != 30*time.Second || s.Cache.Spec.String() != "path,query:page,header:Accept-Language" {
		t.Errorf("cache = %s %q", s.Cache.TTL, s.Cache.Spec)
	}
	if s.DRCache.TTL.D() != 72*time.Hour || s.DRCache.Spec.String() != "path,query:city,query:lat~0.01,query:lng~0.01" {
		t.Errorf("dr_cache = %s %q", s.DRCache.TTL, s.DRCache.Spec)
	}
	if !reflect.DeepEqual(s.FallbackUpstreams, []string{"127.0.0.1:7201"}) {
		t.Errorf("fallback_upstreams = %v", s.FallbackUpstreams)
	}
	if got := lineOf(cfg.lines, "services.songs.dr_cache.key[2]"); got != 19 {
		t.Errorf("line of dr_cache.key[2] = %d, want 19", got)
	}
	// The parsed specs are the fleet's, ready for the gateway: two requests in one geo block
	// share a signature.
	a, okA := s.DRCache.Spec.Key(httptest.NewRequest("GET", "/api/songs?city=sz&lat=22.541&lng=114.059", nil))
	b, okB := s.DRCache.Spec.Key(httptest.NewRequest("GET", "/api/songs?city=sz&lat=22.549&lng=114.051&x=1", nil))
	if !okA || !okB || a != b {
		t.Errorf("signatures %q %v, %q %v; want one block", a, okA, b, okB)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("second Validate: %v", err)
	}
}

func TestParseFleetDefaults(t *testing.T) {
	cfg, err := Parse("gw.yaml", []byte(withFleet+`    rate_limit: {limit: 10, scope: cluster}
    cache: {key: [path]}
    dr_cache: {key: [path, "query:lat~0.5"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Fleet
	if f.SyncInterval.D() != fleet.DefaultSyncInterval || f.Prefix != fleet.DefaultPrefix ||
		f.OpTimeout.D() != fleet.DefaultOpTimeout || f.CacheSize != DefaultCacheSize || f.Redis.DB != 0 {
		t.Errorf("fleet defaults = %+v", f)
	}
	s := cfg.Services["songs"]
	if s.Cache.TTL.D() != DefaultCacheTTL || s.DRCache.TTL.D() != DefaultDRCacheTTL {
		t.Errorf("ttl defaults = %s, %s; want %s, %s", s.Cache.TTL, s.DRCache.TTL, DefaultCacheTTL, DefaultDRCacheTTL)
	}
	if s.RateLimit.Algorithm != "sliding_window" {
		t.Errorf("cluster limit algorithm = %q, want the default sliding_window", s.RateLimit.Algorithm)
	}
	if s.FallbackUpstreams != nil {
		t.Errorf("fallback_upstreams = %v, want none", s.FallbackUpstreams)
	}
}

// Everything but a cluster rate limit works without a fleet: caches are then local.
func TestParseWithoutFleet(t *testing.T) {
	tests := []struct {
		name, yaml string
	}{
		{"no section", withService + `    cache: {key: [path]}
    dr_cache: {key: [path]}
    fallback_upstreams: [127.0.0.1:7201]
    rate_limit: {limit: 10, scope: local}
`},
		{"null section", withService + `    cache: {key: [path]}
fleet:
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("gw.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Fleet != nil {
				t.Errorf("fleet = %+v, want nil", cfg.Fleet)
			}
			if _, ok := cfg.FleetConfig(); ok {
				t.Error("FleetConfig ok without a fleet")
			}
			if cfg.CacheSize() != DefaultCacheSize {
				t.Errorf("CacheSize = %s, want the default", cfg.CacheSize())
			}
			if cfg.Services["songs"].Cache.Spec.String() != "path" {
				t.Errorf("cache spec not parsed without a fleet")
			}
		})
	}
}

func TestParseFleetVariants(t *testing.T) {
	tests := []struct {
		name, fleet string
		check       func(f *Fleet) bool
	}{
		{"sentinel with db", `{redis: {addrs: [10.0.0.1:26379, 10.0.0.2:26379], master_name: mymaster, db: 3}}`,
			func(f *Fleet) bool { return f.Redis.DB == 3 && f.Redis.MasterName == "mymaster" }},
		{"cluster db 0", `{redis: {addrs: [10.0.0.1:6379, 10.0.0.2:6379, "[::1]:6379"]}}`,
			func(f *Fleet) bool { return len(f.Redis.Addrs) == 3 }},
		{"single node db", `{redis: {addrs: [redis.internal:6379], db: 15, username: gw}}`,
			func(f *Fleet) bool { return f.Redis.DB == 15 && f.Redis.Username == "gw" }},
		{"custom", `{redis: {addrs: [127.0.0.1:6379]}, prefix: "prod:{bw}:", sync_interval: 1ms, op_timeout: 1s, cache_size: 1KiB}`,
			func(f *Fleet) bool {
				return f.Prefix == "prod:{bw}:" && f.SyncInterval.D() == time.Millisecond && f.OpTimeout.D() == time.Second && f.CacheSize == 1024
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("gw.yaml", []byte(withService+"fleet: "+tc.fleet+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg.Fleet) {
				t.Errorf("fleet = %+v", cfg.Fleet)
			}
		})
	}
}

func TestValidateFleetInMemory(t *testing.T) {
	c := memoryConfig()
	c.Instance = "sz-1"
	c.Fleet = &Fleet{Redis: Redis{Addrs: []string{"127.0.0.1:6379"}}}
	s := c.Services["songs"]
	s.RateLimit = &RateLimit{Limit: 100, Scope: ScopeCluster}
	s.Cache = &Cache{Key: []string{"path", "query:page"}}
	s.DRCache = &DRCache{Key: []string{"query:lat~0.01"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Cache.Spec.String() != "path,query:page" || s.DRCache.Spec.String() != "query:lat~0.01" || c.Fleet.Prefix != "bulwark:" {
		t.Errorf("Validate did not fill specs or defaults: %q %q %q", s.Cache.Spec, s.DRCache.Spec, c.Fleet.Prefix)
	}
	before := *s.Cache
	if err := c.Validate(); err != nil || !reflect.DeepEqual(*s.Cache, before) {
		t.Errorf("Validate is not idempotent: %v", err)
	}

	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"cluster limit without fleet", func(c *Config) {
			c.Services["songs"].RateLimit = &RateLimit{Limit: 100, Scope: ScopeCluster}
		}, "services.songs.rate_limit.scope: cluster needs the fleet section, which this config does not have: the instances share the limit through Redis; add fleet: {redis: {addrs: [HOST:PORT]}} or write scope: local"},
		{"fleet without instance on port 0", func(c *Config) {
			c.Listen = "127.0.0.1:0"
			c.Fleet = &Fleet{Redis: Redis{Addrs: []string{"127.0.0.1:6379"}}}
		}, "instance: required with a fleet when listen has port 0: the default, hostname:0, would be the same for every such gateway on this host, and the fleet tells instances apart by name; write instance: NAME, unique in the fleet"},
		{"fleet without addrs", func(c *Config) { c.Fleet = &Fleet{} },
			"fleet.redis.addrs: required when fleet is set; list the Redis addresses, e.g. addrs: [127.0.0.1:6379] (or remove fleet to keep all state local)"},
		{"negative db", func(c *Config) { c.Fleet = &Fleet{Redis: Redis{Addrs: []string{"127.0.0.1:6379"}, DB: -1}} },
			"fleet.redis.db: -1 is negative; write 0 or more"},
		{"prefix with a glob", func(c *Config) {
			c.Fleet = &Fleet{Redis: Redis{Addrs: []string{"127.0.0.1:6379"}}, Prefix: "bw*"}
		}, `fleet.prefix: "bw*" holds "*"; a prefix may not hold spaces, control characters or * ? [ ] \ (pub/sub patterns made from it would match other channels), e.g. "bulwark:"`},
		{"bad and repeated key parts", func(c *Config) {
			c.Services["songs"].Cache = &Cache{Key: []string{"path", "body", "query:page", "path"}}
		}, lines(`services.songs.cache.key[1]: "body": unknown part; use method, host, path, query:NAME, query:NAME~STEP or header:NAME`,
			`services.songs.cache.key[3]: "path": listed twice`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := memoryConfig()
			tc.change(c)
			if err := c.Validate(); err == nil || err.Error() != tc.want {
				t.Errorf("Validate() =\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestFleetConfig(t *testing.T) {
	cfg := fleetLoad(t)
	got, ok := cfg.FleetConfig()
	want := fleet.Config{
		Redis:    fleet.RedisConfig{Addrs: []string{"127.0.0.1:6379"}, Password: "s3cret"},
		Instance: "sz-1", Prefix: "bulwark:", SyncInterval: 100 * time.Millisecond, OpTimeout: 250 * time.Millisecond,
	}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("FleetConfig = %+v, %v; want %+v", got, ok, want)
	}
	got.Redis.Addrs[0] = "changed:1"
	if cfg.Fleet.Redis.Addrs[0] != "127.0.0.1:6379" {
		t.Error("FleetConfig shares its address list with the Config")
	}
	if f, err := fleet.New(got); err != nil { // New does not contact Redis
		t.Errorf("fleet.New(FleetConfig()) = %v", err)
	} else if err := f.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if cfg.CacheSize() != 64<<20 {
		t.Errorf("CacheSize = %s", cfg.CacheSize())
	}
}

func TestRestartChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"same", func(*Config) {}, nil},
		{"service cache ttl reloads", func(c *Config) { c.Services["songs"].Cache.TTL = Duration(time.Minute) }, nil},
		{"scope reloads", func(c *Config) { c.Services["songs"].RateLimit.Scope = ScopeLocal }, nil},
		{"fallback reloads", func(c *Config) { c.Services["songs"].FallbackUpstreams = nil }, nil},
		{"redis addr", func(c *Config) { c.Fleet.Redis.Addrs = []string{"127.0.0.1:6380"} }, []string{"fleet"}},
		{"redis password", func(c *Config) { c.Fleet.Redis.Password = "other" }, []string{"fleet"}},
		{"sync interval", func(c *Config) { c.Fleet.SyncInterval = Duration(time.Second) }, []string{"fleet"}},
		{"cache size", func(c *Config) { c.Fleet.CacheSize = 1 << 20 }, []string{"fleet"}},
		{"fleet removed", func(c *Config) { c.Fleet = nil }, []string{"fleet"}},
		{"instance with fleet", func(c *Config) { c.Instance = "sz-2" }, []string{"instance"}},
		{"listeners", func(c *Config) {
			c.Listen, c.Admin.Listen, c.TLS = "127.0.0.1:8090", "127.0.0.1:9902", &TLS{Cert: "c", Key: "k"}
		}, []string{"listen", "admin.listen", "tls"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, cfg := fleetLoad(t), fleetLoad(t)
			tc.change(cfg)
			if got := RestartChanges(old, cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RestartChanges = %v, want %v", got, tc.want)
			}
			if got := RestartChanges(cfg, old); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RestartChanges (swapped) = %v, want %v", got, tc.want)
			}
		})
	}
	// Without a fleet on either side, instance reloads, as it always has.
	a, b := memoryConfig(), memoryConfig()
	a.Instance, b.Instance = "sz-1", "sz-2"
	if got := RestartChanges(a, b); got != nil {
		t.Errorf("instance without a fleet: RestartChanges = %v, want nil", got)
	}
}

func TestSummaryFleet(t *testing.T) {
	cfg := fleetLoad(t)
	var b strings.Builder
	cfg.Summary(&b)
	out := b.String()
	for _, want := range []string{
		"fleet     redis 127.0.0.1:6379 db 0 (password set), prefix bulwark:, sync 100ms, op timeout 250ms, L1 64MiB\n",
		"sliding_window 5000/1s cluster",
		"SERVICE  CACHE",
		"songs    30s path,query:page,header:Accept-Language  72h0m0s path,query:city,query:lat~0.01,query:lng~0.01  127.0.0.1:7201\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("summary prints the Redis password:\n%s", out)
	}
	cfg.Fleet.Redis.MasterName, cfg.Fleet.Redis.Password = "mymaster", ""
	b.Reset()
	cfg.Summary(&b)
	if !strings.Contains(b.String(), "fleet     sentinels 127.0.0.1:6379 master mymaster db 0 (no password)") {
		t.Errorf("sentinel summary:\n%s", b.String())
	}
}

// A validated fleet Config is read by many goroutines at once (requests building cache keys,
// a reload comparing configs) while another one is parsed. Every read must see the same
// values, under -race.
func TestFleetConcurrentUse(t *testing.T) {
	shared := fleetLoad(t)
	spec := shared.Services["songs"].DRCache.Spec
	want, _ := spec.Key(httptest.NewRequest("GET", "/api/songs?city=sz&lat=22.54&lng=114.05", nil))
	const goroutines, rounds = 8, 50
	var keys, parsed, reloadable atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range rounds {
				r := httptest.NewRequest("GET", "/api/songs?city=sz&lat=22.54&lng=114.05", nil)
				if k, ok := spec.Key(r); ok && k == want {
					keys.Add(1)
				}
				if g%2 == 0 {
					cfg, err := Load("testdata/fleet.yaml")
					if err != nil {
						t.Error(err)
						return
					}
					parsed.Add(1)
					if RestartChanges(shared, cfg) == nil && Equal(shared.Services["songs"], cfg.Services["songs"]) {
						reloadable.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if keys.Load() != goroutines*rounds || parsed.Load() != goroutines/2*rounds || reloadable.Load() != parsed.Load() {
		t.Errorf("keys %d, parsed %d, reloadable %d; want %d, %d, %d", keys.Load(), parsed.Load(), reloadable.Load(),
			goroutines*rounds, goroutines/2*rounds, goroutines/2*rounds)
	}
}
