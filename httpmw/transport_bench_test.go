package httpmw

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/degrade"
)

// memBase is an in-memory base RoundTripper: it answers 200 with a one-read body at once, so
// that a benchmark measures the transport and not a network.
type memBase struct{}

func (memBase) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: memBody{}, Request: r}, nil
}

// memBody is an empty response body that is not http.NoBody, so the transport wraps it.
type memBody struct{}

func (memBody) Read([]byte) (int, error) { return 0, io.EOF }
func (memBody) Close() error             { return nil }

// benchTransport is a RoundTripper with every decision step on: a passing degrade switch, a
// rate limit that never refuses, the SRE breaker and the dynamic timeout (real clock).
func benchTransport(tb testing.TB) *RoundTripper {
	tb.Helper()
	sw, err := degrade.New()
	if err != nil {
		tb.Fatal(err)
	}
	rt, err := Transport(memBase{}, WithDegrade(sw, nil), WithRateLimit(1<<30, time.Second, nil))
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}

func benchRequest(tb testing.TB) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://dependency.internal:8080/v1/item", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// BenchmarkTransport is a whole RoundTrip against the in-memory base, body closed: the decision,
// the request copy with its headers, the timer, the base call and the outcome report.
func BenchmarkTransport(b *testing.B) {
	rt, req := benchTransport(b), benchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// BenchmarkTransportDecision is the decision path alone: the host lookup, the degrade switch,
// the rate limit, the breaker and the timeout pick (admit), and the outcome report to the
// breaker and the EMA (finish); no request copy, no timer and no base call.
func BenchmarkTransportDecision(b *testing.B) {
	rt, req := benchTransport(b), benchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		decideOnce(b, rt, req)
	}
}

func decideOnce(tb testing.TB, rt *RoundTripper, req *http.Request) {
	d, _, err := rt.admit(req, rt.host(req.URL.Host))
	if err != nil {
		tb.Fatal(err)
	}
	d.finish(callOK, time.Millisecond)
}
