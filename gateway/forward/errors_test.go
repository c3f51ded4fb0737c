package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inbound returns an incoming request as the http.Server would hand it to a handler.
func inbound(ctx context.Context, method, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	in := httptest.NewRequest(method, "http://front.test/x?y=1", r).WithContext(ctx)
	in.RemoteAddr = "192.0.2.7:5555"
	return in
}

func TestTimeoutBeforeHeaders(t *testing.T) {
	release := newSignal()
	backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		release.waitCtx(r.Context())
	})
	defer release.fire()
	eng := newEngine(t, Options{})
	start := time.Now()
	resp, err := eng.RoundTrip(&Request{In: inbound(t.Context(), http.MethodGet, ""), Target: hostOf(backend),
		Timeout: 50 * time.Millisecond})
	if resp != nil || Classify(err) != KindTimeout || !errors.Is(err, ErrTimeout) {
		t.Fatalf("RoundTrip = %v, %v; want KindTimeout", resp, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

// TestSlowBodyAfterFastHeadersNotCut: the header timeout stops when the headers arrive, so a
// body that streams for longer than the timeout is delivered whole.
func TestSlowBodyAfterFastHeadersNotCut(t *testing.T) {
	const timeout = 50 * time.Millisecond
	backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 4 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
			select { // the stream outlives the timeout several times over
			case <-time.After(timeout):
			case <-r.Context().Done():
				return
			}
		}
	})
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{timeout: timeout})
	resp, err := newClient(t).Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || strings.Count(string(body), "data:") != 4 {
		t.Fatalf("body %q, %v", body, err)
	}
	if err := p.result(t); err != nil {
		t.Fatalf("WriteResponse: %v", err)
	}
}

func TestConnectErrors(t *testing.T) {
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsBackend.Config.ErrorLog = quietLog()
	t.Cleanup(tlsBackend.Close)
	tests := []struct {
		name, scheme, target string
	}{
		{"dial refused", "http", closedPort(t)},
		{"tls handshake fails (unknown authority)", "https", hostOf(tlsBackend)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := newEngine(t, Options{DialTimeout: time.Second})
			_, err := eng.RoundTrip(&Request{In: inbound(t.Context(), http.MethodPost, "payload"),
				Scheme: tt.scheme, Target: tt.target})
			if Classify(err) != KindConnect || !errors.Is(err, ErrConnect) {
				t.Fatalf("err %v (kind %v), want KindConnect", err, Classify(err))
			}
		})
	}
}

func TestHTTPSUpstream(t *testing.T) {
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	t.Cleanup(backend.Close)
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	eng := newEngine(t, Options{TLSConfig: &tls.Config{RootCAs: roots}})
	resp, err := eng.RoundTrip(&Request{In: inbound(t.Context(), http.MethodGet, ""), Scheme: "https",
		Target: hostOf(backend)})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := eng.WriteResponse(w, resp, nil, nil); err != nil || w.Body.String() != "front.test" {
		t.Fatalf("WriteResponse %v, body %q", err, w.Body.String())
	}
}

// TestSentThenBrokenIsNotConnect: an upstream that reads the request and hangs up without an
// answer may have acted on it, so the error must not say "not sent".
func TestSentThenBrokenIsNotConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if req, err := http.ReadRequest(br); err == nil {
				io.Copy(io.Discard, req.Body)
			}
			c.Close()
		}
	}()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			eng := newEngine(t, Options{})
			_, err := eng.RoundTrip(&Request{In: inbound(t.Context(), method, "payload"), Target: l.Addr().String()})
			if err == nil || Classify(err) != KindOther {
				t.Fatalf("err %v (kind %v), want KindOther", err, Classify(err))
			}
		})
	}
}

func TestClientCancelAbortsUpstream(t *testing.T) {
	for _, timeout := range []time.Duration{0, waitLimit} {
		t.Run(fmt.Sprint("timeout=", timeout), func(t *testing.T) {
			arrived, upstreamSawCancel := newSignal(), newSignal()
			backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				arrived.fire()
				select {
				case <-r.Context().Done():
					upstreamSawCancel.fire()
				case <-time.After(waitLimit):
				}
			})
			p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{timeout: timeout})
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				arrived.wait()
				cancel()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
			if _, err := newClient(t).Do(req); err == nil {
				t.Fatal("request succeeded")
			}
			if err := p.result(t); Classify(err) != KindCanceled || !errors.Is(err, ErrCanceled) {
				t.Fatalf("RoundTrip error %v (kind %v), want KindCanceled", err, Classify(err))
			}
			if !upstreamSawCancel.wait() {
				t.Fatal("the upstream request was not canceled")
			}
		})
	}
}

// TestDiscardKeepsConnection: a small error response that the caller discards (to try
// elsewhere) is drained, so the next request reuses the connection.
func TestDiscardKeepsConnection(t *testing.T) {
	var conns atomic.Int32
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "try elsewhere")
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	eng := newEngine(t, Options{})
	for range 3 {
		resp, err := eng.RoundTrip(&Request{In: inbound(t.Context(), http.MethodGet, ""), Target: hostOf(backend)})
		if err != nil {
			t.Fatal(err)
		}
		resp.Discard()
		resp.Discard() // a second release does nothing
		if err := eng.WriteResponse(httptest.NewRecorder(), resp, nil, nil); !errors.Is(err, ErrReleased) {
			t.Fatalf("WriteResponse after Discard: %v", err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 3 discarded responses, want 1", n)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want ErrorKind
	}{
		{"nil", nil, KindOther},
		{"wrapped Error", fmt.Errorf("core: %w", &Error{Kind: KindConnect, Err: io.EOF}), KindConnect},
		{"context canceled", context.Canceled, KindCanceled},
		{"deadline", context.DeadlineExceeded, KindTimeout},
		{"dial error", &dialError{errors.New("refused")}, KindConnect},
		{"EOF", io.EOF, KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
