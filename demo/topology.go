// Package demo builds the whole Bulwark system in one process: two centers, each with a real
// gateway (the same code as `bulwark gateway`, its config generated in memory) and simulated
// backend hosts, all on loopback with free ports.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/gateway"
	"github.com/bulwark-go/bulwark/gateway/config"
)

// ServiceSpec is one service of the demo topology.
type ServiceSpec struct {
	Name     string
	Level    int
	Path     string // the route prefix
	Write    bool   // a write route: served by the primary center only
	Behavior Behavior
}

// DefaultServices are the demo's services: one per level, and the write route /api/orders
// whose hosts live in the primary center sz.
func DefaultServices() []ServiceSpec {
	// 50 ms service time: long enough that a gateway holds several requests of each level in
	// flight at the story's rates, so level shares of its BBR limit are not rounded to 0 or 1.
	fast := Behavior{Workers: 16, Latency: 50 * time.Millisecond, Jitter: 0.1}
	return []ServiceSpec{
		{Name: "songs", Level: 1, Path: "/api/songs", Behavior: fast},
		{Name: "comments", Level: 2, Path: "/api/comments", Behavior: fast},
		{Name: "avatars", Level: 3, Path: "/api/avatars", Behavior: fast},
		{Name: "badges", Level: 4, Path: "/api/badges", Behavior: fast},
		{Name: "orders", Level: 1, Path: "/api/orders", Write: true, Behavior: fast},
	}
}

// Centers of the demo: sz is primary.
const (
	Primary   = "sz"
	Secondary = "sh"
)

// Options configure a topology. Zero values take the defaults.
type Options struct {
	Services        []ServiceSpec // default DefaultServices()
	HostsPerService int           // per service per center; default 3
	// Log receives the gateways' logs (JSON); nil discards them. Access logs are off.
	Log io.Writer
	// Edit, when set, may change each center's generated config before it is validated.
	Edit func(*config.Config)
	// Addrs, when set, fixes each center's gateway and admin addresses (center → [gateway,
	// admin], e.g. "127.0.0.1:18080"), so that drill files can name them. Default: free ports.
	Addrs map[string][2]string
	// CPU, when set, gives each center's gateway its CPU reading instead of sampling the
	// process (which the demo shares with every gateway, host and load generator).
	CPU func(center string) adaptive.CPU
}

// FixedAddrs are the addresses `bulwark demo --serve` uses, and the shipped drills name.
var FixedAddrs = map[string][2]string{
	Primary:   {"127.0.0.1:18080", "127.0.0.1:18081"},
	Secondary: {"127.0.0.1:18090", "127.0.0.1:18091"},
}

// Center is one data center of the topology.
type Center struct {
	Name     string
	Gateway  *gateway.Gateway
	URL      string // the gateway, http://127.0.0.1:port
	AdminURL string
	Config   *config.Config
}

// Topology is two running centers and their hosts.
type Topology struct {
	Centers  map[string]*Center
	Hosts    map[string]map[string][]*Host // center → service → hosts
	Services []ServiceSpec
}

