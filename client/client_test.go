package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

const target = "http://bulwark/orders?id=7"

func TestFailoverOnRefusedConnection(t *testing.T) {
	other := newTestCenter(t, say(200, "", "from bj"))
	r := newRig(t, "http://"+deadAddr(t), other.URL, nil)

	code, body, err := r.get(t, target)
	if err != nil || code != 200 || body != "from bj" {
		t.Fatalf("got %d %q %v, want 200 from bj", code, body, err)
	}
	if got := r.attemptCount(0, resError); got != 1 {
		t.Errorf("home error attempts = %d, want 1", got)
	}
	if got := r.attemptCount(1, resOK); got != 1 {
		t.Errorf("other ok attempts = %d, want 1", got)
	}
	if got := r.m.failovers.Load(); got != 1 {
		t.Errorf("failovers = %d, want 1", got)
	}
	if got := r.callCount(callResponse); got != 1 {
		t.Errorf("calls{response} = %d, want 1", got)
	}
}

func TestFailoverOnTimeout(t *testing.T) {
	done := make(chan struct{})
	home := newTestCenter(t, hang(done))
	t.Cleanup(func() { close(done) }) // runs before the server's Close
	other := newTestCenter(t, say(200, "", "from bj"))
	r := newRig(t, home.URL, other.URL, func(c *Config) { c.Timeout = 2 * time.Second })

	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		code, body, err := r.get(t, target)
		got <- answer{code, body, err}
	}()
	r.fake.BlockUntil(1) // the home attempt armed its timer
	waitFor(t, "the home center to get the request", func() bool { return home.hits.Load() == 1 })
	r.fake.Advance(2*time.Second - time.Nanosecond)
	if other.hits.Load() != 0 {
		t.Fatal("failed over before the timeout")
	}
	r.fake.Advance(time.Nanosecond)
	a := <-got
	if a.err != nil || a.code != 200 || a.body != "from bj" {
		t.Fatalf("got %d %q %v, want 200 from bj", a.code, a.body, a.err)
	}
	if n := r.attemptCount(0, resTimeout); n != 1 {
		t.Errorf("home timeout attempts = %d, want 1", n)
	}
}

func TestFailoverOnConnectionClosedMidResponse(t *testing.T) {
	home := newTestCenter(t, cutOff)
	other := newTestCenter(t, say(200, "", "from bj"))
	r := newRig(t, home.URL, other.URL, nil)

	code, body, err := r.get(t, target)
	if err != nil || code != 200 || body != "from bj" {
		t.Fatalf("got %d %q %v, want 200 from bj", code, body, err)
	}
	if home.hits.Load() != 1 || r.attemptCount(0, resError) != 1 {
		t.Errorf("home hits %d, error attempts %d; want 1, 1", home.hits.Load(), r.attemptCount(0, resError))
	}
}

func TestFailoverOn5xxNotFromGateway(t *testing.T) {
	home := newTestCenter(t, say(http.StatusBadGateway, "", strings.Repeat("lb says no. ", 1000)))
	other := newTestCenter(t, func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Bulwark-Failover"); v != "" {
			http.Error(w, "the client set Bulwark-Failover: "+v, http.StatusBadRequest)
			return
		}
		say(200, "", "from bj")(w, r)
	})
	r := newRig(t, home.URL, other.URL, nil)

	code, body, err := r.get(t, target)
	if err != nil || code != 200 || body != "from bj" {
		t.Fatalf("got %d %q %v, want 200 from bj", code, body, err)
	}
	if r.attemptCount(0, res5xx) != 1 || r.m.failovers.Load() != 1 {
		t.Errorf("home 5xx attempts %d, failovers %d; want 1, 1", r.attemptCount(0, res5xx), r.m.failovers.Load())
	}
}

