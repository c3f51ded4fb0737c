package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/loadgen"
)

// StoryOptions configure RunStory. Zero values take the defaults.
type StoryOptions struct {
	Duration  time.Duration // the whole story; default 60s. Every phase scales with it.
	ReadRate  float64       // req/s per read service per center at 1× load (level 1: half); default 40
	WriteRate float64       // POST /api/orders per center; default 5
	// Transition is left out of each phase's judgement (the time a change takes to show);
	// default 2s, and never more than a third of a phase.
	Transition time.Duration
	Live       io.Writer // the live view; nil = none
	TTY        bool      // redraw a table each second instead of printing a line
}

// PhaseResult is one phase's verdict.
type PhaseResult struct {
	Name     string             `json:"name"`
	Expect   string             `json:"expect"`
	Measured string             `json:"measured"`
	Pass     bool               `json:"pass"`
	Requests int64              `json:"requests"` // judged requests, both centers
	Success  map[string]float64 `json:"success_by_level"`
}

// Summary is the outcome of the story.
type Summary struct {
	Judged string        `json:"judged"`
	Phases []PhaseResult `json:"phases"`
	Pass   bool          `json:"pass"`
}

// phase is one step of the story: what changes, how much load, and what must hold.
type phase struct {
	name, expect string
	share        float64 // of the story's duration
	load         float64 // multiplier of the read rates
	setup        func(*Topology) error
	judge        func(*phaseData) (string, bool)
}

// phaseData is what a phase measured, after its transition.
type phaseData struct {
	reports   map[string]map[string]*loadgen.Report // center → service → report
	levels    map[string]int                        // service → level
	failovers float64                               // sz → sh failovers of songs during the judged part
}

