package config

import (
	"net"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// usage records how routes use a service.
type usage struct {
	read  bool // some route without write: true names it
	write bool // some route with write: true names it
}

// validateRoutes fills and checks routes and returns how they use each service.
func (c *Config) validateRoutes(p *problems, primary string) map[string]usage {
	used := map[string]usage{}
	known := strings.Join(sortedKeys(c.Services), ", ")
	if known == "" {
		known = "none"
	}
	seen := map[string]int{} // route identity -> index
	for i, r := range c.Routes {
		path := index("routes", i)
		if r == nil {
			r = &Route{}
			c.Routes[i] = r
		}
		switch {
		case r.Path == "":
			p.add(join(path, "path"), "required; write the path prefix this route serves, e.g. /api/songs")
		case r.Path[0] != '/':
			p.add(join(path, "path"), "%q does not start with /; write a path prefix such as /%s", r.Path, r.Path)
		}
		defStr(&r.Name, r.Path)
		r.Host = strings.ToLower(r.Host)
		if strings.ContainsAny(r.Host, "/ ") {
			p.add(join(path, "host"), "%q is not a host name; write the host only, e.g. api.example.com", r.Host)
		}
		for j, m := range r.Methods {
			r.Methods[j] = strings.ToUpper(m)
			checkMethod(p, index(join(path, "methods"), j), m)
		}
		for name := range r.Headers {
			checkHeaderName(p, join(join(path, "headers"), name), name)
		}
		if r.Level > 4 {
			p.add(join(path, "level"), "level %d is outside 1..4 (0 or no level: the service's level)", r.Level)
		}
		switch _, ok := c.Services[r.Service]; {
		case r.Service == "":
			p.add(join(path, "service"), "required: the route names no service; write service: NAME (known services: %s)", known)
		case !ok:
			p.add(join(path, "service"), "unknown service %q; known services: %s", r.Service, known)
		default:
			u := used[r.Service]
			if r.Write {
				u.write = true
			} else {
				u.read = true
			}
			used[r.Service] = u
		}
		if r.Write && primary == "" && len(c.Centers) > 0 {
			p.add(join(path, "write"), "a write route needs a primary center, and none is; mark the center that takes writes with primary: true")
		}
		id := routeIdentity(r)
		if first, dup := seen[id]; dup {
			where := index("routes", first)
			if l := lineOf(p.lines, where); l > 0 {
				where += " (line " + strconv.Itoa(l) + ")"
			}
			p.add(path, "same host, path, methods and headers as %s; the second can never match", where)
		} else {
			seen[id] = i
		}
	}
	return used
}

// routeIdentity is what makes two routes indistinguishable to the router: host, path, the set
// of methods and the header conditions.
func routeIdentity(r *Route) string {
	methods := slices.Clone(r.Methods)
	slices.Sort(methods)
	methods = slices.Compact(methods)
	headers := make([]string, 0, len(r.Headers))
	for k, v := range r.Headers {
		headers = append(headers, textproto.CanonicalMIMEHeaderKey(k)+"\x00"+v)
	}
	slices.Sort(headers)
	return r.Host + "\x01" + r.Path + "\x01" + strings.Join(methods, ",") + "\x01" + strings.Join(headers, "\x02")
}

// validateLimits fills and checks the entry-layer frequency limits.
func (c *Config) validateLimits(p *problems) {
	for i, l := range c.Limits {
		path := index("limits", i)
		if l == nil {
			l = &Limit{}
			c.Limits[i] = l
		}
		kind, name, hasName := strings.Cut(l.Key, ":")
		switch {
		case l.Key == "":
			p.add(join(path, "key"), "required; write what is counted: ip, header:NAME, query:NAME or cookie:NAME")
		case kind == "ip" && !hasName:
		case (kind == "header" || kind == "query" || kind == "cookie") && name != "" && !strings.ContainsAny(name, " \t:"):
		default:
			p.add(join(path, "key"), "%q is not a limit key; write ip, header:NAME, query:NAME or cookie:NAME", l.Key)
		}
		if l.Limit == 0 {
			p.add(join(path, "limit"), "required, > 0: the requests each key may make per period")
		}
		defDur(&l.Per, time.Second)
		for j, pre := range l.Paths {
			if !strings.HasPrefix(pre, "/") {
				p.add(index(join(path, "paths"), j), "%q does not start with /; write a path prefix such as /api/claim", pre)
			}
		}
		defInt(&l.MaxKeys, 100000)
	}
}

// validateBlock checks the block rules and fills their Net or Re.
func (c *Config) validateBlock(p *problems) {
	for i, b := range c.Block {
		path := index("block", i)
		if b == nil {
			b = &Block{}
			c.Block[i] = b
		}
		b.Net, b.Re = nil, nil
		switch {
		case b.CIDR == "" && b.Header == "":
			p.add(path, "set exactly one of cidr (e.g. 203.0.113.0/24) or header (with pattern); neither is set")
		case b.CIDR != "" && b.Header != "":
			p.add(path, "set exactly one of cidr or header, not both; write two rules")
		case b.CIDR != "":
			if b.Pattern != "" {
				p.add(join(path, "pattern"), "applies only to header rules; remove it or use header instead of cidr")
			}
			if n := parseCIDR(b.CIDR); n != nil {
				b.Net = n
			} else {
				p.add(join(path, "cidr"), "%q is not a CIDR or IP address; write e.g. 203.0.113.0/24, 2001:db8::/32 or 203.0.113.7", b.CIDR)
			}
		default:
			checkHeaderName(p, join(path, "header"), b.Header)
			if b.Pattern == "" {
				p.add(join(path, "pattern"), "required with header: a Go regexp matched against the header value, e.g. ^BadBot (.* for any value)")
			} else if re, err := regexp.Compile(b.Pattern); err != nil {
				p.add(join(path, "pattern"), "%q is not a valid regexp: %s", b.Pattern, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			} else {
				b.Re = re
			}
		}
	}
}

// parseCIDR reads a CIDR, or a single IP address as a /32 or /128 network.
func parseCIDR(s string) *net.IPNet {
	if _, n, err := net.ParseCIDR(s); err == nil {
		return n
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil
	}
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}
}

// checkMethod reports a method that is not an HTTP token.
func checkMethod(p *problems, path, m string) {
	if m == "" || strings.IndexFunc(m, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		p.add(path, "%q is not an HTTP method; write e.g. %s", m, http.MethodGet)
	}
}

// checkHeaderName reports a header name that is not an HTTP token.
func checkHeaderName(p *problems, path, name string) {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		p.add(path, "%q is not a header name; write e.g. User-Agent", name)
	}
}

// isTokenChar reports whether r may appear in an HTTP token (RFC 9110 tchar).
func isTokenChar(r rune) bool {
	return r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}
