package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/internal/promcheck"
)

// fullSnapshot is a snapshot that exercises every snapshot gauge.
func fullSnapshot() Snapshot {
	return Snapshot{
		CPUPermille:         640,
		AdaptiveMaxInflight: 120,
		Services: []ServiceSnapshot{
			{
				Name: "songs", Inflight: 7,
				Windows: []WindowSnapshot{{Center: "s", Size: 12}},
				Hosts: []HostSnapshot{
					{Addr: "10.0.0.1:80", State: StateHealthy, Breaker: BreakerClosed},
					{Addr: "10.0.0.2:80", State: StateOverloaded, Breaker: BreakerHalfOpen},
				},
				Fleet: ServiceFleetSnapshot{LimitMode: ModeLocal, Cache: true, CacheHit: 9, CacheMiss: 3,
					DR: true, DRHit: 3, DRMiss: 1, Fallback: true, FallbackOK: 2, FallbackErr: 1},
			},
			{
				Name: "avatars", Inflight: 0,
				Windows: []WindowSnapshot{{Center: "s", Size: 1}},
				Hosts:   []HostSnapshot{{Addr: "10.0.1.1:80", State: StateOffline, Breaker: BreakerOpen}},
			},
		},
		Fleet: &FleetSnapshot{RedisUp: true, RedisErrors: 4},
		Cache: &CacheSnapshot{HitsL1: 7, HitsL2: 2, TooLarge: 1, Corrupt: 1},
	}
}

// driveAll touches every metric this package defines at least once.
func driveAll(m *Metrics) {
	r := m.Route("/songs", "songs", 1, "p")
	r.Observe(200, OutcomeOK, 4*time.Millisecond)
	r.Observe(200, OutcomeOK, 6*time.Millisecond)
	r.Observe(200, OutcomeFailoverOK, 30*time.Millisecond)
	r.Observe(503, OutcomeShed, 0)
	m.Route("", "", 0, "p").Observe(404, OutcomeNoRoute, time.Microsecond)
	m.Upstream("songs", "p", "10.0.0.1:80").Observe(0.003)
	m.Upstream("songs", "s", "10.0.9.1:80").Observe(0.020)
	m.Failover("songs", "s", ResultOK)
	m.Failover("songs", "s", ResultNoBudget)
	m.LocalRetry("songs", ResultOK)
	m.Rejection("shed")
	m.Fault("songs", "abort").Inc()
	m.Colored("songs", ColorShadow).Inc()
	m.ColorStripped().Inc()
}

// scrape GETs url with the given Accept header and returns the status, content type and body.
func scrape(t *testing.T, url, accept string) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// newServer serves m.Handler on loopback for the test's lifetime.
func newServer(t *testing.T, m *Metrics) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestPromtoolCheckMetrics(t *testing.T) {
	m := New(fullSnapshot)
	driveAll(m)
	srv := newServer(t, m)
	code, ctype, body := scrape(t, srv.URL, "")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("scrape: %d %q", code, ctype)
	}
	promcheck.Check(t, body, Names()...)
}

func TestHandlerFormats(t *testing.T) {
	srv := newServer(t, New(fullSnapshot))
	tests := []struct {
		name, accept, wantType string
	}{
		{"text by default", "", "text/plain; version=0.0.4"},
		{"openmetrics", "application/openmetrics-text; version=1.0.0", "application/openmetrics-text"},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
			"application/vnd.google.protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ctype, body := scrape(t, srv.URL, tt.accept)
			if code != http.StatusOK || !strings.HasPrefix(ctype, tt.wantType) || len(body) == 0 {
				t.Fatalf("got %d %q (%d bytes), want 200 %q", code, ctype, len(body), tt.wantType)
			}
		})
	}
}

