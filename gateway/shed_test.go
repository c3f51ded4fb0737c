package gateway

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// levelRoutes points four routes, /api/l1../api/l4 with levels 1..4, at one service.
func levelRoutes(cfg *config.Config, service string) {
	for level := 1; level <= 4; level++ {
		cfg.Routes = append(cfg.Routes, &config.Route{Path: fmt.Sprintf("/api/l%d", level), Service: service, Level: level})
	}
}

// driveLevels offers perLevel req/s on each of the four level routes for dur, and returns the
// results by level (index 0 = level 1).
func driveLevels(t *testing.T, base string, perLevel int, dur time.Duration) [4][]result {
	var out [4][]result
	var wg sync.WaitGroup
	for level := 1; level <= 4; level++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[level-1] = drive(t, perLevel, dur, get(fmt.Sprintf("%s/api/l%d", base, level)))
		}()
	}
	wg.Wait()
	return out
}

// TestShedsByLevelUnderPoolPressure: one slow backend pool with a fixed number of workers,
// behind four routes of levels 1..4, offered 3× its capacity while the gateway's own CPU is
// idle. The pool's pressure signal engages, level 4 loses first, and level 1 keeps ≥ 99 %.
func TestShedsByLevelUnderPoolPressure(t *testing.T) {
	const workers, service = 4, 50 * time.Millisecond // capacity 80 req/s
	b := newBackend(t, "pool", withWorkers(workers), withDelay(service))
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String()})
	delete(cfg.Centers, "sh")
	cfg.Services["pool"] = &config.Service{Level: 1, Upstreams: map[string][]string{"sz": {b.addr}},
		Timeout: config.Timeout{Tavg: config.Duration(time.Second), Thwm: config.Duration(2 * time.Second), Tmax: config.Duration(4 * time.Second)}}
	levelRoutes(cfg, "pool")
	g, _ := startGateway(t, cfg, ln)
	base := "http://" + ln.Addr().String()

	capacity := int(time.Second / service * workers)
	byLevel := driveLevels(t, base, 3*capacity/4, 6*time.Second) // 3× capacity in total
	var rejected [4]int
	for i, rs := range byLevel {
		warm := rs[len(rs)/3:] // judge after the first 2 s, once the estimate exists
		rejected[i] = len(warm) - int(successRate(warm)*float64(len(warm))+0.5)
		t.Logf("level %d: success %.4f after warm-up, %v", i+1, successRate(warm), summarize(rs))
	}
	t.Logf("pool: %+v", *g.Status().Services[0].Pressure)
	if s := successRate(byLevel[0][len(byLevel[0])/3:]); s < 0.99 {
		t.Errorf("level 1 success %.4f, want ≥ 0.99", s)
	}
	for i := 3; i > 0; i-- {
		if rejected[i] < rejected[i-1] {
			t.Errorf("level %d lost %d requests, level %d lost %d: lower levels must lose first", i+1, rejected[i], i, rejected[i-1])
		}
	}
	if rejected[3] == 0 {
		t.Error("nothing of level 4 was refused at 3× capacity")
	}
}

// TestOverloadReportsShedLowLevels: a host that answers Bulwark-Overload: 1 puts its pool
// under pressure, so the gateway stops sending it low-level work (B9's report chain) while
// level 1 still gets through.
func TestOverloadReportsShedLowLevels(t *testing.T) {
	b := newBackend(t, "busy")
	b.overld.Store(true)
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String()})
	delete(cfg.Centers, "sh")
	addService(cfg, "pool", 1, map[string][]string{"sz": {b.addr}}, false)
	cfg.Services["pool"].Concurrency.MaxWait = config.Duration(50 * time.Millisecond)
	levelRoutes(cfg, "pool")
	startGateway(t, cfg, ln)
	base := "http://" + ln.Addr().String()

	// Level 1 traffic teaches the pool its estimate and brings the overload reports.
	for _, r := range drive(t, 50, time.Second, get(base+"/api/l1")) {
		if r.status != 200 {
			t.Fatalf("level 1 while the host reports overload: %d %v", r.status, r.err)
		}
	}
	l4 := drive(t, 20, 500*time.Millisecond, get(base+"/api/l4"))
	if rate := successRate(l4); rate > 0 {
		t.Errorf("level 4 got %.2f through a pool whose host reports overload, want none: %v", rate, summarize(l4))
	}
	for _, r := range l4 {
		if r.status != 0 && r.header.Get(HeaderReject) == "" {
			t.Fatalf("refusal without %s: %d", HeaderReject, r.status)
		}
	}
	b.overld.Store(false) // the reports stop: after overload_for and the cool-down, level 4 is back
	eventually(t, 5*time.Second, "level 4 to be served again", func() bool {
		rs := drive(t, 20, 250*time.Millisecond, get(base+"/api/l4"))
		return successRate(rs) == 1
	})
}
