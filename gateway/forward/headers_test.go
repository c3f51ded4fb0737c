package forward

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// echoHeaders is a backend that answers with the request's Host, RequestURI and headers as JSON.
func echoHeaders(t *testing.T) *httptest.Server {
	return newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Host, URI string
			Header    http.Header
		}{r.Host, r.RequestURI, r.Header})
	})
}

type echoed struct {
	Host, URI string
	Header    http.Header
}

func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("backend answer %q: %v", body, err)
	}
	return e
}

func TestRequestHopByHopHeadersRemoved(t *testing.T) {
	backend := echoHeaders(t)
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{})
	tests := []struct {
		name    string
		headers string   // raw header lines of the request
		gone    []string // headers the backend must not see
		kept    map[string]string
	}{
		{"fixed hop-by-hop set",
			"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n" +
				"Proxy-Authenticate: Basic\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\nX-Keep: 1\r\n",
			[]string{"Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "Trailer", "Upgrade"},
			map[string]string{"X-Keep": "1"}},
		{"connection close is not forwarded", "Connection: close\r\nX-Keep: 1\r\n",
			[]string{"Connection"}, map[string]string{"X-Keep": "1"}},
		{"headers listed in Connection", "Connection: X-Drop-A, x-drop-b\r\nX-Drop-A: 1\r\nX-Drop-B: 2\r\nX-Keep: 1\r\n",
			[]string{"Connection", "X-Drop-A", "X-Drop-B"}, map[string]string{"X-Keep": "1"}},
		{"Connection over several lines with spaces", "Connection: ,  X-Drop-A\t,\r\nConnection: keep-alive,X-Drop-B\r\nX-Drop-A: 1\r\nX-Drop-B: 2\r\n",
			[]string{"Connection", "X-Drop-A", "X-Drop-B"}, nil},
		{"Te trailers kept alone", "Te: trailers, deflate\r\n", nil, map[string]string{"Te": "trailers"}},
		{"Te without trailers dropped", "Te: deflate\r\n", []string{"Te"}, nil},
		{"no user agent stays absent", "", []string{"User-Agent"}, nil},
		{"user agent kept", "User-Agent: curl/8\r\n", nil, map[string]string{"User-Agent": "curl/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawExchange(t, hostOf(p.Server),
				"GET /echo HTTP/1.1\r\nHost: front.test\r\n"+tt.headers+"\r\n")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := decodeEcho(t, body)
			for _, k := range tt.gone {
				if v, ok := got.Header[k]; ok {
					t.Errorf("backend got %s: %q", k, v)
				}
			}
			for k, v := range tt.kept {
				if g := strings.Join(got.Header[k], ","); g != v {
					t.Errorf("backend got %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestResponseHopByHopHeadersRemoved(t *testing.T) {
	backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("Upgrade", "h2c")
		h.Set("Te", "trailers")
		h.Set("Connection", "X-Drop")
		h.Set("X-Drop", "1")
		h.Set("X-Keep", "1")
		h.Set("Bulwark-Credit", "7")
		w.Write([]byte("ok"))
	})
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{
		setResp: [][2]string{{"Bulwark-Center", "p"}},
		delResp: []string{"bulwark-credit"},
	})
	resp, body := rawExchange(t, hostOf(p.Server), "GET / HTTP/1.1\r\nHost: front.test\r\n\r\n")
	if body != "ok" {
		t.Fatalf("body %q", body)
	}
	tests := []struct {
		name, key, want string // want "" = absent
	}{
		{"keep-alive", "Keep-Alive", ""},
		{"proxy-authenticate", "Proxy-Authenticate", ""},
		{"proxy-connection", "Proxy-Connection", ""},
		{"upgrade", "Upgrade", ""},
		{"te", "Te", ""},
		{"connection-listed", "X-Drop", ""},
		{"end-to-end kept", "X-Keep", "1"},
		{"set applied", "Bulwark-Center", "p"},
		{"del applied", "Bulwark-Credit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(resp.Header[tt.key], ","); got != tt.want {
				t.Errorf("client got %s = %q, want %q\n%s", tt.key, got, tt.want, headerLines(resp.Header))
			}
		})
	}
	if c := resp.Header.Get("Connection"); strings.Contains(strings.ToLower(c), "x-drop") {
		t.Errorf("Connection %q forwarded", c)
	}
}

// TestNoInventedContentType: a response without Content-Type stays without one (net/http
// would otherwise sniff the body and add one).
func TestNoInventedContentType(t *testing.T) {
	backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Write([]byte("<html>not sniffed</html>"))
	})
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{})
	resp, body := rawExchange(t, hostOf(p.Server), "GET / HTTP/1.1\r\nHost: front.test\r\n\r\n")
	if ct, ok := resp.Header["Content-Type"]; ok || body != "<html>not sniffed</html>" {
		t.Fatalf("Content-Type %q added (body %q)", ct, body)
	}
}

