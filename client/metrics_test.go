package client

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/internal/promcheck"
)

// drivenClient returns a client that has failed over, frozen and refused a call.
func drivenClient(t *testing.T) *Client {
	probeAddr, _ := liveProbe(t)
	other := newTestCenter(t, say(502, "", "lb"))
	r := newRig(t, "http://"+deadAddr(t), other.URL, func(c *Config) { c.Probe = probeAddr })
	_, _, _ = r.get(t, target) // home refused, other 502: a response
	other.set(cutOff)
	_, _, _ = r.get(t, target) // both down: probe up, freeze
	_, _, _ = r.get(t, target) // refused while frozen
	return r.Client
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promcheck.Check(t, promcheck.Scrape(t, drivenClient(t)), Names()...)
}

func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(drivenClient(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestCollectValues(t *testing.T) {
	c := drivenClient(t)
	want := `
# HELP bulwark_client_failovers_total Second attempts sent to the other center after the first failed.
# TYPE bulwark_client_failovers_total counter
bulwark_client_failovers_total{from="sz",to="bj"} 2
# HELP bulwark_client_freezes_total Freezes started: both centers failed while the network probe succeeded.
# TYPE bulwark_client_freezes_total counter
bulwark_client_freezes_total 1
# HELP bulwark_client_frozen 1 while the client is frozen (refusing every call), else 0.
# TYPE bulwark_client_frozen gauge
bulwark_client_frozen 1
# HELP bulwark_client_frozen_rejections_total Calls refused at once, without I/O, because the client was frozen.
# TYPE bulwark_client_frozen_rejections_total counter
bulwark_client_frozen_rejections_total 1
# HELP bulwark_client_probes_total Network probes run after both centers failed, by verdict (up, down).
# TYPE bulwark_client_probes_total counter
bulwark_client_probes_total{result="down"} 0
bulwark_client_probes_total{result="up"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), NameFailovers, NameFreezes, NameFrozen,
		NameFrozenRejections, NameProbes); err != nil {
		t.Error(err)
	}
	// Every series is exported, zeros included.
	var b strings.Builder
	b.WriteString(`# HELP bulwark_client_requests_total Attempts sent to a center, by the center's name and the attempt's result (gateway, ok, 5xx, timeout, error, canceled).
# TYPE bulwark_client_requests_total counter
`)
	nonzero := map[string]int{"sz/error": 2, "bj/5xx": 1, "bj/error": 1}
	for _, center := range []string{"bj", "sz"} {
		for _, res := range []string{"5xx", "canceled", "error", "gateway", "ok", "timeout"} {
			fmt.Fprintf(&b, "bulwark_client_requests_total{center=%q,result=%q} %d\n", center, res, nonzero[center+"/"+res])
		}
	}
	b.WriteString(`# HELP bulwark_client_calls_total RoundTrip calls by how they ended (response, error, canceled, frozen, network_down, both_down).
# TYPE bulwark_client_calls_total counter
bulwark_client_calls_total{result="both_down"} 0
bulwark_client_calls_total{result="canceled"} 0
bulwark_client_calls_total{result="error"} 0
bulwark_client_calls_total{result="frozen"} 2
bulwark_client_calls_total{result="network_down"} 0
bulwark_client_calls_total{result="response"} 1
`)
	if err := testutil.CollectAndCompare(c, strings.NewReader(b.String()), NameRequests, NameCalls); err != nil {
		t.Error(err)
	}
}
