package metrics

import (
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestColorMetrics(t *testing.T) {
	m := New(nil)
	for _, r := range []string{ColorShadow, ColorPassthrough, ColorRejected} {
		m.Colored("songs", r) // resolved at build: exported at 0
	}
	m.Colored("songs", ColorShadow).Inc()
	m.Colored("songs", ColorRejected).Add(2)
	m.ColorStripped().Add(3)
	const want = `
# HELP bulwark_colored_requests_total Colored (load-test) requests whose color the gateway kept, by service and result: shadow, passthrough or rejected (no-shadow).
# TYPE bulwark_colored_requests_total counter
bulwark_colored_requests_total{result="passthrough",service="songs"} 0
bulwark_colored_requests_total{result="rejected",service="songs"} 2
bulwark_colored_requests_total{result="shadow",service="songs"} 1
# HELP bulwark_color_stripped_total Requests whose color (Bulwark-Color or the baggage member bulwark.color) the gateway removed: not proven by the token or a trusted address, or not a valid color.
# TYPE bulwark_color_stripped_total counter
bulwark_color_stripped_total 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), NameColoredRequests, NameColorStripped); err != nil {
		t.Fatal(err)
	}
}

// Counters resolved once and shared by many goroutines lose no increment.
func TestColorMetricsConcurrent(t *testing.T) {
	m := New(nil)
	shadow, stripped := m.Colored("songs", ColorShadow), m.ColorStripped()
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				shadow.Inc()
				stripped.Inc()
			}
		})
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.Colored("songs", ColorShadow)); got != workers*each {
		t.Fatalf("shadow = %v, want %d", got, workers*each)
	}
	if got := testutil.ToFloat64(stripped); got != workers*each {
		t.Fatalf("stripped = %v, want %d", got, workers*each)
	}
}

func TestColorMetricsNil(t *testing.T) {
	var m *Metrics
	m.Colored("songs", ColorShadow).Inc()
	m.ColorStripped().Inc()
}

func TestColorIncDoesNotAllocate(t *testing.T) {
	m := New(nil)
	c := m.Colored("songs", ColorShadow)
	if n := testing.AllocsPerRun(100, func() { c.Inc(); m.ColorStripped().Inc() }); n != 0 {
		t.Fatalf("%v allocations per increment", n)
	}
}
