package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// entryRules are the cheapest checks, made before any other work: block rules and the
// per-key frequency limits of SEEDS.md B13.
type entryRules struct {
	nets    []netip.Prefix // block rules by the peer's address
	headers []headerRule   // block rules by a header pattern
	limits  []*keyLimit
	color   colorGate // who may keep a color (color.go)
}

// headerRule blocks requests whose header matches re. A pattern that is only an anchored
// literal ("^BadBot") is checked with strings.HasPrefix: the same answer for a fraction of
// the cost, on every request.
type headerRule struct {
	header string
	re     *regexp.Regexp
	prefix string // set when the pattern is ^ followed by a literal
}

func (h headerRule) match(r *http.Request) bool {
	v := r.Header.Get(h.header)
	if h.re == nil {
		return strings.HasPrefix(v, h.prefix)
	}
	return h.re.MatchString(v)
}

type keyLimit struct {
	kind, name string // ip | header | query | cookie, and the header/param/cookie name
	paths      []string
	per        time.Duration
	keyed      *ratelimit.Keyed
}

func newEntryRules(cfg *config.Config, clk clock.Clock) (*entryRules, error) {
	e := &entryRules{}
	var err error
	if e.color, err = newColorGate(cfg.Color); err != nil {
		return nil, err
	}
	for i, b := range cfg.Block {
		if b.Re != nil {
			rule := headerRule{header: b.Header, re: b.Re}
			if lit, _ := b.Re.LiteralPrefix(); b.Pattern == "^"+regexp.QuoteMeta(lit) {
				rule.re, rule.prefix = nil, lit
			}
			e.headers = append(e.headers, rule)
			continue
		}
		pfx, err := netip.ParsePrefix(b.CIDR)
		if err != nil { // a single address
			addr, aerr := netip.ParseAddr(b.CIDR)
			if aerr != nil {
				return nil, fmt.Errorf("block[%d].cidr: %w", i, err)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		e.nets = append(e.nets, pfx.Masked())
	}
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
	if len(e.nets) > 0 {
		if ip := clientIP(r); ip.IsValid() {
			for _, n := range e.nets {
				if n.Contains(ip) {
					return true
				}
			}
		}
	}
	for _, h := range e.headers {
		if h.match(r) {
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