// Start builds and starts the topology. On error everything started so far is stopped.
func Start(opts Options) (_ *Topology, err error) {
	if opts.Services == nil {
		opts.Services = DefaultServices()
	}
	if opts.HostsPerService == 0 {
		opts.HostsPerService = 3
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	t := &Topology{Centers: map[string]*Center{}, Hosts: map[string]map[string][]*Host{}, Services: opts.Services}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	upstreams := map[string]map[string][]string{} // service → center → addrs
	for _, c := range []string{Primary, Secondary} {
		t.Hosts[c] = map[string][]*Host{}
		for _, s := range opts.Services {
			if s.Write && c != Primary {
				continue
			}
			for i := range opts.HostsPerService {
				h, err := NewHost(s.Name, c, fmt.Sprintf("%s-%s-%d", c, s.Name, i+1), s.Behavior)
				if err != nil {
					return nil, err
				}
				t.Hosts[c][s.Name] = append(t.Hosts[c][s.Name], h)
				if upstreams[s.Name] == nil {
					upstreams[s.Name] = map[string][]string{}
				}
				upstreams[s.Name][c] = append(upstreams[s.Name][c], h.Addr())
			}
		}
	}
	lns := map[string][2]net.Listener{}
	var opened []net.Listener // closed on error; once a gateway serves on them, it owns them
	defer func() {
		if err != nil {
			for _, ln := range opened {
				_ = ln.Close()
			}
		}
	}()
	for _, c := range []string{Primary, Secondary} {
		var pair [2]net.Listener
		for i := range pair {
			addr := "127.0.0.1:0"
			if a, ok := opts.Addrs[c]; ok {
				addr = a[i]
			}
			if pair[i], err = net.Listen("tcp", addr); err != nil {
				return nil, fmt.Errorf("demo: %s: %w", c, err)
			}
			opened = append(opened, pair[i])
		}
		lns[c] = pair
		t.Centers[c] = &Center{Name: c, URL: "http://" + pair[0].Addr().String(), AdminURL: "http://" + pair[1].Addr().String()}
	}
	for _, c := range []string{Primary, Secondary} {
		cfg := t.config(c, lns, upstreams)
		if opts.Edit != nil {
			opts.Edit(cfg)
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("demo: %s config: %w", c, err)
		}
		logger := slog.New(slog.NewJSONHandler(opts.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
		gopts := []gateway.Option{gateway.WithLogger(logger), gateway.WithListeners(lns[c][0], lns[c][1])}
		if opts.CPU != nil {
			gopts = append(gopts, gateway.WithCPU(opts.CPU(c)))
		}
		g, err := gateway.New(cfg, gopts...)
		if err != nil {
			return nil, err
		}
		if err := g.Start(); err != nil {
			return nil, err
		}
		t.Centers[c].Gateway, t.Centers[c].Config = g, cfg
	}
	return t, nil
}

// config generates center c's gateway config.
func (t *Topology) config(c string, lns map[string][2]net.Listener, upstreams map[string]map[string][]string) *config.Config {
	off := false
	cfg := &config.Config{
		Center:   c,
		Instance: c + "-1",
		Listen:   lns[c][0].Addr().String(),
		Admin:    config.Admin{Listen: lns[c][1].Addr().String()},
		Centers: map[string]*config.Center{
			Primary:   {Gateway: "http://" + lns[Primary][0].Addr().String(), Primary: true},
			Secondary: {Gateway: "http://" + lns[Secondary][0].Addr().String()},
		},
		Log: config.Log{Level: "warn", Access: &off},
		// A level-1 request may wait up to 300 ms for a slot of the gateway-wide admission
		// (default 100 ms): the hosts take 50 ms, so a slot frees several times meanwhile.
		Protection: config.Protection{MaxWait: config.Duration(300 * time.Millisecond)},
		Services:   map[string]*config.Service{},
	}
	// What the shipped drills (examples/drills) exercise: a per-user frequency limit on
	// orders and a route rate limit on songs, above what the story sends.
	cfg.Limits = []*config.Limit{{Key: "header:X-User-Id", Limit: 5, Per: config.Duration(time.Second), Paths: []string{"/api/orders"}}}
	for _, s := range t.Services {
		cfg.Services[s.Name] = &config.Service{
			Level:     s.Level,
			Upstreams: upstreams[s.Name],
			Timeout: config.Timeout{Tavg: config.Duration(100 * time.Millisecond),
				Thwm: config.Duration(400 * time.Millisecond), Tmax: config.Duration(time.Second)},
			Health: config.Health{Path: "/healthz", Interval: config.Duration(500 * time.Millisecond)},
			// The story moves in seconds, not minutes. An SRE breaker that has seen 80 % fail
			// recovers over a few windows once its host is well (each window drops a fraction
			// K of what the last one let through fewer); with the default 10 s window and
			// K = 1.5 sh would still refuse songs half-way into the overload phase.
			Breaker: config.Breaker{Window: config.Duration(2 * time.Second), K: 2},
		}
		if s.Name == "songs" {
			cfg.Services[s.Name].RateLimit = &config.RateLimit{Limit: 100, Per: config.Duration(time.Second)}
		}
		methods := []string{"GET", "HEAD"}
		if s.Write {
			methods = []string{"POST"}
		}
		cfg.Routes = append(cfg.Routes, &config.Route{Path: s.Path, Methods: methods, Service: s.Name, Write: s.Write})
	}
	return cfg
}

// Host returns host i of a service in a center, or nil.
func (t *Topology) Host(center, service string, i int) *Host {
	hs := t.Hosts[center][service]
	if i < 0 || i >= len(hs) {
		return nil
	}
	return hs[i]
}

// SetService changes the behavior of every host of a service in a center.
func (t *Topology) SetService(center, service string, b Behavior) error {
	var errs []error
	for _, h := range t.Hosts[center][service] {
		errs = append(errs, h.SetBehavior(b))
	}
	return errors.Join(errs...)
}

// Describe writes the addresses of the gateways, their admin APIs and every host.
func (t *Topology) Describe(w io.Writer) {
	for _, c := range []string{Primary, Secondary} {
		ce := t.Centers[c]
		if ce == nil {
			continue
		}
		role := "read-only"
		if c == Primary {
			role = "primary"
		}
		fmt.Fprintf(w, "center %s (%s): gateway %s  admin %s\n", c, role, ce.URL, ce.AdminURL)
		names := make([]string, 0, len(t.Hosts[c]))
		for s := range t.Hosts[c] {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			fmt.Fprintf(w, "  %-9s", s)
			for _, h := range t.Hosts[c][s] {
				fmt.Fprintf(w, " %s", h.Addr())
			}
			fmt.Fprintln(w)
		}
	}
	for _, s := range t.Services {
		kind := "read"
		if s.Write {
			kind = "write (served by " + Primary + ")"
		}
		fmt.Fprintf(w, "route %-14s -> %-8s level %d  %s\n", s.Path, s.Name, s.Level, kind)
	}
}

// Close stops the gateways and every host.
func (t *Topology) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range t.Centers {
		if c.Gateway != nil {
			errs = append(errs, c.Gateway.Shutdown(ctx))
		}
	}
	for _, byService := range t.Hosts {
		for _, hs := range byService {
			for _, h := range hs {
				errs = append(errs, h.Close())
			}
		}
	}
	return errors.Join(errs...)
}
