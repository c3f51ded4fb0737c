package client

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// deadAddr returns a loopback address nothing listens on: listen, then close.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// center is a loopback test server that counts its requests and answers by a swappable
// handler.
type testCenter struct {
	*httptest.Server
	hits    atomic.Int64
	handler atomic.Pointer[http.HandlerFunc]
}

func newTestCenter(t *testing.T, h http.HandlerFunc) *testCenter {
	t.Helper()
	tc := &testCenter{}
	tc.set(h)
	tc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc.hits.Add(1)
		(*tc.handler.Load())(w, r)
	}))
	t.Cleanup(tc.Close)
	return tc
}

func (tc *testCenter) set(h http.HandlerFunc) { tc.handler.Store(&h) }

// say answers status and body, with Bulwark-Center: center when center is not "".
func say(status int, center, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if center != "" {
			w.Header().Set(HeaderCenter, center)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// echo answers 200 with the request body, prefixed by tag.
func echo(tag string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, tag+":"+string(b))
	}
}

// cutOff hijacks the connection, writes part of a response head, and closes it.
func cutOff(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/pl")
	_ = buf.Flush()
	_ = conn.Close()
}

// hang blocks until the client goes away or the test ends.
func hang(done <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

// countingTransport counts the attempts and probes that reach the network.
type countingTransport struct {
	base  http.RoundTripper
	calls atomic.Int64
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.calls.Add(1)
	return ct.base.RoundTrip(r)
}

func newTransport(t *testing.T) *countingTransport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &countingTransport{base: tr}
}

// rig is a client under test with its fake clock and transport.
type rig struct {
	*Client
	fake *clock.Fake
	tr   *countingTransport
}

// newRig builds a client for home "sz" at homeURL and "bj" at otherURL; edit may adjust
// the config.
func newRig(t *testing.T, homeURL, otherURL string, edit func(*Config)) *rig {
	t.Helper()
	fake := clock.NewFake(time.Time{})
	tr := newTransport(t)
	cfg := Config{
		Centers:   []Center{{Name: "sz", URL: homeURL}, {Name: "bj", URL: otherURL}},
		Home:      "sz",
		Transport: tr,
		Clock:     fake,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{Client: c, fake: fake, tr: tr}
}

// get sends a GET through the client and returns status and body, or the error.
func (r *rig) get(t *testing.T, target string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return readResp(t, r.Client, req)
}

func readResp(t *testing.T, c *Client, req *http.Request) (int, string, error) {
	t.Helper()
	resp, err := c.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode, string(b), nil
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 5s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// attempts returns the attempt count for center index i and result r.
func (c *Client) attemptCount(i int, r result) uint64 { return c.m.attempts[i][r].Load() }

func (c *Client) callCount(r callResult) uint64 { return c.m.calls[r].Load() }
