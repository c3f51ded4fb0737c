package gateway

import (
	"net/http"
	"sort"
	"strings"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// route is one configured route, resolved against its service.
type route struct {
	cfg     *config.Route
	name    string
	host    string   // "" = any host; lower case, no port
	prefix  string   // path prefix
	methods []string // upper case; empty = any
	headers [][2]string
	svc     *service
	level   int
	write   bool
	metrics *metrics.RouteMetrics
	// upstreamHdrs are set on every request to a local host: Bulwark-Level, so that a service
	// behind the gateway (httpmw) can shed by the same level.
	upstreamHdrs [][2]string
}

// router picks the route of a request: host, then the longest path prefix, then methods and
// headers. Routes with a host are tried before routes without one, so a host-specific route
// wins over a catch-all of the same prefix.
type router struct {
	routes  []*route // sorted: host-specific first, then longer prefixes first, then config order
	anyHost bool     // some route matches on the host
}

func newRouter(routes []*route) *router {
	sorted := append([]*route(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if (a.host != "") != (b.host != "") {
			return a.host != ""
		}
		return len(a.prefix) > len(b.prefix)
	})
	rt := &router{routes: sorted}
	for _, ro := range sorted {
		rt.anyHost = rt.anyHost || ro.host != ""
	}
	return rt
}

// match returns the route of r, or nil when none matches.
func (rt *router) match(r *http.Request) *route {
	var host string
	if rt.anyHost {
		host = requestHost(r)
	}
	for _, ro := range rt.routes {
		if ro.host != "" && !strings.EqualFold(ro.host, host) {
			continue
		}
		if !pathHasPrefix(r.URL.Path, ro.prefix) {
			continue
		}
		if len(ro.methods) > 0 && !containsString(ro.methods, r.Method) {
			continue
		}
		if !headersMatch(r.Header, ro.headers) {
			continue
		}
		return ro
	}
	return nil
}

// pathHasPrefix reports whether path is prefix or below it: /api/songs matches /api/songs,
// /api/songs/1 and /api/songs?x, but not /api/songsx. A prefix ending in / matches anything
// under it.
func pathHasPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}

func headersMatch(h http.Header, want [][2]string) bool {
	for _, kv := range want {
		if h.Get(kv[0]) != kv[1] {
			return false
		}
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// requestHost returns the request's host without its port (and without the brackets of an
// IPv6 literal).
func requestHost(r *http.Request) string {
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i > strings.LastIndexByte(host, ']') {
		host = host[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
