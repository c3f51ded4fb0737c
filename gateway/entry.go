package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// entryRules are the cheapest checks, made before any other work: block rules and the
// per-key frequency limits of SEEDS.md B13.
type entryRules struct {
	blocks []*config.Block
	limits []*keyLimit
}

type keyLimit struct {
	kind, name string // ip | header | query | cookie, and the header/param/cookie name
	paths      []string
	per        time.Duration
	keyed      *ratelimit.Keyed
}

func newEntryRules(cfg *config.Config, clk clock.Clock) (*entryRules, error) {
	e := &entryRules{blocks: cfg.Block}
	for i, l := range cfg.Limits {
		kind, name, _ := strings.Cut(l.Key, ":")
		limit, per := l.Limit, l.Per.D()
		keyed, err := ratelimit.NewKeyed(func() (*ratelimit.SlidingWindow, error) {
			return ratelimit.NewSlidingWindow(limit, per, ratelimit.WithClock(clk))
		}, ratelimit.WithMaxKeys(l.MaxKeys), ratelimit.WithTTL(2*per), ratelimit.WithClock(clk))
		if err != nil {
			return nil, fmt.Errorf("limits[%d]: %w", i, err)
		}
		e.limits = append(e.limits, &keyLimit{kind: kind, name: name, paths: l.Paths, per: per, keyed: keyed})
	}
	return e, nil
}

// blocked reports whether a block rule refuses r.
func (e *entryRules) blocked(r *http.Request) bool {
	if len(e.blocks) == 0 {
		return false
	}
	var ip netip.Addr
	for _, b := range e.blocks {
		if b.Net != nil {
			if !ip.IsValid() {
				ip = clientIP(r)
			}
			if ip.IsValid() && b.Net.Contains(net.IP(ip.AsSlice())) {
				return true
			}
			continue
		}
		if b.Re != nil && b.Re.MatchString(r.Header.Get(b.Header)) {
			return true
		}
	}
	return false
}

// limited returns the window of the first frequency limit that refuses r, or 0.
func (e *entryRules) limited(r *http.Request) time.Duration {
	for _, l := range e.limits {
		if len(l.paths) > 0 && !anyPrefix(r.URL.Path, l.paths) {
			continue
		}
		key := l.key(r)
		if key == "" {
			continue
		}
		if l.keyed.Allow(key) != nil {
			return l.per
		}
	}
	return 0
}

func (l *keyLimit) key(r *http.Request) string {
	switch l.kind {
	case "ip":
		if ip := clientIP(r); ip.IsValid() {
			return ip.String()
		}
		return ""
	case "header":
		return r.Header.Get(l.name)
	case "query":
		return r.URL.Query().Get(l.name)
	case "cookie":
		if c, err := r.Cookie(l.name); err == nil {
			return c.Value
		}
	}
	return ""
}

func anyPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if pathHasPrefix(path, p) {
			return true
		}
	}
	return false
}

// clientIP is the address of the peer that connected to us. X-Forwarded-For is not trusted:
// no layer trusts the one in front of it (SEEDS.md B13).
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
