package httpmw_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/promcheck"
)

// serverDriven returns a Handler named "api" that served one request, refused one over its
// rate limit and recovered one panic.
func serverDriven(t *testing.T) *httpmw.Handler {
	t.Helper()
	h := protect(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("boom")
		}
	}), httpmw.WithName("api"), httpmw.WithClock(clock.NewFake(time.Time{})), httpmw.WithRateLimit(2, time.Minute, nil),
		httpmw.WithLogger(slog.New(slog.DiscardHandler)))
	for _, path := range []string{"/ok", "/boom", "/ok"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	return h
}

var serverMetricNames = []string{"bulwark_httpmw_requests_total", "bulwark_httpmw_rejections_total",
	"bulwark_panics_total", "bulwark_httpmw_inflight", "bulwark_httpmw_overloaded", "bulwark_httpmw_overload_reports_total"}

func TestServerMetricsPromtool(t *testing.T) {
	promcheck.Check(t, promcheck.Scrape(t, serverDriven(t)), serverMetricNames...)
}

func TestServerMetricsValues(t *testing.T) {
	h := serverDriven(t)
	want := `
# HELP bulwark_httpmw_requests_total Requests that reached the wrapped handler and completed, by handler.
# TYPE bulwark_httpmw_requests_total counter
bulwark_httpmw_requests_total{handler="api"} 1
# HELP bulwark_panics_total Panics recovered, by component and handler.
# TYPE bulwark_panics_total counter
bulwark_panics_total{component="httpmw",handler="api"} 1
`
	if err := testutil.CollectAndCompare(h, strings.NewReader(want), "bulwark_httpmw_requests_total", "bulwark_panics_total"); err != nil {
		t.Fatal(err)
	}
	if got := h.Stats().Rejected[httpmw.ReasonRateLimited]; got != 1 {
		t.Fatalf("rate_limited = %v, want 1", got)
	}
	problems, err := testutil.CollectAndLint(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