func TestNoFailoverFromGatewayAnswer(t *testing.T) {
	for _, status := range []int{503, 500, 502, 429, 404, 200} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			home := newTestCenter(t, say(status, "sz", "gateway body intact"))
			other := newTestCenter(t, say(200, "", "from bj"))
			r := newRig(t, home.URL, other.URL, nil)

			code, body, err := r.get(t, target)
			if err != nil || code != status || body != "gateway body intact" {
				t.Fatalf("got %d %q %v, want %d and the gateway's body", code, body, err, status)
			}
			if other.hits.Load() != 0 || r.m.failovers.Load() != 0 {
				t.Errorf("other center hit %d times, failovers %d; want none", other.hits.Load(), r.m.failovers.Load())
			}
			if r.attemptCount(0, resGateway) != 1 {
				t.Errorf("home gateway attempts = %d, want 1", r.attemptCount(0, resGateway))
			}
		})
	}
}

func TestNonGatewayAnswerBelow500IsFinal(t *testing.T) {
	home := newTestCenter(t, say(404, "", "no such order"))
	other := newTestCenter(t, say(200, "", "from bj"))
	r := newRig(t, home.URL, other.URL, nil)
	code, body, err := r.get(t, target)
	if err != nil || code != 404 || body != "no such order" || other.hits.Load() != 0 {
		t.Fatalf("got %d %q %v (other hits %d), want the home 404 only", code, body, err, other.hits.Load())
	}
}

func TestPOSTBody(t *testing.T) {
	const payload = "order=42&qty=3"
	// opaque hides the reader's type from http.NewRequest, so it sets no GetBody.
	type opaque struct{ io.Reader }
	tests := []struct {
		name       string
		home       func(t *testing.T) string // the home center's URL
		getBody    bool
		wantCode   int
		wantBody   string
		wantErr    error
		otherCalls int64
	}{
		{"no GetBody, home 502: home's answer", func(t *testing.T) string {
			return newTestCenter(t, say(502, "", "lb: bad gateway")).URL
		}, false, 502, "lb: bad gateway", nil, 0},
		{"no GetBody, home refused: home's error", func(t *testing.T) string {
			return "http://" + deadAddr(t)
		}, false, 0, "", syscall.ECONNREFUSED, 0},
		{"GetBody, home 502 after reading: fails over with the full body", func(t *testing.T) string {
			return newTestCenter(t, say(502, "", "lb: bad gateway")).URL
		}, true, 200, "bj:" + payload, nil, 1},
		{"GetBody, home refused: fails over with the full body", func(t *testing.T) string {
			return "http://" + deadAddr(t)
		}, true, 200, "bj:" + payload, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := newTestCenter(t, echo("bj"))
			r := newRig(t, tt.home(t), other.URL, nil)
			var body io.Reader = opaque{strings.NewReader(payload)}
			if tt.getBody {
				body = strings.NewReader(payload)
			}
			req, err := http.NewRequest(http.MethodPost, target, body)
			if err != nil {
				t.Fatal(err)
			}
			if (req.GetBody != nil) != tt.getBody {
				t.Fatalf("GetBody set = %v, want %v", req.GetBody != nil, tt.getBody)
			}
			code, got, err := readResp(t, r.Client, req)
			if tt.wantErr != nil {
				var ae *AttemptError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &ae) || ae.Center != "sz" {
					t.Fatalf("err = %v, want an AttemptError at sz matching %v", err, tt.wantErr)
				}
			} else if err != nil || code != tt.wantCode || got != tt.wantBody {
				t.Fatalf("got %d %q %v, want %d %q", code, got, err, tt.wantCode, tt.wantBody)
			}
			if n := other.hits.Load(); n != tt.otherCalls {
				t.Errorf("other center hits = %d, want %d", n, tt.otherCalls)
			}
		})
	}
}

