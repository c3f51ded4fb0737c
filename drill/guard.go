package drill

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// guard samples the steady state once an interval and counts consecutive breaches.
type guard struct {
	g        Guards
	interval time.Duration
	limit    int
	gws      []string
	last     map[string]*gatewayStatus
	streak   int
	breaches []string
}

func (r *runner) newGuard() *guard {
	g := &guard{g: r.d.Guards, interval: r.d.Guards.Interval.D(), limit: r.d.Guards.Breaches, gws: r.d.Guards.Gateways}
	if g.interval <= 0 {
		g.interval = DefaultGuardInterval
	}
	if g.limit <= 0 {
		g.limit = DefaultBreaches
	}
	if len(g.gws) == 0 {
		g.gws = r.allGateways()
	}
	return g
}

func (r *runner) allGateways() []string {
	names := make([]string, 0, len(r.d.Gateways))
	for n := range r.d.Gateways {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// sample takes one sample; it returns the breach messages when the drill must abort.
func (g *guard) sample(ctx context.Context, r *runner, p99 time.Duration) string {
	var msgs []string
	cur := map[string]*gatewayStatus{}
	for _, name := range g.gws {
		st, err := r.admin.status(ctx, r.d.Gateways[name])
		if err != nil {
			msgs = append(msgs, "status of "+name+": "+err.Error())
			continue
		}
		cur[name] = st
	}
	if g.last != nil {
		if g.g.Success != nil {
			if ok, total := successOf(outcomeDeltas(g.last, cur, g.gws, anyService)); total > 0 && ok/total < float64(*g.g.Success) {
				msgs = append(msgs, fmt.Sprintf("success %.2f%% < %.2f%%", 100*ok/total, 100*float64(*g.g.Success)))
			}
		}
		if g.g.Level1Success != nil {
			if ok, total := successOf(outcomeDeltas(g.last, cur, g.gws, atLevel(1))); total > 0 && ok/total < float64(*g.g.Level1Success) {
				msgs = append(msgs, fmt.Sprintf("level-1 success %.2f%% < %.2f%%", 100*ok/total, 100*float64(*g.g.Level1Success)))
			}
		}
	}
	g.last = cur
	if g.g.P99 > 0 && p99 > g.g.P99.D() {
		msgs = append(msgs, fmt.Sprintf("p99 %s > %s", p99.Round(time.Microsecond), g.g.P99.D()))
	}
	if pg := g.g.Prometheus; pg != nil {
		for _, q := range pg.Queries {
			v, ok, err := r.admin.promQuery(ctx, pg.URL, q.Query)
			switch {
			case err != nil:
				msgs = append(msgs, err.Error())
			case !ok:
			case q.Min != nil && v < *q.Min:
				msgs = append(msgs, fmt.Sprintf("%s = %g < %g", q.Query, v, *q.Min))
			case q.Max != nil && v > *q.Max:
				msgs = append(msgs, fmt.Sprintf("%s = %g > %g", q.Query, v, *q.Max))
			}
		}
	}
	if len(msgs) == 0 {
		g.streak = 0
		return ""
	}
	g.streak++
	msg := strings.Join(msgs, "; ")
	g.breaches = append(g.breaches, msg)
	r.progress("  guard breach %d/%d: %s", g.streak, g.limit, msg)
	if g.streak >= g.limit {
		return fmt.Sprintf("%d consecutive breaches: %s", g.streak, msg)
	}
	return ""
}

func anyService(string, int) bool { return true }

func atLevel(l int) func(string, int) bool {
	return func(_ string, level int) bool { return level == l }
}

// outcomeDeltas sums after − before of the outcome counts of the services keep selects, over
// the named gateways. A counter that went down (a restarted gateway) counts from zero.
func outcomeDeltas(before, after map[string]*gatewayStatus, gws []string, keep func(name string, level int) bool) map[string]float64 {
	sum := map[string]float64{}
	for _, gw := range gws {
		a, b := after[gw], before[gw]
		if a == nil {
			continue
		}
		for _, s := range a.Services {
			if !keep(s.Name, s.Level) {
				continue
			}
			var prev map[string]uint64
			if b != nil {
				for _, bs := range b.Services {
					if bs.Name == s.Name {
						prev = bs.Counts
					}
				}
			}
			for o, n := range s.Counts {
				if p := prev[o]; p <= n {
					sum[o] += float64(n - p)
				} else {
					sum[o] += float64(n)
				}
			}
		}
	}
	return sum
}

// successOf returns the served requests (ok, failover_ok) and every request but the canceled
// ones (the client left; that is no verdict on the gateway).
func successOf(c map[string]float64) (ok, total float64) {
	for o, n := range c {
		if o != "canceled" {
			total += n
		}
	}
	return c["ok"] + c["failover_ok"], total
}

// refusalsOf returns the requests the gateway refused by admission: shed, queue_timeout and
// rate_limited.
func refusalsOf(c map[string]float64) float64 {
	return c["shed"] + c["queue_timeout"] + c["rate_limited"]
}
