package httpmw_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/promcheck"
)

var trMetricNames = []string{"bulwark_httpmw_client_requests_total", "bulwark_httpmw_client_fallbacks_total",
	"bulwark_httpmw_client_timeout_seconds", "bulwark_httpmw_client_breaker_open"}

// trDriven returns a RoundTripper named "payments" that has made an ok call, a 5xx call that
// opened its breaker, and a refused call that the fallback answered, all to be.
func trDriven(t *testing.T, be *trBackend) *httpmw.RoundTripper {
	t.Helper()
	fallback := func(r *http.Request, err error) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	}
	rt := trTransport(t, httpmw.WithName("payments"), httpmw.WithClock(clock.NewFake(time.Time{})),
		httpmw.WithBreaker(breaker.KindClassic, breaker.WithFailureCount(1)), httpmw.WithDegrade(nil, fallback))
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError, http.StatusOK} {
		be.status.Store(int64(status))
		if _, err := trGet(rt, be.srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	return rt
}

func TestTransportMetricsValues(t *testing.T) {
	be := trNewBackend(t)
	rt := trDriven(t, be)
	var want strings.Builder
	want.WriteString(`# HELP bulwark_httpmw_client_requests_total Calls through the protecting transport, by client, target host and outcome.
# TYPE bulwark_httpmw_client_requests_total counter
`)
	for _, o := range []struct {
		name string
		n    int
	}{{"breaker_open", 1}, {"canceled", 0}, {"deadline", 0}, {"degraded", 0}, {"error_5xx", 1}, {"failed", 0},
		{"ok", 1}, {"overloaded", 0}, {"rate_limited", 0}, {"timeout", 0}} {
		fmt.Fprintf(&want, "bulwark_httpmw_client_requests_total{client=\"payments\",host=%q,outcome=%q} %d\n", be.host(), o.name, o.n)
	}
	fmt.Fprintf(&want, `# HELP bulwark_httpmw_client_fallbacks_total Refused or failed calls that the fallback answered, by client and target host.
# TYPE bulwark_httpmw_client_fallbacks_total counter
bulwark_httpmw_client_fallbacks_total{client="payments",host=%[1]q} 1
# HELP bulwark_httpmw_client_timeout_seconds The current EMA dynamic timeout of the target host.
# TYPE bulwark_httpmw_client_timeout_seconds gauge
bulwark_httpmw_client_timeout_seconds{client="payments",host=%[1]q} 0.5
# HELP bulwark_httpmw_client_breaker_open 1 while the target host's breaker is not closed (it refuses calls), else 0.
# TYPE bulwark_httpmw_client_breaker_open gauge
bulwark_httpmw_client_breaker_open{client="payments",host=%[1]q} 1
`, be.host())
	if err := testutil.CollectAndCompare(rt, strings.NewReader(want.String()), trMetricNames...); err != nil {
		t.Fatal(err)
	}

	off := trTransport(t, httpmw.WithoutBreaker(), httpmw.WithoutTimeout())
	if _, err := trGet(off, be.srv.URL); err != nil {
		t.Fatal(err)
	}
	for _, name := range trMetricNames[2:] {
		if _, ok := trMetric(t, off, name, httpmw.DefaultName, be.host()); ok {
			t.Errorf("%s is reported for a transport without it", name)
		}
	}
}

func TestTransportMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(trDriven(t, trNewBackend(t)))
	problems, err := testutil.GatherAndLint(reg, trMetricNames...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestTransportPromtoolCheckMetrics(t *testing.T) {
	promcheck.Check(t, promcheck.Scrape(t, trDriven(t, trNewBackend(t))), trMetricNames...)
}
