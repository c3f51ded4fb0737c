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
