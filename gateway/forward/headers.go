package forward

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"
)

// isHopHeader reports whether k (a canonical header key) is one of the fixed hop-by-hop headers
// of RFC 9110 §7.6.1 and RFC 2616 §13.5.1 that a proxy never forwards: Connection, Keep-Alive,
// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, Te, Trailer, Transfer-Encoding and
// Upgrade. A switch on the key compiles to a few length and byte comparisons, cheaper than a map.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// dropHeader reports whether the header k must not cross the proxy: a fixed hop-by-hop header,
// or one that the message's Connection header lists (conn holds its values; nil is common, and
// then only the switch runs).
func dropHeader(k string, conn []string) bool {
	return isHopHeader(k) || (len(conn) > 0 && tokenListed(conn, k))
}

// tokenListed reports whether any comma-separated element of values equals token, ignoring ASCII
// case and the optional whitespace (space, tab) around elements. It allocates nothing. Empty
// elements ("a,,b") are skipped, as RFC 9110 §5.6.1 asks of recipients.
func tokenListed(values []string, token string) bool {
	for _, v := range values {
		for len(v) > 0 {
			var elem string
			if i := strings.IndexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				elem, v = v, ""
			}
			if elem = trimOWS(elem); elem != "" && asciiEqualFold(elem, token) {
				return true
			}
		}
	}
	return false
}

// trimOWS trims spaces and tabs at both ends.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// asciiEqualFold is strings.EqualFold restricted to ASCII: header tokens are ASCII, and a
// non-ASCII byte only ever equals itself (no Unicode folding, so "K" never matches the Kelvin
// sign).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// isPrintable reports whether s is non-empty printable ASCII: the only acceptable protocol name
// in an Upgrade header (ReverseProxy's rule).
func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// upgradeType returns the protocol a message asks to switch to: the first Upgrade value, when
// Connection lists "upgrade"; else "".
func upgradeType(h http.Header) string {
	conn := h["Connection"]
	if len(conn) == 0 || !tokenListed(conn, "upgrade") {
		return ""
	}
	if up := h["Upgrade"]; len(up) > 0 {
		return up[0]
	}
	return ""
}

// isEventStream reports whether a Content-Type value is text/event-stream (any case, with or
// without parameters), without mime.ParseMediaType and its map.
func isEventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	const want = "text/event-stream"
	s := trimOWS(ct[0])
	if len(s) < len(want) || !asciiEqualFold(s[:len(want)], want) {
		return false
	}
	if len(s) == len(want) {
		return true
	}
	switch s[len(want)] {
	case ';', ' ', '\t':
		return true
	}
	return false
}

// Shared, never-modified header values. http.Transport and http.Server only read request and
// response header values, so one slice serves every request.
var (
	valHTTP     = []string{"http"}
	valHTTPS    = []string{"https"}
	valEmpty    = []string{""}
	valTrailers = []string{"trailers"}
	valUpgrade  = []string{"Upgrade"}
)

// buildOutHeader returns the header of the outgoing request: the incoming header minus the
// hop-by-hop headers (fixed ones, and those the incoming Connection header lists), then
// X-Forwarded-For (client IP appended to prior values), X-Forwarded-Proto, X-Forwarded-Host,
// "Te: trailers" when the client accepts trailers, the upgrade headers when the client asks for
// a protocol switch, an empty User-Agent when the client sent none (so Go's default is not
// sent), and finally set. Values of untouched headers are shared with in, not copied: neither
// http.Transport nor this package modifies them. slots provides backing storage for the
// single-valued headers it adds, so they cost no allocation.
func buildOutHeader(in *http.Request, upType string, set [][2]string, slots *[2]string) http.Header {
	src := in.Header
	conn := src["Connection"]
	out := make(http.Header, len(src)+4+len(set))
	for k, vv := range src {
		if !dropHeader(k, conn) {
			out[k] = vv
		}
	}

	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		prior := out["X-Forwarded-For"]
		slots[0] = appendForwardedFor(prior, ip)
		out["X-Forwarded-For"] = slots[0:1:1]
	}
	if in.TLS != nil {
		out["X-Forwarded-Proto"] = valHTTPS
	} else {
		out["X-Forwarded-Proto"] = valHTTP
	}
	if in.Host != "" {
		slots[1] = in.Host
		out["X-Forwarded-Host"] = slots[1:2:2]
	}
	if te := src["Te"]; len(te) > 0 && tokenListed(te, "trailers") {
		out["Te"] = valTrailers
	}
	if upType != "" {
		out["Connection"] = valUpgrade
		out["Upgrade"] = []string{upType}
	}
	if _, ok := out["User-Agent"]; !ok {
		out["User-Agent"] = valEmpty
	}
	for _, kv := range set {
		out[textproto.CanonicalMIMEHeaderKey(kv[0])] = []string{kv[1]}
	}
	return out
}

// appendForwardedFor returns the X-Forwarded-For value: the prior values joined by ", " (several
// header lines fold into one), then ip. With no prior value it returns ip itself, so the common
// case allocates nothing.
func appendForwardedFor(prior []string, ip string) string {
	if len(prior) == 0 {
		return ip
	}
	n := len(ip)
	for _, p := range prior {
		n += len(p) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range prior {
		b.WriteString(p)
		b.WriteString(", ")
	}
	b.WriteString(ip)
	return b.String()
}

// copyResponseHeader copies src into dst minus the hop-by-hop headers. A key dst lacks gets
// src's value slice itself (the server only reads it); a key dst has gets src's values appended
// to a copy of its own.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if dropHeader(k, conn) {
			continue
		}
		if prev, ok := dst[k]; ok {
			dst[k] = append(prev[:len(prev):len(prev)], vv...)
		} else {
			dst[k] = vv
		}
	}
}

// applySetDel sets each set pair (one value, canonical key) and deletes each del key. slots
// backs up to len(slots) set values without allocating.
func applySetDel(h http.Header, set [][2]string, del []string, slots []string) {
	for i, kv := range set {
		var v []string
		if i < len(slots) {
			slots[i] = kv[1]
			v = slots[i : i+1 : i+1]
		} else {
			v = []string{kv[1]}
		}
		h[textproto.CanonicalMIMEHeaderKey(kv[0])] = v
	}
	for _, k := range del {
		delete(h, textproto.CanonicalMIMEHeaderKey(k))
	}
}
