package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// HTTP correctness through a real gateway: hop-by-hop headers, large bodies, streaming,
// protocol switches, the Bulwark-Center contract on every answer, deadlines and routing.

// send sends one request and returns its status, header and whole body.
func send(method, url string, header http.Header, body io.Reader) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, "", err
	}
	for k, vv := range header {
		req.Header[k] = vv
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// rawExchange writes req, a whole HTTP/1.1 request, on a new connection to addr and reads one
// response with its body, exactly as the bytes came (no client-side header handling).
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response from %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body from %s: %v", addr, err)
	}
	return resp, string(body)
}

// receive waits up to 5 s for a value from ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// TestHopByHopHeadersDoNotCross: hop-by-hop headers, fixed or listed in Connection, stop at
// the gateway in both directions; X-Forwarded-For is appended, X-Forwarded-Proto set, Host kept.
func TestHopByHopHeadersDoNotCross(t *testing.T) {
	type seenRequest struct {
		header http.Header
		host   string
	}
	seen := make(chan seenRequest, 1)
	b := newBackend(t, "echo", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- seenRequest{r.Header.Clone(), r.Host}
		h := w.Header()
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "secret")
		h.Set("Keep-Alive", "timeout=7")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-End-To-End", "kept")
		_, _ = io.WriteString(w, "ok\n")
	})))
	g, _, _ := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "songs", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	const req = "GET /api/songs?q=1 HTTP/1.1\r\n" +
		"Host: songs.example.com\r\n" +
		"Connection: X-Custom\r\n" +
		"X-Custom: secret\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"TE: gzip\r\n" +
		"X-Forwarded-For: 203.0.113.9\r\n" +
		"X-End-To-End: kept\r\n" +
		"\r\n"
	requestHop := []string{"Connection", "X-Custom", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te"}
	responseHop := []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Authenticate"}

	// Control: straight to the backend every header crosses, so the checks below mean something.
	resp, _ := rawExchange(t, b.addr, req)
	direct := receive(t, seen, "the direct request")
	for _, k := range requestHop {
		if direct.header.Get(k) == "" {
			t.Fatalf("control: the backend does not see %s even without the gateway", k)
		}
	}
	for _, k := range responseHop {
		if resp.Header.Get(k) == "" {
			t.Fatalf("control: the client does not see %s even without the gateway", k)
		}
	}

	resp, body := rawExchange(t, g.Addr(), req)
	got := receive(t, seen, "the request through the gateway")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("through the gateway: %d %q", resp.StatusCode, body)
	}
	for _, k := range requestHop {
		if v, ok := got.header[k]; ok {
			t.Errorf("the backend saw hop-by-hop request header %s: %q", k, v)
		}
	}
	for _, k := range responseHop {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("the client saw hop-by-hop response header %s: %q", k, v)
		}
	}
	checks := []struct{ what, got, want string }{
		{"X-Forwarded-For", got.header.Get("X-Forwarded-For"), "203.0.113.9, 127.0.0.1"},
		{"X-Forwarded-Proto", got.header.Get("X-Forwarded-Proto"), "http"},
		{"Host", got.host, "songs.example.com"},
		{"request X-End-To-End", got.header.Get("X-End-To-End"), "kept"},
		{"response X-End-To-End", resp.Header.Get("X-End-To-End"), "kept"},
		{"response " + HeaderCenter, resp.Header.Get(HeaderCenter), "sz"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
}

// onlyReader hides a reader's other methods (and its length) from net/http, so that a request
// body goes out chunked.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestLargeBodiesStreamThrough: 12 MiB request and response bodies, far past the 1 MiB replay
// buffer, cross the gateway intact, with a known length and chunked.
func TestLargeBodiesStreamThrough(t *testing.T) {
	const size = 12 << 20
	payload := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(payload)
	sum := sha256.Sum256(payload)
	want := hex.EncodeToString(sum[:])
	b := newBackend(t, "blob", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Body-Length", strconv.FormatInt(n, 10))
			w.Header().Set("X-Body-Sha256", hex.EncodeToString(h.Sum(nil)))
			return
		}
		if r.URL.Query().Get("length") == "known" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		for off := 0; off < size; off += 64 << 10 {
			if _, err := w.Write(payload[off:min(off+64<<10, size)]); err != nil {
				return
			}
		}
	})))
	_, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "blob", 1, map[string][]string{"sz": {b.addr}}, false)
		cfg.Routes[0].Methods = []string{"GET", "POST"}
	})
	client := &http.Client{Timeout: 30 * time.Second}

	uploads := []struct {
		name string
		body func() io.Reader
		len  int64
	}{
		{"upload with a known length", func() io.Reader { return bytes.NewReader(payload) }, size},
		{"upload chunked", func() io.Reader { return onlyReader{bytes.NewReader(payload)} }, -1},
	}
	for _, tt := range uploads {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+"/api/blob", tt.body())
			req.ContentLength = tt.len
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Body-Length") != strconv.Itoa(size) ||
				resp.Header.Get("X-Body-Sha256") != want {
				t.Fatalf("%d: the backend got %s bytes with sha256 %s, want %d and %s", resp.StatusCode,
					resp.Header.Get("X-Body-Length"), resp.Header.Get("X-Body-Sha256"), size, want)
			}
		})
	}
	downloads := []struct {
		name, query string
		wantLen     int64
	}{
		{"download with a known length", "?length=known", size},
		{"download chunked", "", -1},
	}
	for _, tt := range downloads {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Get(base + "/api/blob" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil {
				t.Fatalf("after %d bytes: %v", n, err)
			}
			if got := hex.EncodeToString(h.Sum(nil)); resp.StatusCode != http.StatusOK || n != size || got != want {
				t.Fatalf("%d: got %d bytes with sha256 %s, want %d and %s", resp.StatusCode, n, got, size, want)
			}
			if resp.ContentLength != tt.wantLen || resp.Header.Get(HeaderCenter) != "sz" {
				t.Errorf("Content-Length %d (want %d), %s %q", resp.ContentLength, tt.wantLen, HeaderCenter, resp.Header.Get(HeaderCenter))
			}
		})
	}
}

