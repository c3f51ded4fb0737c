package fleet

import (
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// KeySpec says which parts of a request make its cache key or its DR signature (SEEDS.md B11,
// B14). Only the listed parts count, so requests that differ elsewhere share an entry. Parts:
//
//	method            the request method
//	host              the Host, lower-cased, without the port
//	path              the URL path
//	query:NAME        the first value of query parameter NAME ("" when absent)
//	query:NAME~STEP   NAME read as a number and rounded down to a multiple of STEP: a grid,
//	                  which makes geo blocks of latitudes and longitudes
//	header:NAME       the first value of header NAME ("" when absent)
//
// A request whose ~STEP parameter is absent or not a finite number has no key: it is neither
// cached nor answered from the cache.
type KeySpec struct {
	parts []keyPart
	text  string
}

type keyPart struct {
	kind  string // method, host, path, query, header
	name  string // query parameter or canonical header name
	step  float64
	scale int // decimal places of step, for printing the rounded value
}

// ParseKeySpec parses a list of parts. An empty list, an unknown part, a missing name, a
// repeated part, or a step that is not a positive finite number is an error that names the
// part by its index.
func ParseKeySpec(parts []string) (KeySpec, error) {
	if len(parts) == 0 {
		return KeySpec{}, fmt.Errorf("fleet: key spec is empty; list parts such as path, query:NAME, header:NAME")
	}
	var ks KeySpec
	seen := map[string]bool{}
	for i, raw := range parts {
		p, err := parseKeyPart(strings.TrimSpace(raw))
		if err != nil {
			return KeySpec{}, fmt.Errorf("fleet: key part [%d] %q: %v", i, raw, err)
		}
		id := p.kind + ":" + p.name
		if seen[id] {
			return KeySpec{}, fmt.Errorf("fleet: key part [%d] %q: listed twice", i, raw)
		}
		seen[id] = true
		ks.parts = append(ks.parts, p)
	}
	ks.text = strings.Join(parts, ",")
	return ks, nil
}

func parseKeyPart(s string) (keyPart, error) {
	switch s {
	case "method", "host", "path":
		return keyPart{kind: s}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		return keyPart{}, fmt.Errorf("unknown part; use method, host, path, query:NAME, query:NAME~STEP or header:NAME")
	}
	switch kind {
	case "header":
		if name == "" || strings.ContainsAny(name, " \t~") {
			return keyPart{}, fmt.Errorf("header name %q is not valid", name)
		}
		return keyPart{kind: kind, name: textproto.CanonicalMIMEHeaderKey(name)}, nil
	case "query":
		name, stepText, hasStep := strings.Cut(name, "~")
		if name == "" {
			return keyPart{}, fmt.Errorf("query parameter name is empty")
		}
		p := keyPart{kind: kind, name: name}
		if hasStep {
			step, err := strconv.ParseFloat(stepText, 64)
			if err != nil || step <= 0 || math.IsInf(step, 0) || math.IsNaN(step) {
				return keyPart{}, fmt.Errorf("step %q is not a positive number", stepText)
			}
			p.step = step
			if i := strings.IndexByte(stepText, '.'); i >= 0 && !strings.ContainsAny(stepText, "eE") {
				p.scale = len(stepText) - i - 1
			}
		}
		return p, nil
	}
	return keyPart{}, fmt.Errorf("unknown kind %q; use query or header", kind)
}

// Headers returns the canonical names of the headers the spec reads, as a set: a cached
// response may vary (Vary) on these only, since requests that differ elsewhere share it.
func (k KeySpec) Headers() map[string]bool {
	h := map[string]bool{}
	for _, p := range k.parts {
		if p.kind == "header" {
			h[p.name] = true
		}
	}
	return h
}

// String returns the spec as written, parts joined by commas.
func (k KeySpec) String() string { return k.text }

// Key returns the request's key under the spec and true, or "" and false when the request has
// none (a ~STEP parameter that is absent or not a number). Keys of different specs may
// collide; callers keep them in separate namespaces.
func (k KeySpec) Key(r *http.Request) (string, bool) {
	var b strings.Builder
	var query map[string][]string
	for i, p := range k.parts {
		if i > 0 {
			b.WriteByte('\x1f') // unit separator: cannot appear in a path, query value or header
		}
		switch p.kind {
		case "method":
			b.WriteString(r.Method)
		case "host":
			host := r.Host
			if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
				host = h
			}
			b.WriteString(strings.ToLower(host))
		case "path":
			b.WriteString(r.URL.Path)
		case "header":
			b.WriteString(r.Header.Get(p.name))
		case "query":
			if query == nil {
				query = r.URL.Query()
			}
			v := ""
			if vs := query[p.name]; len(vs) > 0 {
				v = vs[0]
			}
			if p.step > 0 {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
					return "", false
				}
				// The nudge keeps a value on a grid line there despite binary fractions
				// (22.54/0.01 is 2253.999…); + 0 turns -0 into 0.
				v = strconv.FormatFloat(math.Floor(x/p.step+1e-9)*p.step+0, 'f', p.scale, 64)
			}
			b.WriteString(v)
		}
	}
	return b.String(), true
}