func TestLint(t *testing.T) {
	m := New(fullSnapshot)
	driveAll(m)
	problems, err := testutil.GatherAndLint(m.Registry(), Names()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestPedanticRegistry(t *testing.T) {
	m := newMetrics(prometheus.NewPedanticRegistry(), fullSnapshot)
	driveAll(m)
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("Names not sorted and unique: %v", names)
	}
	m := New(fullSnapshot)
	driveAll(m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		n := mf.GetName()
		switch {
		case strings.HasPrefix(n, "bulwark_"):
			got = append(got, n)
		case strings.HasPrefix(n, "go_"), strings.HasPrefix(n, "process_"):
		default:
			t.Errorf("family %s is neither in Names nor a Go or process family", n)
		}
	}
	if !slices.Equal(got, names) {
		t.Fatalf("gathered %v\nNames()  %v", got, names)
	}
	names[0] = "changed"
	if Names()[0] == "changed" {
		t.Fatal("Names shares its slice")
	}
}

func TestExactValues(t *testing.T) {
	m := New(fullSnapshot)
	driveAll(m)
	const want = `
# HELP bulwark_requests_total Requests the gateway finished, by route, service, level, the route's center, status code and outcome.
# TYPE bulwark_requests_total counter
bulwark_requests_total{center="p",code="200",level="1",outcome="failover_ok",route="/songs",service="songs"} 1
bulwark_requests_total{center="p",code="200",level="1",outcome="ok",route="/songs",service="songs"} 2
bulwark_requests_total{center="p",code="404",level="0",outcome="no_route",route="",service=""} 1
bulwark_requests_total{center="p",code="503",level="1",outcome="shed",route="/songs",service="songs"} 1
# HELP bulwark_failovers_total Failover decisions toward a remote center, by service, target center and result.
# TYPE bulwark_failovers_total counter
bulwark_failovers_total{result="no_budget",service="songs",to="s"} 1
bulwark_failovers_total{result="ok",service="songs",to="s"} 1
# HELP bulwark_local_retries_total Retries on another host of the local center, by service and result.
# TYPE bulwark_local_retries_total counter
bulwark_local_retries_total{result="ok",service="songs"} 1
# HELP bulwark_rejections_total Requests the gateway refused itself, by the Bulwark-Reject reason.
# TYPE bulwark_rejections_total counter
bulwark_rejections_total{reason="shed"} 1
# HELP bulwark_faults_injected_total Faults injected into requests through the admin API, by service and kind (delay or abort).
# TYPE bulwark_faults_injected_total counter
bulwark_faults_injected_total{kind="abort",service="songs"} 1
# HELP bulwark_cpu_permille Process CPU use in per mille of the CPU the process may use, as admission sees it.
# TYPE bulwark_cpu_permille gauge
bulwark_cpu_permille 640
# HELP bulwark_adaptive_max_inflight The adaptive limiter's current in-flight bound, MaxPass × MinRt.
# TYPE bulwark_adaptive_max_inflight gauge
bulwark_adaptive_max_inflight 120
# HELP bulwark_inflight Requests of the service in progress now.
# TYPE bulwark_inflight gauge
bulwark_inflight{service="avatars"} 0
bulwark_inflight{service="songs"} 7
# HELP bulwark_retry_window Failover requests the service may send to the remote center in the current period, f(i).
# TYPE bulwark_retry_window gauge
bulwark_retry_window{center="s",service="avatars"} 1
bulwark_retry_window{center="s",service="songs"} 12
# HELP bulwark_breaker_state Circuit breaker state of the host: 0 closed, 1 half-open, 2 open.
# TYPE bulwark_breaker_state gauge
bulwark_breaker_state{host="10.0.0.1:80",service="songs"} 0
bulwark_breaker_state{host="10.0.0.2:80",service="songs"} 1
bulwark_breaker_state{host="10.0.1.1:80",service="avatars"} 2
`
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		NameRequests, NameFailovers, NameLocalRetries, NameRejections, NameFaultsInjected,
		NameCPUPermille, NameAdaptiveMaxInflight, NameInflight, NameRetryWindow, NameBreakerState)
	if err != nil {
		t.Fatal(err)
	}
}

func TestBuildInfo(t *testing.T) {
	m := New(nil, WithVersion("v1.2.3"))
	want := `
# HELP bulwark_build_info Always 1; the labels name the gateway's version and the Go version it was built with.
# TYPE bulwark_build_info gauge
bulwark_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), NameBuildInfo); err != nil {
		t.Fatal(err)
	}
}

func TestDurationHistogramsAreClassicAndNative(t *testing.T) {
	m := New(nil)
	driveAll(m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, mf := range mfs {
		if mf.GetName() != NameRequestDuration && mf.GetName() != NameUpstreamDuration {
			continue
		}
		for _, metric := range mf.GetMetric() {
			h := metric.GetHistogram()
			if len(h.GetBucket()) != len(DurationBuckets) {
				t.Errorf("%s: %d classic buckets, want %d", mf.GetName(), len(h.GetBucket()), len(DurationBuckets))
			}
			// Factor 1.1 is schema 3 (2^(2^-3) ≈ 1.09 is the largest factor ≤ 1.1).
			if h.Schema == nil || h.GetSchema() != 3 {
				t.Errorf("%s: native schema %v, want 3", mf.GetName(), h.Schema)
			}
			if h.GetSampleCount() > 0 && len(h.GetPositiveSpan()) == 0 && h.GetZeroCount() == 0 {
				t.Errorf("%s: samples but no native buckets", mf.GetName())
			}
			checked++
		}
	}
	if checked != 4 { // /songs, the no-route series, and two upstream hosts
		t.Fatalf("checked %d histogram series, want 4", checked)
	}
}

func TestForget(t *testing.T) {
	m := New(nil)
	driveAll(m)
	m.Route("/avatars", "avatars", 3, "p").Observe(200, OutcomeOK, time.Millisecond)
	m.Upstream("avatars", "p", "10.0.1.1:80").Observe(0.001)
	// songs: 3 request series, 1 duration, 2 upstream, 2 failover, 1 local retry, 1 fault,
	// 1 colored.
	if n := m.Forget("songs"); n != 11 {
		t.Fatalf("Forget deleted %d series, want 11", n)
	}
	for _, name := range []string{NameRequests, NameRequestDuration, NameUpstreamDuration} {
		n, err := testutil.GatherAndCount(m.Registry(), name)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if name != NameUpstreamDuration {
			want = 2 // the no-route series stays
		}
		if n != want {
			t.Errorf("%s: %d series after Forget, want %d", name, n, want)
		}
	}
	if n := m.Forget("songs"); n != 0 {
		t.Fatalf("second Forget deleted %d", n)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	driveAll(m) // must not panic
	if m.Registry() != nil || m.Forget("songs") != 0 {
		t.Fatal("nil Metrics returned something")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("nil Metrics handler: %d", rec.Code)
	}
}

func TestSnapshotPanicFailsScrapeOnly(t *testing.T) {
	boom := errors.New("boom")
	m := New(func() Snapshot { panic(boom) })
	driveAll(m)
	_, err := m.Registry().Gather()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Gather error %v, want the panic", err)
	}
	code, _, body := scrape(t, newServer(t, m).URL, "")
	if code != http.StatusInternalServerError || !bytes.Contains(body, []byte("boom")) {
		t.Fatalf("scrape: %d %s", code, body)
	}
}