// TestBodyOverTheLimitIs413: a body over http.max_body_bytes is refused with 413 and
// Bulwark-Reject: body_too_large, whether its length is declared or it streams chunked past
// the replay buffer, and the backend sees none of it.
func TestBodyOverTheLimitIs413(t *testing.T) {
	const limit, replay = 512 << 10, 256 << 10
	b := newBackend(t, "sink")
	_, _, base := soloGateway(t, func(cfg *config.Config) {
		cfg.HTTP.MaxBodyBytes = limit
		cfg.Retry.ReplayBuffer = replay
		addService(cfg, "sink", 1, map[string][]string{"sz": {b.addr}}, false)
		cfg.Routes[0].Methods = []string{"POST"}
	})
	tests := []struct {
		name    string
		size    int
		chunked bool
		status  int
	}{
		{"declared length within the limit", limit, false, http.StatusOK},
		{"chunked within the limit, past the replay buffer", limit - 1, true, http.StatusOK},
		{"chunked within the replay buffer", replay / 2, true, http.StatusOK},
		{"declared length over the limit", 2 * limit, false, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", 2 * limit, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := b.hits.Load()
			var body io.Reader = bytes.NewReader(make([]byte, tt.size))
			if tt.chunked {
				body = onlyReader{body}
			}
			status, h, _, err := send(http.MethodPost, base+"/api/sink", nil, body)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || h.Get(HeaderCenter) != "sz" {
				t.Fatalf("%d (%s %q), want %d", status, HeaderReject, h.Get(HeaderReject), tt.status)
			}
			if tt.status == http.StatusRequestEntityTooLarge {
				if h.Get(HeaderReject) != "body_too_large" {
					t.Errorf("%s %q, want body_too_large", HeaderReject, h.Get(HeaderReject))
				}
				if !tt.chunked && b.hits.Load() != hits {
					t.Error("the backend was called for a body declared too large")
				}
			}
		})
	}
}

// TestServerSentEventsFlushThrough: the backend sends event 2 only after the client has
// received event 1, which it can only do if the gateway flushes each event as it comes.
func TestServerSentEventsFlushThrough(t *testing.T) {
	gotFirst := make(chan struct{})
	b := newBackend(t, "events", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-gotFirst:
			_, _ = io.WriteString(w, "data: 2\n\n")
		case <-time.After(3 * time.Second):
			_, _ = io.WriteString(w, "data: late\n\n")
		case <-r.Context().Done():
		}
	})))
	_, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "events", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(HeaderCenter) != "sz" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("headers: %v", resp.Header)
	}
	rd := bufio.NewReader(resp.Body)
	event := func() string {
		t.Helper()
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading an event: %v", err)
		}
		if blank, err := rd.ReadString('\n'); err != nil || blank != "\n" {
			t.Fatalf("event not terminated: %q %v", blank, err)
		}
		return line
	}
	if got := event(); got != "data: 1\n" {
		t.Fatalf("first event %q", got)
	}
	close(gotFirst)
	if got := event(); got != "data: 2\n" {
		t.Fatalf("second event %q, want data: 2 (the first one was held back)", got)
	}
}

