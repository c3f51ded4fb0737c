package drill

import (
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestShedOrder(t *testing.T) {
	level := func(ok, shed float64) map[string]float64 { return map[string]float64{"ok": ok, "shed": shed} }
	tests := []struct {
		name     string
		by       [5]map[string]float64
		minFirst Share
		slack    Share
		pass     bool
	}{
		{"strictly ordered", [5]map[string]float64{1: level(100, 0), 2: level(90, 10), 3: level(50, 50), 4: level(10, 90)}, 0.5, 0, true},
		{"inverted", [5]map[string]float64{2: level(10, 90), 3: level(50, 50), 4: level(90, 10)}, 0, 0, false},
		{"first below min", [5]map[string]float64{2: level(100, 0), 3: level(100, 0), 4: level(99, 1)}, 0.05, 0, false},
		{"idle levels are 0", [5]map[string]float64{4: level(50, 50)}, 0.1, 0, true},
		{"within slack", [5]map[string]float64{2: level(90, 10), 3: level(92, 8), 4: level(89, 11)}, 0, 0.02, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := shedOrder(&ShedExpect{Levels: []int{4, 3, 2}, MinFirst: tt.minFirst, Slack: tt.slack}, tt.by)
			if c.Pass != tt.pass {
				t.Errorf("pass = %v, want %v (%s)", c.Pass, tt.pass, c.Measured)
			}
		})
	}
}

func TestRejectCheck(t *testing.T) {
	max := Share(0.9)
	tests := []struct {
		name string
		x    RejectExpect
		tc   targetCounts
		pass bool
	}{
		{"share in range", RejectExpect{Reason: "limit", Status: 429, Min: 0.5, Max: &max}, targetCounts{Requests: 10, Rejects: map[string]map[int]int64{"limit": {429: 7}}}, true},
		{"too few", RejectExpect{Reason: "limit", Min: 0.5}, targetCounts{Requests: 10, Rejects: map[string]map[int]int64{"limit": {429: 2}}}, false},
		{"too many", RejectExpect{Reason: "limit", Max: &max}, targetCounts{Requests: 10, Rejects: map[string]map[int]int64{"limit": {429: 10}}}, false},
		{"wrong status", RejectExpect{Reason: "limit", Status: 429}, targetCounts{Requests: 10, Rejects: map[string]map[int]int64{"limit": {429: 5, 503: 1}}}, false},
		{"other reason with only", RejectExpect{Reason: "limit", Only: true}, targetCounts{Requests: 10, Rejects: map[string]map[int]int64{"limit": {429: 5}, "shed": {503: 1}}}, false},
		{"no requests", RejectExpect{Reason: "limit"}, targetCounts{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := rejectCheck(&tt.x, tt.tc); c.Pass != tt.pass {
				t.Errorf("pass = %v, want %v (%s)", c.Pass, tt.pass, c.Measured)
			}
		})
	}
}

func TestSumCounter(t *testing.T) {
	text := `# HELP bulwark_failovers_total x
# TYPE bulwark_failovers_total counter
bulwark_failovers_total{result="ok",service="songs",to="sh"} 5
bulwark_failovers_total{result="error",service="songs",to="sh"} 2
bulwark_failovers_total{result="no_budget",service="songs",to="sh"} 100
bulwark_failovers_total_other{result="ok"} 100
bulwark_requests_total{result="ok"} 100
`
	got, err := sumCounter(strings.NewReader(text), "bulwark_failovers_total", "result", "ok", "error")
	if err != nil || got != 7 {
		t.Errorf("got %v, %v; want 7", got, err)
	}
}

func TestOutcomeDeltas(t *testing.T) {
	st := func(ok, bad uint64) *gatewayStatus {
		s := &gatewayStatus{}
		s.Services = append(s.Services, struct {
			Name   string            `json:"name"`
			Level  int               `json:"level"`
			Counts map[string]uint64 `json:"counts"`
			Hosts  []hostStatus      `json:"hosts"`
		}{Name: "songs", Level: 1, Counts: map[string]uint64{"ok": ok, "upstream_error": bad, "canceled": 3}})
		return s
	}
	before := map[string]*gatewayStatus{"sz": st(10, 5)}
	after := map[string]*gatewayStatus{"sz": st(40, 15), "sh": st(100, 100)}
	ok, total := successOf(outcomeDeltas(before, after, []string{"sz"}, atLevel(1)))
	if ok != 30 || total != 40 {
		t.Errorf("ok %v total %v; want 30 of 40", ok, total)
	}
	if _, total := successOf(outcomeDeltas(before, after, []string{"sz"}, atLevel(2))); total != 0 {
		t.Errorf("level 2 total %v, want 0", total)
	}
}

// TestTallyConcurrent records from many goroutines and checks the totals add up exactly.
func TestTallyConcurrent(t *testing.T) {
	tl := newTally()
	tl.on.Store(true)
	const workers, each = 16, 500
	ok := &http.Response{StatusCode: 200, Header: http.Header{}}
	rej := &http.Response{StatusCode: 429, Header: http.Header{"Bulwark-Reject": {"limit"}}}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := []string{"a", "b"}[w%2]
			for i := range each {
				switch i % 3 {
				case 0:
					tl.record(target, ok, nil)
				case 1:
					tl.record(target, rej, nil)
				default:
					tl.record(target, nil, http.ErrHandlerTimeout)
				}
			}
		}()
	}
	wg.Wait()
	all, a := tl.counts(""), tl.counts("a")
	third := int64(workers * each / 3)
	if all.Requests != workers*each || all.OK < third || all.Rejects["limit"][429] < third || all.Errors < third-int64(workers) {
		t.Errorf("totals: %+v", all)
	}
	if all.OK+all.Rejects["limit"][429]+all.Errors != workers*each || a.Requests != workers*each/2 {
		t.Errorf("lost counts: all %+v, a %+v", all, a)
	}
}

// TestRunEndsGoroutines checks that Run leaves no goroutine behind.
func TestRunEndsGoroutines(t *testing.T) {
	g := newFakeGateway(t)
	d := fakeDrill(t, g, "{success: 50%, p99: 1s, interval: 100ms}", "      - p99: {max: 1s}\n", "300ms")
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	if _, err := Run(t.Context(), d, Options{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Run, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
