package metrics_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/gateway/metrics"
)

func Example() {
	// The core hands over its state at scrape time.
	m := metrics.New(func() metrics.Snapshot {
		return metrics.Snapshot{
			CPUPermille: 420,
			Services: []metrics.ServiceSnapshot{{
				Name:     "songs",
				Inflight: 3,
				Windows:  []metrics.WindowSnapshot{{Center: "s", Size: 8}},
				Hosts:    []metrics.HostSnapshot{{Addr: "10.0.0.1:80", State: metrics.StateHealthy}},
			}},
		}
	}, metrics.WithVersion("v0.1.0"))

	// At config build: resolve each route and each upstream host once.
	songs := m.Route("/songs", "songs", 1, "p")
	host := m.Upstream("songs", "p", "10.0.0.1:80")

	// Per request: one upstream attempt, then the finished request.
	host.Observe((3 * time.Millisecond).Seconds())
	songs.Observe(http.StatusOK, metrics.OutcomeOK, 4*time.Millisecond)

	// Serve m.Handler() on the metrics endpoint; here, check two series instead.
	err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP bulwark_requests_total Requests the gateway finished, by route, service, level, the route's center, status code and outcome.
# TYPE bulwark_requests_total counter
bulwark_requests_total{center="p",code="200",level="1",outcome="ok",route="/songs",service="songs"} 1
# HELP bulwark_retry_window Failover requests the service may send to the remote center in the current period, f(i).
# TYPE bulwark_retry_window gauge
bulwark_retry_window{center="s",service="songs"} 8
`), "bulwark_requests_total", "bulwark_retry_window")
	fmt.Println(err)
	// Output: <nil>
}