// TestUpgradePassesThrough: a WebSocket-style Upgrade gets the backend's 101, then bytes flow
// both ways over the client's own connection.
func TestUpgradePassesThrough(t *testing.T) {
	upgradeSeen := make(chan http.Header, 1)
	b := newBackend(t, "ws", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		upgradeSeen <- r.Header.Clone()
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				if _, werr := conn.Write(bytes.ToUpper(buf[:n])); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})))
	g, _, _ := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "ws", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	conn, err := net.DialTimeout("tcp", g.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(conn, "GET /api/ws HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get(HeaderCenter) != "sz" {
		t.Fatalf("answer to the upgrade: %d %v", resp.StatusCode, resp.Header)
	}
	h := receive(t, upgradeSeen, "the upgrade at the backend")
	if !strings.EqualFold(h.Get("Connection"), "upgrade") {
		t.Errorf("the backend saw Connection %q", h.Get("Connection"))
	}
	for _, msg := range []string{"hello", "bulwark"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(rd, got); err != nil {
			t.Fatalf("echo of %q: %v", msg, err)
		}
		if string(got) != strings.ToUpper(msg) {
			t.Fatalf("echo %q, want %q", got, strings.ToUpper(msg))
		}
	}
}

// TestUnaskedProtocolSwitchIs502: an upstream that answers 101 to a request that asked for no
// protocol switch cannot be relayed; the client gets 502, not an empty 200.
func TestUnaskedProtocolSwitchIs502(t *testing.T) {
	b := newBackend(t, "switcher", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_, _ = io.Copy(io.Discard, conn) // until the gateway lets go
	})))
	_, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "switcher", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	status, h, body, err := send(http.MethodGet, base+"/api/switcher", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadGateway || h.Get(HeaderCenter) != "sz" || h.Get(HeaderReject) == "" {
		t.Fatalf("%d %q (%s %q), want 502 with a %s", status, body, HeaderReject, h.Get(HeaderReject), HeaderReject)
	}
}

// TestBrokenUpstreamBodyIsNotPassedOffAsComplete: when the upstream's body breaks mid-way,
// the client must see a broken response, not a short one that looks complete.
func TestBrokenUpstreamBodyIsNotPassedOffAsComplete(t *testing.T) {
	b := newBackend(t, "breaks", withHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("length") == "known" {
			w.Header().Set("Content-Length", "2000")
		}
		_, _ = w.Write(bytes.Repeat([]byte("x"), 1000))
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-body
	})))
	_, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "breaks", 1, map[string][]string{"sz": {b.addr}}, false)
	})
	for _, query := range []string{"?length=known", ""} {
		name := map[string]string{"?length=known": "known length", "": "chunked"}[query]
		t.Run(name, func(t *testing.T) {
			status, _, body, err := send(http.MethodGet, base+"/api/breaks"+query, nil, nil)
			if err == nil {
				t.Fatalf("the client read a complete-looking %d response of %d bytes from a broken upstream body", status, len(body))
			}
		})
	}
}

