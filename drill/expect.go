package drill

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/loadgen"
)

// entryGateways are the gateways the step's load enters by: those its targets name, or whose
// URL prefixes a target URL; all gateways when none match.
func (r *runner) entryGateways(s *Step) []string {
	set := map[string]bool{}
	if s.Load != nil {
		for _, t := range s.Load.Targets {
			if t.Gateway != "" {
				set[t.Gateway] = true
				continue
			}
			for n, g := range r.d.Gateways {
				if g.URL != "" && strings.HasPrefix(t.URL, strings.TrimSuffix(g.URL, "/")+"/") {
					set[n] = true
				}
			}
		}
	}
	if len(set) == 0 {
		return r.allGateways()
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// check measures one expectation over the step's measured window.
func (r *runner) check(e *Expect, s *Step, tl *tally, rep *loadgen.Report, before, after snapshot) Check {
	gwsOr := func(g []string) []string {
		if len(g) > 0 {
			return g
		}
		return r.entryGateways(s)
	}
	switch {
	case e.Success != nil:
		x := e.Success
		if x.Level > 0 || x.Service != "" {
			gws := gwsOr(x.Gateways)
			keep := func(name string, level int) bool {
				return (x.Level == 0 || level == x.Level) && (x.Service == "" || name == x.Service)
			}
			what := "service " + x.Service
			if x.Level > 0 {
				what = fmt.Sprintf("level %d", x.Level)
			}
			c := Check{Expectation: fmt.Sprintf("success of %s at %s ≥ %s", what, strings.Join(gws, ","), pct(float64(x.Min)))}
			ok, total := successOf(outcomeDeltas(before.status, after.status, gws, keep))
			return ratioCheck(c, ok, total, func(v float64) bool { return v >= float64(x.Min) })
		}
		tc := tl.counts(x.Target)
		what, total := "all requests", float64(tc.Requests)
		if x.Target != "" {
			what = "target " + x.Target
		}
		if x.Admitted {
			what += " admitted (no Bulwark-Reject)"
			for _, m := range tc.Rejects {
				for _, n := range m {
					total -= float64(n)
				}
			}
		}
		c := Check{Expectation: fmt.Sprintf("success of %s ≥ %s", what, pct(float64(x.Min)))}
		return ratioCheck(c, float64(tc.OK), total, func(v float64) bool { return v >= float64(x.Min) })
	case e.P99 != nil:
		c := Check{Expectation: fmt.Sprintf("p99 ≤ %s", e.P99.Max.D())}
		if rep == nil || rep.Completed == 0 {
			c.Measured = "no answers"
			return c
		}
		p := rep.Percentile(99)
		c.Measured, c.Value, c.Pass = p.Round(time.Microsecond).String(), p.Seconds(), p <= e.P99.Max.D()
		return c
	case e.RetryAmplification != nil:
		x := e.RetryAmplification
		gws := gwsOr(x.Gateways)
		c := Check{Expectation: fmt.Sprintf("retry amplification (failovers ÷ requests at %s) ≤ %g", strings.Join(gws, ","), x.Max)}
		var fo float64
		for _, g := range gws {
			fo += after.failovers[g] - before.failovers[g]
		}
		_, total := successOf(outcomeDeltas(before.status, after.status, gws, anyService))
		if total == 0 {
			c.Measured = "no requests"
			return c
		}
		v := fo / total
		c.Measured, c.Value, c.Pass = fmt.Sprintf("%.3f (%.0f ÷ %.0f)", v, fo, total), v, v <= x.Max
		return c
	case e.ShedOrder != nil:
		return shedOrder(e.ShedOrder, outcomesByLevel(before.status, after.status, gwsOr(e.ShedOrder.Gateways)))
	case e.Rejects != nil:
		return rejectCheck(e.Rejects, tl.counts(e.Rejects.Target))
	}
	return Check{Expectation: "unknown", Measured: "unknown expectation"}
}

func ratioCheck(c Check, ok, total float64, pass func(float64) bool) Check {
	if total == 0 {
		c.Measured = "no requests"
		return c
	}
	v := ok / total
	c.Measured, c.Value, c.Pass = fmt.Sprintf("%s (%.0f/%.0f)", pct(v), ok, total), v, pass(v)
	return c
}

// outcomesByLevel returns the outcome deltas of each level 1..4.
func outcomesByLevel(before, after map[string]*gatewayStatus, gws []string) [5]map[string]float64 {
	var by [5]map[string]float64
	for l := 1; l <= 4; l++ {
		by[l] = outcomeDeltas(before, after, gws, atLevel(l))
	}
	return by
}

// shedOrder checks that the refusal ratio r(L) = (shed + queue_timeout + rate_limited) ÷
// requests of level L is non-increasing along x.Levels: r(L[i+1]) ≤ r(L[i]) + slack, and that
// r(L[0]) ≥ min_first. A level without requests has ratio 0.
func shedOrder(x *ShedExpect, by [5]map[string]float64) Check {
	levels := make([]string, len(x.Levels))
	for i, l := range x.Levels {
		levels[i] = fmt.Sprint(l)
	}
	c := Check{Expectation: fmt.Sprintf("shed order %s (refusal ratio non-increasing, first ≥ %s)", strings.Join(levels, " ≥ "), pct(float64(x.MinFirst)))}
	ratios := make([]string, len(x.Levels))
	c.Pass = true
	prev := 0.0
	for i, l := range x.Levels {
		_, total := successOf(by[l])
		v := 0.0
		if total > 0 {
			v = refusalsOf(by[l]) / total
		}
		ratios[i] = fmt.Sprintf("L%d %s", l, pct(v))
		if i == 0 && v < float64(x.MinFirst) {
			c.Pass = false
		}
		if i > 0 && v > prev+float64(x.Slack) {
			c.Pass = false
		}
		prev = v
	}
	c.Measured = strings.Join(ratios, ", ")
	return c
}

// rejectCheck measures the share of answers refused with x.Reason.
func rejectCheck(x *RejectExpect, tc targetCounts) Check {
	what := "requests"
	if x.Target != "" {
		what = "target " + x.Target
	}
	want := fmt.Sprintf("≥ %s", pct(float64(x.Min)))
	if x.Max != nil {
		want = fmt.Sprintf("in [%s, %s]", pct(float64(x.Min)), pct(float64(*x.Max)))
	}
	c := Check{Expectation: fmt.Sprintf("share of %s rejected with Bulwark-Reject: %s %s", what, x.Reason, want)}
	if x.Status != 0 {
		c.Expectation += fmt.Sprintf(", all with status %d", x.Status)
	}
	if x.Only {
		c.Expectation += ", no other reason"
	}
	if tc.Requests == 0 {
		c.Measured = "no requests"
		return c
	}
	var n int64
	var notes []string
	c.Pass = true
	for s, k := range tc.Rejects[x.Reason] {
		n += k
		if x.Status != 0 && s != x.Status {
			c.Pass = false
			notes = append(notes, fmt.Sprintf("%d with status %d", k, s))
		}
	}
	if x.Only {
		for r, m := range tc.Rejects {
			if r == x.Reason {
				continue
			}
			c.Pass = false
			var k int64
			for _, v := range m {
				k += v
			}
			notes = append(notes, fmt.Sprintf("%d rejected as %s", k, r))
		}
	}
	sort.Strings(notes)
	v := float64(n) / float64(tc.Requests)
	c.Value = v
	c.Measured = fmt.Sprintf("%s (%d/%d)", pct(v), n, tc.Requests)
	if len(notes) > 0 {
		c.Measured += "; " + strings.Join(notes, ", ")
	}
	if v < float64(x.Min) || (x.Max != nil && v > float64(*x.Max)) {
		c.Pass = false
	}
	return c
}