func TestForwardedHeadersAndHost(t *testing.T) {
	backend := echoHeaders(t)
	eng := newEngine(t, Options{})
	plain := newProxy(t, eng, hostOf(backend), proxyConfig{})
	tlsProxy := httptest.NewTLSServer(plain.Config.Handler)
	t.Cleanup(tlsProxy.Close)
	override := newProxy(t, eng, hostOf(backend), proxyConfig{setReq: [][2]string{{"x-forwarded-proto", "https"}, {"Bulwark-Failover", "p"}}})

	tests := []struct {
		name    string
		url     string
		prior   []string
		client  *http.Client
		wantXFF string
		wantXFP string
		wantFO  string
	}{
		{"no prior", plain.URL, nil, newClient(t), "127.0.0.1", "http", ""},
		{"one prior", plain.URL, []string{"203.0.113.9"}, newClient(t), "203.0.113.9, 127.0.0.1", "http", ""},
		{"two prior lines fold", plain.URL, []string{"203.0.113.9", "10.0.0.1, 10.0.0.2"}, newClient(t),
			"203.0.113.9, 10.0.0.1, 10.0.0.2, 127.0.0.1", "http", ""},
		{"tls front", tlsProxy.URL, nil, tlsClient(t, tlsProxy), "127.0.0.1", "https", ""},
		{"SetHeader overrides and adds", override.URL, nil, newClient(t), "127.0.0.1", "https", "p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.url+"/p/a%2Fb?q=1&r=%20", nil)
			req.Host = "shop.example:8443"
			req.Header["X-Forwarded-For"] = tt.prior
			req.Header.Set("X-Forwarded-Host", "spoofed")
			resp, err := tt.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got echoed
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			checks := []struct{ what, got, want string }{
				{"Host", got.Host, "shop.example:8443"},
				{"RequestURI", got.URI, "/p/a%2Fb?q=1&r=%20"},
				{"X-Forwarded-For", strings.Join(got.Header["X-Forwarded-For"], "|"), tt.wantXFF},
				{"X-Forwarded-Proto", strings.Join(got.Header["X-Forwarded-Proto"], "|"), tt.wantXFP},
				{"X-Forwarded-Host", strings.Join(got.Header["X-Forwarded-Host"], "|"), "shop.example:8443"},
				{"Bulwark-Failover", strings.Join(got.Header["Bulwark-Failover"], "|"), tt.wantFO},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func tlsClient(t *testing.T, s *httptest.Server) *http.Client {
	c := s.Client()
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestRequestTargetForms(t *testing.T) {
	backend := echoHeaders(t)
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{})
	tests := []struct{ name, target, want string }{
		{"origin form kept byte for byte", "/a%2Fb/%7Ec;x=1?y=%41&z", "/a%2Fb/%7Ec;x=1?y=%41&z"},
		{"root", "/", "/"},
		{"empty query mark", "/p?", "/p?"},
		{"double slash is not an authority", "//evil.test/x?q=1", "//evil.test/x?q=1"},
		{"absolute form", "http://front.test/abs?q=2", "/abs?q=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawExchange(t, hostOf(p.Server), "GET "+tt.target+" HTTP/1.1\r\nHost: front.test\r\n\r\n")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := decodeEcho(t, body); got.URI != tt.want {
				t.Errorf("backend RequestURI %q, want %q", got.URI, tt.want)
			}
		})
	}
}

func TestTokenListed(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		token  string
		want   bool
	}{
		{"exact", []string{"close"}, "close", true},
		{"case", []string{"Keep-Alive"}, "keep-alive", true},
		{"second element", []string{"close, X-Foo"}, "x-foo", true},
		{"second line", []string{"close", "x-foo"}, "X-Foo", true},
		{"tabs and spaces", []string{" \tX-Foo\t ,"}, "X-Foo", true},
		{"empty elements", []string{",,"}, "", false},
		{"prefix only", []string{"X-Fo"}, "X-Foo", false},
		{"longer", []string{"X-Foos"}, "X-Foo", false},
		{"inner space is not trimmed", []string{"X -Foo"}, "X-Foo", false},
		{"no values", nil, "close", false},
		{"non-ASCII never folds", []string{"\u212a"}, "k", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokenListed(tt.values, tt.token); got != tt.want {
				t.Errorf("tokenListed(%q, %q) = %v", tt.values, tt.token, got)
			}
		})
	}
}