// TestEveryAnswerCarriesCenter: Bulwark-Center is on every response, whether passed through
// or the gateway's own refusal; refusals carry Bulwark-Reject, and 429 and 503 Retry-After.
func TestEveryAnswerCarriesCenter(t *testing.T) {
	ok, failing := newBackend(t, "ok"), newBackend(t, "failing")
	failing.status.Store(http.StatusInternalServerError)
	dead := newBackend(t, "dead")
	dead.kill()
	slow := newBackend(t, "slow", withDelay(time.Second))
	g, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "songs", 1, map[string][]string{"sz": {ok.addr}}, false)
		addService(cfg, "failing", 1, map[string][]string{"sz": {failing.addr}}, false)
		addService(cfg, "dead", 1, map[string][]string{"sz": {dead.addr}}, false)
		s := addService(cfg, "slow", 1, map[string][]string{"sz": {slow.addr}}, false)
		s.Timeout = config.Timeout{Tavg: config.Duration(20 * time.Millisecond), Thwm: config.Duration(50 * time.Millisecond), Tmax: config.Duration(100 * time.Millisecond)}
		n := addService(cfg, "narrow", 1, map[string][]string{"sz": {ok.addr}}, false)
		n.Concurrency = config.Concurrency{Max: 1, Queue: 1, MaxWait: config.Duration(time.Second)}
		cfg.Routes[len(cfg.Routes)-1].Level = 4 // share 0.6 of a limit of 1: nothing is admitted at once
		cfg.Limits = []*config.Limit{{Key: "header:X-User-Id", Limit: 1, Per: config.Duration(5 * time.Second), Paths: []string{"/api/songs/claim"}}}
		cfg.Block = []*config.Block{{Header: "X-Client", Pattern: "^badbot"}}
	})
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name, method, path string
		header             http.Header
		status             int
		reject             string // "" = none
		retryAfter         string // "" = none
	}{
		{"200 passed on", "GET", "/api/songs", nil, 200, "", ""},
		{"upstream 500 passed on", "GET", "/api/failing", nil, 500, "", ""},
		{"404 no route", "GET", "/nowhere", nil, 404, "no_route", ""},
		{"404 method not routed", "DELETE", "/api/songs", nil, 404, "no_route", ""},
		{"403 blocked", "GET", "/api/songs", hdr("X-Client", "badbot/2.0"), 403, "blocked", ""},
		{"first claim passes", "GET", "/api/songs/claim", hdr("X-User-Id", "u1"), 200, "", ""},
		{"429 second claim", "GET", "/api/songs/claim", hdr("X-User-Id", "u1"), 429, "limit", "5"},
		{"another user's claim passes", "GET", "/api/songs/claim", hdr("X-User-Id", "u2"), 200, "", ""},
		{"502 dead host, no remote", "GET", "/api/dead", nil, 502, "upstream_connect", ""},
		{"504 upstream slower than tmax", "GET", "/api/slow", nil, 504, "upstream_timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, _, err := send(tt.method, base+tt.path, tt.header, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, status, h, tt.status, tt.reject, tt.retryAfter)
		})
	}
	t.Run("503 queue timeout and shed", func(t *testing.T) {
		type answer struct {
			status int
			h      http.Header
			err    error
		}
		queued := make(chan answer, 1)
		go func() {
			status, h, _, err := send("GET", base+"/api/narrow", nil, nil)
			queued <- answer{status, h, err}
		}()
		eventually(t, 5*time.Second, "a request to wait in narrow's queue", func() bool {
			return serviceStatus(t, g, "narrow").Admit.Queued == 1
		})
		status, h, _, err := send("GET", base+"/api/narrow", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, status, h, 503, "shed", "1")
		a := receive(t, queued, "the queued request")
		if a.err != nil {
			t.Fatal(a.err)
		}
		checkAnswer(t, a.status, a.h, 503, "queue_timeout", "1")
	})
}

// checkAnswer checks a response's status, Bulwark-Center, Bulwark-Reject and Retry-After.
func checkAnswer(t *testing.T, status int, h http.Header, wantStatus int, reject, retryAfter string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d (%s %q), want %d", status, HeaderReject, h.Get(HeaderReject), wantStatus)
	}
	if got := h.Get(HeaderCenter); got != "sz" {
		t.Errorf("%s %q, want sz", HeaderCenter, got)
	}
	if got := h.Get(HeaderReject); got != reject {
		t.Errorf("%s %q, want %q", HeaderReject, got, reject)
	}
	if got := h.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After %q, want %q", got, retryAfter)
	}
}

// TestDeadlineHeader: Bulwark-Deadline (Unix ms) in the past is refused with 503, a malformed
// one with 400, and a near one bounds the wait for the upstream.
func TestDeadlineHeader(t *testing.T) {
	ok, lazy := newBackend(t, "ok"), newBackend(t, "lazy", withDelay(1500*time.Millisecond))
	_, _, base := soloGateway(t, func(cfg *config.Config) {
		addService(cfg, "songs", 1, map[string][]string{"sz": {ok.addr}}, false)
		addService(cfg, "lazy", 1, map[string][]string{"sz": {lazy.addr}}, false)
	})
	ms := func(d time.Duration) string { return strconv.FormatInt(time.Now().Add(d).UnixMilli(), 10) }
	tests := []struct {
		name, path, deadline string
		status               int
		reject, retryAfter   string
	}{
		{"in the past", "/api/songs", ms(-time.Second), 503, "deadline", "1"},
		{"at the epoch", "/api/songs", "0", 503, "deadline", "1"},
		{"negative", "/api/songs", "-5", 503, "deadline", "1"},
		{"not a number", "/api/songs", "soon", 400, "bad_deadline", ""},
		{"fractional", "/api/songs", "1.5e12", 400, "bad_deadline", ""},
		{"in the future", "/api/songs", ms(30 * time.Second), 200, "", ""},
		{"before the upstream answers", "/api/lazy", ms(300 * time.Millisecond), 504, "upstream_timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			status, h, _, err := send("GET", base+tt.path, http.Header{HeaderDeadline: {tt.deadline}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, status, h, tt.status, tt.reject, tt.retryAfter)
			if took := time.Since(start); tt.path == "/api/lazy" && took > time.Second {
				t.Errorf("answered after %v; the deadline was 300ms away", took)
			}
		})
	}
}