func TestReplayable(t *testing.T) {
	withKey := func(k string) http.Header { return http.Header{k: {"abc"}} }
	getBody := func() (io.ReadCloser, error) { return http.NoBody, nil }
	tests := []struct {
		name    string
		method  string
		body    io.ReadCloser
		getBody func() (io.ReadCloser, error)
		header  http.Header
		want    bool
	}{
		{"GET", "GET", nil, nil, nil, true},
		{"empty method", "", nil, nil, nil, true},
		{"HEAD", "HEAD", nil, nil, nil, true},
		{"OPTIONS", "OPTIONS", nil, nil, nil, true},
		{"TRACE", "TRACE", nil, nil, nil, true},
		{"PUT without body", "PUT", http.NoBody, nil, nil, true},
		{"DELETE", "DELETE", nil, nil, nil, true},
		{"POST without body", "POST", nil, nil, nil, false},
		{"PATCH without body", "PATCH", nil, nil, nil, false},
		{"POST with Idempotency-Key", "POST", nil, nil, withKey("Idempotency-Key"), true},
		{"POST with X-Idempotency-Key", "POST", nil, nil, withKey("X-Idempotency-Key"), true},
		{"POST with body, no GetBody", "POST", io.NopCloser(strings.NewReader("x")), nil, nil, false},
		{"PUT with body, no GetBody", "PUT", io.NopCloser(strings.NewReader("x")), nil, nil, false},
		{"POST with body and key, no GetBody", "POST", io.NopCloser(strings.NewReader("x")), nil,
			withKey("Idempotency-Key"), false},
		{"POST with GetBody", "POST", io.NopCloser(strings.NewReader("x")), getBody, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{Method: tt.method, Body: tt.body, GetBody: tt.getBody, Header: tt.header}
			if got := replayable(req); got != tt.want {
				t.Errorf("replayable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCallerCancellation(t *testing.T) {
	done := make(chan struct{})
	home := newTestCenter(t, hang(done))
	t.Cleanup(func() { close(done) })
	other := newTestCenter(t, say(200, "", "from bj"))
	r := newRig(t, home.URL, other.URL, func(c *Config) { c.Probe = "127.0.0.1:1" })

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	errc := make(chan error, 1)
	go func() {
		_, _, err := readResp(t, r.Client, req)
		errc <- err
	}()
	waitFor(t, "the home center to get the request", func() bool { return home.hits.Load() == 1 })
	cancel()
	err := <-errc
	var ae *AttemptError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.Center != "sz" {
		t.Fatalf("err = %v, want context.Canceled at sz", err)
	}
	if other.hits.Load() != 0 || r.m.failovers.Load() != 0 {
		t.Errorf("failed over after cancel: other hits %d", other.hits.Load())
	}
	if r.m.probes[probeUp].Load()+r.m.probes[probeDown].Load() != 0 {
		t.Error("probed after cancel")
	}
	if r.attemptCount(0, resCanceled) != 1 || r.callCount(callCanceled) != 1 {
		t.Errorf("canceled attempts %d, calls %d; want 1, 1", r.attemptCount(0, resCanceled), r.callCount(callCanceled))
	}
}

func TestRequestRewrite(t *testing.T) {
	type seen struct{ host, uri, header string }
	tests := []struct {
		name       string
		prefix     string // the center URL's path
		target     string
		host       string // req.Host set explicitly when not ""
		wantURI    string
		wantHostIs string // "center" or a literal host
	}{
		{"path and query kept", "", "http://bulwark/a/b?x=1&y=%20", "", "/a/b?x=1&y=%20", "center"},
		{"prefix", "/api", "http://bulwark/orders?id=7", "", "/api/orders?id=7", "center"},
		{"prefix with slash", "/api/", "http://bulwark/orders", "", "/api/orders", "center"},
		{"prefix, root path", "/api", "http://bulwark", "", "/api/", "center"},
		{"escaped path kept", "/api", "http://bulwark/a%2Fb", "", "/api/a%2Fb", "center"},
		{"explicit Host kept", "", "http://bulwark/x", "orders.example", "/x", "orders.example"},
		{"Host equal to URL host replaced", "", "http://bulwark/x", "bulwark", "/x", "center"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan seen, 1)
			srv := newTestCenter(t, func(w http.ResponseWriter, r *http.Request) {
				got <- seen{r.Host, r.RequestURI, r.Header.Get("X-Trace")}
			})
			r := newRig(t, srv.URL+tt.prefix, "http://"+deadAddr(t), nil)
			req, err := http.NewRequest(http.MethodGet, tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Trace", "t1")
			if tt.host != "" {
				req.Host = tt.host
			}
			before := req.URL.String()
			beforeHost := req.Host
			if _, _, err := readResp(t, r.Client, req); err != nil {
				t.Fatal(err)
			}
			s := <-got
			wantHost := tt.wantHostIs
			if wantHost == "center" {
				wantHost = strings.TrimPrefix(srv.URL, "http://")
			}
			if s.host != wantHost || s.uri != tt.wantURI || s.header != "t1" {
				t.Errorf("server saw host %q uri %q X-Trace %q, want %q %q t1", s.host, s.uri, s.header, wantHost, tt.wantURI)
			}
			if req.URL.String() != before || req.Host != beforeHost || len(req.Header) != 1 {
				t.Errorf("caller's request modified: %s host %q header %v", req.URL, req.Host, req.Header)
			}
		})
	}
}

func TestHTTPClientRedirects(t *testing.T) {
	other := newTestCenter(t, say(200, "", "from bj"))
	home := newTestCenter(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "https://login.example/", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "at "+r.URL.Path)
		}
	})
	r := newRig(t, home.URL, other.URL, nil)
	hc := r.HTTPClient()
	for _, tt := range []struct{ path, want string }{{"/old", "200 at /new"}, {"/away", "302 "}} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := hc.Get("http://bulwark" + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if got := resp.Status[:3] + " " + string(b); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want prefix %q", got, tt.want)
			}
		})
	}
}