func TestIsEventStream(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/event-stream", true},
		{"Text/Event-Stream; charset=utf-8", true},
		{" text/event-stream ", true},
		{"text/event-streams", false},
		{"text/event", false},
		{"application/json", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			if got := isEventStream([]string{tt.ct}); got != tt.want {
				t.Errorf("isEventStream(%q) = %v", tt.ct, got)
			}
		})
	}
}

// TestHeaderHelpersAllocs pins the allocations of the per-request header work.
func TestHeaderHelpersAllocs(t *testing.T) {
	in := httptest.NewRequest(http.MethodGet, "http://front.test/x", nil)
	in.Header.Set("Accept", "*/*")
	in.Header.Set("User-Agent", "bench")
	in.Header.Set("Connection", "keep-alive")
	in.RemoteAddr = "10.1.2.3:4567"
	conn := []string{"keep-alive, X-Foo"}
	slots := new([2]string) // part of the Response in real use
	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"tokenListed", 0, func() { tokenListed(conn, "x-foo") }},
		{"isEventStream", 0, func() { isEventStream([]string{"text/event-stream; charset=utf-8"}) }},
		{"upgradeType", 0, func() { upgradeType(in.Header) }},
		{"appendForwardedFor no prior", 0, func() { appendForwardedFor(nil, "10.0.0.1") }},
		// the map (header and one group) is the only allocation; every value is shared or
		// slot-backed.
		{"buildOutHeader", 2, func() { buildOutHeader(in, "", nil, slots) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(200, tt.fn); got > tt.max {
				t.Errorf("%s: %v allocs, want ≤ %v", tt.name, got, tt.max)
			}
		})
	}
}

// FuzzTokenListed checks the allocation-free Connection token scan against a plain
// split-trim-compare reference.
func FuzzTokenListed(f *testing.F) {
	f.Add("close, X-Foo", "x-foo")
	f.Add(" ,\tkeep-alive ,", "Keep-Alive")
	f.Add("a,,b", "")
	f.Fuzz(func(t *testing.T, value, token string) {
		want := false
		for _, elem := range strings.Split(value, ",") {
			elem = strings.Trim(elem, " \t")
			if elem != "" && lowerASCIIString(elem) == lowerASCIIString(token) {
				want = true
			}
		}
		if got := tokenListed([]string{value}, token); got != want {
			t.Fatalf("tokenListed(%q, %q) = %v, reference %v", value, token, got, want)
		}
	})
}

// lowerASCIIString lowers A-Z only, byte by byte.
func lowerASCIIString(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzIsEventStream checks isEventStream against mime.ParseMediaType wherever the latter parses.
func FuzzIsEventStream(f *testing.F) {
	f.Add("text/event-stream")
	f.Add("TEXT/EVENT-STREAM;charset=utf-8")
	f.Add("text/event-stream;;")
	f.Fuzz(func(t *testing.T, ct string) {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return
		}
		if got, want := isEventStream([]string{ct}), mt == "text/event-stream"; got != want {
			t.Fatalf("isEventStream(%q) = %v, mime says %q", ct, got, mt)
		}
	})
}

// FuzzBuildOutHeader checks the outgoing header's invariants for arbitrary incoming headers: no
// hop-by-hop header and nothing Connection lists crosses, everything else does, unchanged.
func FuzzBuildOutHeader(f *testing.F) {
	f.Add("X-Foo", "1", "close, X-Foo")
	f.Add("Keep-Alive", "5", "")
	f.Add("Te", "trailers", "te")
	f.Fuzz(func(t *testing.T, key, value, conn string) {
		key = http.CanonicalHeaderKey(key)
		in := httptest.NewRequest(http.MethodGet, "http://front.test/", nil)
		in.Header = http.Header{key: {value}, "X-Other": {"o"}}
		if conn != "" {
			in.Header["Connection"] = []string{conn}
		}
		var slots [2]string
		out := buildOutHeader(in, "", nil, &slots)
		added := []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "User-Agent", "Te"}
		for k, v := range in.Header {
			_, present := out[k]
			dropped := isHopHeader(k) || tokenListed(in.Header["Connection"], k)
			switch {
			case slices.Contains(added, k):
			case dropped && present:
				t.Fatalf("%s forwarded though hop-by-hop (Connection %q)", k, conn)
			case !dropped && !slices.Equal(out[k], v):
				t.Fatalf("%s = %q, want %q", k, out[k], v)
			}
		}
		for k := range out {
			if isHopHeader(k) && k != "Te" {
				t.Fatalf("hop-by-hop %s in output", k)
			}
		}
		if te, ok := out["Te"]; ok && !slices.Equal(te, []string{"trailers"}) {
			t.Fatalf("Te = %q", te)
		}
	})
}