// accessLines returns the decoded access-log lines ("msg":"request") in logs.
func accessLines(t *testing.T, logs *logBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"request"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRouting: host, longest prefix on path segments, methods, headers and the route level
// override pick the route, as the access log reports it.
func TestRouting(t *testing.T) {
	b := newBackend(t, "any")
	_, logs, base := soloGateway(t, func(cfg *config.Config) {
		for _, name := range []string{"songs", "songspost", "songsbeta", "api", "hostapi", "static"} {
			cfg.Services[name] = &config.Service{Level: 1, Upstreams: map[string][]string{"sz": {b.addr}}}
		}
		cfg.Services["hostapi"].Level = 2
		cfg.Routes = []*config.Route{
			{Name: "songs-post", Path: "/api/songs", Methods: []string{"POST"}, Service: "songspost"},
			{Name: "songs-beta", Path: "/api/songs", Headers: map[string]string{"x-beta": "1"}, Service: "songsbeta"},
			{Name: "songs", Path: "/api/songs", Service: "songs"},
			{Name: "api", Path: "/api", Service: "api"},
			{Name: "host-api", Host: "API.Example.com", Path: "/api", Service: "hostapi"},
			{Name: "reports", Path: "/reports", Service: "songs", Level: 3},
			{Name: "static", Path: "/static/", Service: "static"},
		}
	})
	tests := []struct {
		name, method, host, path string
		header                   http.Header
		route, service           string // "" = no route (404)
		level                    float64
	}{
		{"host route beats a longer prefix", "GET", "api.example.com", "/api/songs", nil, "host-api", "hostapi", 2},
		{"host match ignores case and port", "GET", "API.EXAMPLE.COM:8080", "/api/x", nil, "host-api", "hostapi", 2},
		{"other host, longest prefix", "GET", "other.example.com", "/api/songs", nil, "songs", "songs", 1},
		{"below the prefix", "GET", "", "/api/songs/42", nil, "songs", "songs", 1},
		{"songsx is not under songs", "GET", "", "/api/songsx", nil, "api", "api", 1},
		{"the shorter prefix itself", "GET", "", "/api", nil, "api", "api", 1},
		{"apix is not under api", "GET", "", "/apix", nil, "", "", 0},
		{"method", "POST", "", "/api/songs", nil, "songs-post", "songspost", 1},
		{"header", "GET", "", "/api/songs/1", http.Header{"X-Beta": {"1"}}, "songs-beta", "songsbeta", 1},
		{"header with another value", "GET", "", "/api/songs", http.Header{"X-Beta": {"2"}}, "songs", "songs", 1},
		{"route level override", "GET", "", "/reports/daily", nil, "reports", "songs", 3},
		{"prefix ending in a slash", "GET", "", "/static/app.js", nil, "static", "static", 1},
		{"prefix ending in a slash, without it", "GET", "", "/static", nil, "", "", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, vv := range tt.header {
				req.Header[k] = vv
			}
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			var lines []map[string]any
			eventually(t, 5*time.Second, "the access log line", func() bool {
				lines = accessLines(t, logs)
				return len(lines) > i
			})
			line := lines[i]
			if tt.route == "" {
				if resp.StatusCode != http.StatusNotFound || line["route"] != nil {
					t.Errorf("%d, route %v; want 404 and no route", resp.StatusCode, line["route"])
				}
				return
			}
			if resp.StatusCode != http.StatusOK || line["route"] != tt.route || line["service"] != tt.service || line["level"] != tt.level {
				t.Errorf("%d route %v service %v level %v; want 200 %s %s %v",
					resp.StatusCode, line["route"], line["service"], line["level"], tt.route, tt.service, tt.level)
			}
		})
	}
}