// TestTimeoutRealClock runs the timeout with the wall clock (time.AfterFunc path).
func TestTimeoutRealClock(t *testing.T) {
	done := make(chan struct{})
	home := newTestCenter(t, hang(done))
	t.Cleanup(func() { close(done) })
	other := newTestCenter(t, say(200, "", "from bj"))
	c, err := New(Config{
		Centers: []Center{{Name: "sz", URL: home.URL}, {Name: "bj", URL: other.URL}},
		Home:    "sz",
		Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	code, body, err := readResp(t, c, req)
	if err != nil || code != 200 || body != "from bj" {
		t.Fatalf("got %d %q %v, want 200 from bj", code, body, err)
	}
	if c.attemptCount(0, resTimeout) != 1 {
		t.Errorf("home timeouts = %d, want 1", c.attemptCount(0, resTimeout))
	}
}

// TestTimeoutBothCenters: both centers hang; each attempt times out by the fake clock and
// the error says so.
func TestTimeoutBothCenters(t *testing.T) {
	done := make(chan struct{})
	home, other := newTestCenter(t, hang(done)), newTestCenter(t, hang(done))
	t.Cleanup(func() { close(done) })
	r := newRig(t, home.URL, other.URL, nil)
	errc := make(chan error, 1)
	go func() {
		_, _, err := r.get(t, target)
		errc <- err
	}()
	for _, srv := range []*testCenter{home, other} {
		waitFor(t, "the attempt to reach its center", func() bool { return srv.hits.Load() == 1 })
		r.fake.BlockUntil(1)
		r.fake.Advance(DefaultTimeout)
	}
	err := <-errc
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrBothDown) {
		t.Fatalf("err = %v, want ErrTimeout and ErrBothDown", err)
	}
	if r.attemptCount(0, resTimeout) != 1 || r.attemptCount(1, resTimeout) != 1 {
		t.Errorf("timeouts sz %d bj %d, want 1 each", r.attemptCount(0, resTimeout), r.attemptCount(1, resTimeout))
	}
}

// TestSwitchingProtocols: a 101 body stays writable through the client's body wrapper.
func TestSwitchingProtocols(t *testing.T) {
	home := newTestCenter(t, func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" +
			"Upgrade: echo\r\nBulwark-Center: sz\r\n\r\n")
		_ = buf.Flush()
		line := make([]byte, 4)
		if _, err := io.ReadFull(buf, line); err == nil {
			_, _ = conn.Write(line)
		}
	})
	r := newRig(t, home.URL, "http://"+deadAddr(t), nil)
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := r.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v %v, want 101", resp, err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriter)
	if !ok {
		t.Fatalf("101 body %T is not writable", resp.Body)
	}
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(rw, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo = %q %v, want ping", got, err)
	}
}
