package gateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// cachedResponse is a response the proxy cache or the DR cache keeps: the status, the headers
// the gateway would relay (hop-by-hop ones already dropped) and the whole body.
type cachedResponse struct {
	status int
	header http.Header
	body   []byte
}

// The encoding of a cachedResponse, for the fleet caches (which store bytes): a version byte,
// the status (uvarint), the number of header values (uvarint), each as name and value
// (uvarint length + bytes), then the body. The fleet's own framing adds a checksum.
const responseFormat = 1

var errBadCachedResponse = errors.New("gateway: cached response is corrupt")

func encodeResponse(status int, h http.Header, body []byte) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + len(body)
	for k, vv := range h {
		n += len(vv) * (2*binary.MaxVarintLen64 + len(k))
		for _, v := range vv {
			n += len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, responseFormat)
	b = binary.AppendUvarint(b, uint64(status))
	count := 0
	for _, vv := range h {
		count += len(vv)
	}
	b = binary.AppendUvarint(b, uint64(count))
	for k, vv := range h {
		for _, v := range vv {
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return append(b, body...)
}

// decodeResponse is encodeResponse's inverse. Anything malformed is errBadCachedResponse, so a
// corrupt entry is skipped, never served.
func decodeResponse(b []byte) (cachedResponse, error) {
	if len(b) < 1 || b[0] != responseFormat {
		return cachedResponse{}, errBadCachedResponse
	}
	b = b[1:]
	status, n := binary.Uvarint(b)
	if n <= 0 || status < 100 || status > 999 {
		return cachedResponse{}, errBadCachedResponse
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) { // each value takes at least two bytes
		return cachedResponse{}, errBadCachedResponse
	}
	b = b[n:]
	cr := cachedResponse{status: int(status), header: make(http.Header, count)}
	field := func() (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return "", false
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, true
	}
	for range count {
		k, ok1 := field()
		v, ok2 := field()
		if !ok1 || !ok2 || k == "" || k != http.CanonicalHeaderKey(k) {
			return cachedResponse{}, errBadCachedResponse
		}
		cr.header[k] = append(cr.header[k], v)
	}
	cr.body = b
	return cr, nil
}

// cacheableStatus are the statuses the proxy cache keeps (issue 6).
func cacheableStatus(code int) bool {
	switch code {
	case http.StatusOK, http.StatusNonAuthoritativeInfo, http.StatusMovedPermanently, http.StatusNotFound:
		return true
	}
	return false
}

// cacheableRequest reports whether a request may be answered from, or stored in, a shared
// cache: GET or HEAD, without credentials (an Authorization header makes the answer private).
func cacheableRequest(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Authorization") == ""
}

// storable reports whether a response may be kept in a shared cache: not marked no-store or
// private, setting no cookie, and varying only on headers in varyOK (the headers of the key,
// canonical), since an entry is shared by every request with the same key.
func storable(h http.Header, varyOK map[string]bool) bool {
	for _, cc := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(cc, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-store" || d == "private" || strings.HasPrefix(d, "private=") {
				return false
			}
		}
	}
	if len(h["Set-Cookie"]) > 0 || len(h["Trailer"]) > 0 { // private data; trailers are not kept
		return false
	}
	for _, v := range h.Values("Vary") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if name == "*" || !varyOK[http.CanonicalHeaderKey(name)] {
				return false
			}
		}
	}
	return true
}

// captureWriter passes a response through to the client and keeps a copy of it, up to limit
// body bytes, for a cache. Past the limit it keeps passing the response through and gives up
// the copy.
type captureWriter struct {
	http.ResponseWriter
	limit  int
	status int
	header http.Header
	body   []byte
	over   bool
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
		c.header = c.ResponseWriter.Header().Clone()
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if !c.over {
		if len(c.body)+len(p) > c.limit {
			c.over, c.body = true, nil
		} else {
			c.body = append(c.body, p...)
		}
	}
	return c.ResponseWriter.Write(p)
}

// Flush and Unwrap keep streaming responses streaming (http.ResponseController finds the
// server's writer through Unwrap).
func (c *captureWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Hijack hands over the connection (an upgrade); nothing is captured then.
func (c *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c.over = true
	return http.NewResponseController(c.ResponseWriter).Hijack()
}

// captured returns the copy, or false when there is none to keep: the status was not
// cacheable, the body went past the limit, or the response may not be stored.
func (c *captureWriter) captured(varyOK map[string]bool) (cachedResponse, bool) {
	if c.over || !cacheableStatus(c.status) || !storable(c.header, varyOK) {
		return cachedResponse{}, false
	}
	for _, k := range []string{HeaderCenter, HeaderCredit, "Date"} { // set afresh when served
		delete(c.header, k)
	}
	return cachedResponse{status: c.status, header: c.header, body: c.body}, true
}

// serveCached answers from a cached response. marker is the header that says where the
// answer came from (Bulwark-Cache: hit, or Bulwark-Degraded: dr-cache).
func (g *Gateway) serveCached(w http.ResponseWriter, r *http.Request, x *exchange, cr cachedResponse, marker [2]string) {
	h := w.Header()
	for k, vv := range cr.header {
		h[k] = vv
	}
	h[HeaderCenter] = x.st.centerHdr
	h.Set(marker[0], marker[1])
	if _, ok := cr.header["Content-Length"]; !ok && r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.Itoa(len(cr.body)))
	}
	x.status = cr.status
	w.WriteHeader(cr.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(cr.body)
	}
}