// story is the scripted sequence of SEEDS.md's failures, in order.
func story() []phase {
	down := Behavior{Workers: 16, Down: true}
	return []phase{
		{name: "steady state", share: 10.0 / 60, load: 1,
			expect: "every request is served: success ≥ 99.9 % in both centers",
			judge: func(d *phaseData) (string, bool) {
				s := d.success(nil)
				return fmt.Sprintf("success %.2f %%", 100*s), s >= 0.999
			}},
		{name: "songs fails in sz", share: 12.0 / 60, load: 1,
			setup:  func(t *Topology) error { return t.SetService(Primary, "songs", down) },
			expect: "the sz gateway fails songs over to sh: songs through sz keeps ≥ 99 % success",
			judge: func(d *phaseData) (string, bool) {
				s := rate(d.reports[Primary]["songs"])
				return fmt.Sprintf("songs through sz: success %.2f %%", 100*s), s >= 0.99
			}},
		{name: "sh degrades too", share: 12.0 / 60, load: 1,
			setup: func(t *Topology) error {
				b := DefaultServices()[0].Behavior
				b.ErrorRate, b.Latency = 0.8, 3*b.Latency
				return t.SetService(Secondary, "songs", b)
			},
			expect: "the retry window backs off: sz sends sh at most 1 % of its songs requests + 2 per period",
			judge: func(d *phaseData) (string, bool) {
				r := d.reports[Primary]["songs"]
				n := r.Completed + r.Errors
				// A window of 1 or 2 per period: sh still answers a fifth of the single retries,
				// and a period whose retry succeeded grows the window to 2 (A2), the next
				// failure halves it again. A judged span of d seconds touches ⌈d⌉+1 periods.
				limit := 0.01*float64(n) + 2*(math.Ceil(r.Duration.Seconds())+1)
				return fmt.Sprintf("%.0f failovers for %d songs requests (limit %.0f)", d.failovers, n, limit), d.failovers <= limit
			}},
		{name: "overload at 3×", share: 14.0 / 60, load: 3,
			setup: func(t *Topology) error {
				up := DefaultServices()[0].Behavior
				return errorsJoin(t.SetService(Primary, "songs", up), t.SetService(Secondary, "songs", up))
			},
			expect: "shedding by level: level 1 keeps ≥ 99 %, and levels 4, 3, 2 are refused first, in that order",
			judge: func(d *phaseData) (string, bool) {
				var refused [5]float64
				parts := make([]string, 0, 4)
				for level := 1; level <= 4; level++ {
					refused[level] = d.refused(level)
					parts = append(parts, fmt.Sprintf("L%d %.1f %%", level, 100*refused[level]))
				}
				ok := refused[1] <= 0.01 && refused[4] > 0 && refused[4] >= refused[3] && refused[3] >= refused[2]
				measured := "refused: " + strings.Join(parts, ", ")
				if reasons := d.rejectReasons(1); reasons != "" {
					measured += " (level 1: " + reasons + ")"
				}
				return measured, ok
			}},
		{name: "recovery", share: 12.0 / 60, load: 1,
			expect: "back to 1×: success ≥ 99.9 % in both centers",
			judge: func(d *phaseData) (string, bool) {
				s := d.success(nil)
				return fmt.Sprintf("success %.2f %%", 100*s), s >= 0.999
			}},
	}
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// rate is the share of answered-or-failed requests that got a 2xx or 3xx.
func rate(r *loadgen.Report) float64 {
	if r == nil {
		return 0
	}
	n := r.Completed + r.Errors
	if n == 0 {
		return 1
	}
	var ok int64
	for code, c := range r.Status {
		if code < 400 {
			ok += c
		}
	}
	return float64(ok) / float64(n)
}

// success is the 2xx/3xx share over every report whose service passes keep (nil: all).
func (d *phaseData) success(keep func(service string) bool) float64 {
	var ok, n int64
	for _, byService := range d.reports {
		for svc, r := range byService {
			if keep != nil && !keep(svc) {
				continue
			}
			n += r.Completed + r.Errors
			for code, c := range r.Status {
				if code < 400 {
					ok += c
				}
			}
		}
	}
	if n == 0 {
		return 1
	}
	return float64(ok) / float64(n)
}

// refused is the share of a level's requests that the gateways refused (Bulwark-Reject).
func (d *phaseData) refused(level int) float64 {
	var rej, n int64
	for _, byService := range d.reports {
		for svc, r := range byService {
			if d.levels[svc] != level {
				continue
			}
			n += r.Completed + r.Errors
			for _, c := range r.Rejects {
				rej += c
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(rej) / float64(n)
}

// levelWeight scales the read rate by level: level 1 carries half the rate of the others, so
// that at 3× it still fits what the gateways can admit (their BBR limit, learned at 1×). The
// story is about shedding by level, not about a level-1 overload, which no shedding can save.
func levelWeight(level int) float64 {
	if level == 1 {
		return 0.5
	}
	return 1
}

// rejectReasons lists a level's Bulwark-Reject reasons and counts, sorted by reason.
func (d *phaseData) rejectReasons(level int) string {
	counts := map[string]int64{}
	for _, byService := range d.reports {
		for svc, r := range byService {
			if d.levels[svc] == level {
				for reason, c := range r.Rejects {
					counts[reason] += c
				}
			}
		}
	}
	parts := make([]string, 0, len(counts))
	for reason, c := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", reason, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// StoryCPU is the CPU reading the story gives each demo gateway. The demo runs both
// gateways, every host and the load generator in one process, so the process's CPU says
// nothing about either gateway; instead each gateway reads the offered load against a nominal
// capacity, twice the story's 1× load: 500 ‰ at 1×, and saturated (1000 ‰) at 3×.
type StoryCPU struct{ load atomic.Uint64 } // float64 bits of the load multiplier

// Usage implements adaptive.CPU.
func (c *StoryCPU) Usage() int64 {
	return int64(min(1000, 500*math.Float64frombits(c.load.Load())))
}

func (c *StoryCPU) set(load float64) { c.load.Store(math.Float64bits(load)) }

// RunStory drives the topology through the story and judges each phase. top must have been
// started with CPU returning cpu for both centers.
func RunStory(ctx context.Context, top *Topology, cpu *StoryCPU, opts StoryOptions) (*Summary, error) {
	if opts.Duration <= 0 {
		opts.Duration = 60 * time.Second
	}
	if opts.ReadRate <= 0 {
		opts.ReadRate = 40
	}
	if opts.WriteRate <= 0 {
		opts.WriteRate = 5
	}
	if opts.Transition <= 0 {
		opts.Transition = 2 * time.Second
	}
	phases := story()
	sum := &Summary{Pass: true, Judged: fmt.Sprintf("each phase minus its first %v of transition", opts.Transition)}
	live := newLiveView(top, opts, len(phases))
	for i, ph := range phases {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		length := time.Duration(float64(opts.Duration) * ph.share).Round(100 * time.Millisecond)
		transition := min(opts.Transition, length/3)
		if ph.setup != nil {
			if err := ph.setup(top); err != nil {
				return sum, err
			}
		}
		cpu.set(ph.load)
		live.startPhase(i, ph)
		data, err := runPhase(ctx, top, ph, length, transition, opts, live)
		if err != nil {
			return sum, err
		}
		measured, ok := ph.judge(data)
		res := PhaseResult{Name: ph.name, Expect: ph.expect, Measured: measured, Pass: ok, Success: map[string]float64{}}
		for level := 1; level <= 4; level++ {
			res.Success["L"+strconv.Itoa(level)] = data.success(func(s string) bool { return data.levels[s] == level })
		}
		for _, byService := range data.reports {
			for _, r := range byService {
				res.Requests += r.Completed + r.Errors
			}
		}
		sum.Phases = append(sum.Phases, res)
		sum.Pass = sum.Pass && ok
	}
	live.stop()
	return sum, nil
}

// runPhase offers the phase's load to both gateways and returns what it measured.
func runPhase(ctx context.Context, top *Topology, ph phase, length, transition time.Duration, opts StoryOptions, live *liveView) (*phaseData, error) {
	data := &phaseData{reports: map[string]map[string]*loadgen.Report{}, levels: map[string]int{}}
	type key struct{ center, service string }
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, c := range []string{Primary, Secondary} {
		data.reports[c] = map[string]*loadgen.Report{}
		for _, s := range top.Services {
			data.levels[s.Name] = s.Level
			target := loadgen.Target{Method: http.MethodGet, URL: top.Centers[c].URL + s.Path}
			r := opts.ReadRate * ph.load * levelWeight(s.Level)
			if s.Write {
				target.Method, target.Body, r = http.MethodPost, []byte(`{"item":"demo"}`), opts.WriteRate
				target.Header = http.Header{"Content-Type": {"application/json"}}
			}
			k := key{c, s.Name}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := loadgen.Run(ctx, loadgen.Config{
					Targets: []loadgen.Target{target}, Schedule: loadgen.Constant(r),
					Duration: length, Warmup: transition, MaxWorkers: 128, Timeout: 3 * time.Second,
					Seed:   uint64(len(k.center)*100 + len(k.service)),
					OnTick: func(s loadgen.Snapshot) { live.tick(k.center, k.service, s) },
				})
				if err != nil {
					errs <- fmt.Errorf("demo: load on %s %s: %w", k.center, k.service, err)
					return
				}
				mu.Lock()
				data.reports[k.center][k.service] = rep
				mu.Unlock()
			}()
		}
	}
	// Failovers from sz to sh for songs, counted over the judged part of the phase.
	var before float64
	timer := time.NewTimer(transition)
	select {
	case <-timer.C:
		before = failovers(top.Centers[Primary].AdminURL, Secondary)
	case <-ctx.Done():
		timer.Stop()
	}
	wg.Wait()
	data.failovers = failovers(top.Centers[Primary].AdminURL, Secondary) - before
	close(errs)
	for err := range errs {
		return nil, err
	}
	return data, ctx.Err()
}

// failovers reads bulwark_failovers_total for songs toward center to, sent (ok or error),
// from a gateway's /metrics.
func failovers(adminURL, to string) float64 {
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "bulwark_failovers_total{") || !strings.Contains(line, `service="songs"`) ||
			!strings.Contains(line, `to="`+to+`"`) || !(strings.Contains(line, `result="ok"`) || strings.Contains(line, `result="error"`)) {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				total += v
			}
		}
	}
	return total
}

// WriteText writes the summary: each phase's expectation, what was measured, and the verdict.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nbulwark demo: summary (%s)\n", s.Judged)
	for i, p := range s.Phases {
		verdict := "PASS"
		if !p.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "  %d. %-18s %s\n", i+1, p.Name, verdict)
		fmt.Fprintf(&b, "     expect:   %s\n", p.Expect)
		fmt.Fprintf(&b, "     measured: %s (%d requests; success by level L1 %.2f %%, L2 %.2f %%, L3 %.2f %%, L4 %.2f %%)\n",
			p.Measured, p.Requests, 100*p.Success["L1"], 100*p.Success["L2"], 100*p.Success["L3"], 100*p.Success["L4"])
	}
	if s.Pass {
		b.WriteString("bulwark demo: every phase met its expectation\n")
	} else {
		b.WriteString("bulwark demo: some phases missed their expectation\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
