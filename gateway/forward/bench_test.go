package forward

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The proxy benchmarks send real requests over loopback: a keep-alive client → a proxy server
// → an upstream server, all in this process. ns/op, cpu-µs/op and allocs/op therefore include
// the client and the upstream, which are the same for every proxy; "direct" measures them alone
// (the client talks to the upstream). A proxy's own cost is its figure minus direct's.
//
//	go test -run '^$' -bench Proxy -count 5 -cpu 1,2 ./gateway/forward/

// benchBodies are the upstream response sizes benchmarked.
var benchBodies = []int{128, 64 << 10}

// reverseProxy returns the httputil.ReverseProxy configured to do what the engine does: keep
// the Host, set X-Forwarded-*, same transport settings.
func reverseProxy(target string, pool httputil.BufferPool) http.Handler {
	u := &url.URL{Scheme: "http", Host: target}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			Proxy:               nil,
			ForceAttemptHTTP2:   false,
			DisableCompression:  true,
			MaxIdleConnsPerHost: DefaultMaxIdlePerHost,
			IdleConnTimeout:     90 * time.Second,
		},
		BufferPool: pool,
	}
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, DefaultBufferSize)
}
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// engineHandler is the engine as the gateway core uses it: a header timeout and a set header.
func engineHandler(eng *Engine, target string) http.Handler {
	set := [][2]string{{"Bulwark-Center", "p"}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := eng.RoundTrip(&Request{In: r, Target: target, Timeout: 5 * time.Second})
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if err := eng.WriteResponse(w, resp, set, nil); err != nil {
			panic(http.ErrAbortHandler)
		}
	})
}

func engineHandlerNoTimeout(eng *Engine, target string) http.Handler {
	set := [][2]string{{"Bulwark-Center", "p"}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := eng.RoundTrip(&Request{In: r, Target: target})
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if err := eng.WriteResponse(w, resp, set, nil); err != nil {
			panic(http.ErrAbortHandler)
		}
	})
}

// BenchmarkProxy measures one request at a time (latency and CPU per request).
//
// BenchmarkProxyParallel keeps 8×GOMAXPROCS requests in flight; its ns/op is the inverse of
// throughput (1e9/ns-per-op requests per second).
func BenchmarkProxy(b *testing.B)         { benchProxies(b, benchBodies, false) }
func BenchmarkProxyParallel(b *testing.B) { benchProxies(b, benchBodies[:1], true) }

func benchProxies(b *testing.B, sizes []int, parallel bool) {
	for _, size := range sizes {
		payload := bytes.Repeat([]byte("x"), size)
		upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			w.Write(payload)
		}))
		target := upstream.Listener.Addr().String()
		eng := New(Options{})
		proxies := []struct {
			name string
			h    http.Handler
		}{
			{"direct", nil}, // no proxy: the client and upstream's own share of each request
			{"engine", engineHandler(eng, target)},
			{"engine-notimeout", engineHandlerNoTimeout(eng, target)},
			{"reverseproxy", reverseProxy(target, nil)},
			{"reverseproxy+pool", reverseProxy(target, &bufferPool{})},
		}
		for _, p := range proxies {
			b.Run(p.name+"/body="+strconv.Itoa(size), func(b *testing.B) {
				front := upstream
				if p.h != nil {
					front = httptest.NewServer(p.h)
					defer front.Close()
				}
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
				defer client.CloseIdleConnections()
				url := front.URL + "/bench/path?q=1"
				get := func() error {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header.Set("User-Agent", "bench")
					req.Header.Set("Accept", "*/*")
					resp, err := client.Do(req)
					if err != nil {
						return err
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || n != int64(size) {
						return fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
					}
					return nil
				}
				if err := get(); err != nil { // warm the connections
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := processCPU()
				if parallel {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := get(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := get(); err != nil {
							b.Fatal(err)
						}
					}
				}
				// CPU time of the whole process (client, proxy and upstream) per request:
				// steadier than ns/op on a shared machine, since waiting for a core is not
				// counted.
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
				}
			})
		}
		eng.Close()
		upstream.Close()
	}
}

// cannedUpstream is an in-memory upstream: every round trip returns the same small response,
// with no sockets, so that BenchmarkLayer measures only what the proxy does around it.
type cannedUpstream struct{ payload []byte }

func (c cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Content-Length": {strconv.Itoa(len(c.payload))}},
		Body:          io.NopCloser(bytes.NewReader(c.payload)),
		ContentLength: int64(len(c.payload)),
		Request:       r,
	}, nil
}

// sinkWriter is a ResponseWriter that keeps nothing but its header map, cleared between uses.
type sinkWriter struct{ h http.Header }

func (s *sinkWriter) Header() http.Header         { return s.h }
func (s *sinkWriter) Write(p []byte) (int, error) { return len(p), nil }
func (s *sinkWriter) WriteHeader(int)             {}

// BenchmarkLayer measures the proxy layer alone, the same for each contender: an incoming
// request as net/http hands it to a handler, an in-memory upstream (cannedUpstream) and a
// ResponseWriter that discards. The sockets, the server and the transport, which cost the same
// whichever proxy runs, are left out, so the numbers are steady even on a busy machine.
func BenchmarkLayer(b *testing.B) {
	up := cannedUpstream{payload: bytes.Repeat([]byte("x"), 128)}
	in := httptest.NewRequest(http.MethodGet, "http://shop.example/bench/path?q=1", nil)
	in.Header.Set("User-Agent", "bench")
	in.Header.Set("Accept", "*/*")
	in.Header.Set("Connection", "keep-alive")
	in.RemoteAddr = "192.0.2.1:40000"

	eng := New(Options{})
	defer eng.Close()
	eng.roundTripper = up
	set := [][2]string{{"Bulwark-Center", "p"}}
	engine := func(timeout time.Duration) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			resp, err := eng.RoundTrip(&Request{In: r, Target: "127.0.0.1:8080", Timeout: timeout})
			if err != nil {
				b.Fatal(err)
			}
			if err := eng.WriteResponse(w, resp, set, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	rp := func(pool httputil.BufferPool) http.Handler {
		p := reverseProxy("127.0.0.1:8080", pool).(*httputil.ReverseProxy)
		p.Transport = up
		return p
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"engine", engine(5 * time.Second)},
		{"engine-notimeout", engine(0)},
		{"reverseproxy", rp(nil)},
		{"reverseproxy+pool", rp(&bufferPool{})},
	}
	for _, h := range handlers {
		b.Run(h.name, func(b *testing.B) {
			w := &sinkWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.h.ServeHTTP(w, in)
			}
		})
	}
}
