package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/loadgen"
)

// Defaults of the zero values of Guards and Traffic.
const (
	DefaultGuardInterval = time.Second
	DefaultBreaches      = 3
	DefaultLoadTimeout   = 5 * time.Second
	rollbackTimeout      = 10 * time.Second
	hostPollInterval     = 50 * time.Millisecond
)

// Options tune a run. Zero values take the defaults.
type Options struct {
	// Scale multiplies every load duration and pause (0 = 1), e.g. 0.2 for a quick run.
	// Settle times, guard intervals and host_out_within deadlines are not scaled: they are
	// the time the system needs to react (a retry window opening takes its periods), or
	// contracts.
	Scale float64
	// Client makes the admin calls; nil uses one with a 10 s timeout.
	Client *http.Client
	// Transport sends the load; nil uses a fresh http.Transport.
	Transport http.RoundTripper
	// Progress, when set, receives one line per step event as the drill runs.
	Progress io.Writer
	// Clock paces settle times, pauses and guard samples; nil is the wall clock. The load
	// itself runs on the wall clock.
	Clock clock.Clock
}

// runner is one run of a drill.
type runner struct {
	d     *Drill
	opts  Options
	admin adminClient
	clk   clock.Clock
	mu    sync.Mutex // guards progress writes
}

// Run runs the drill's steps in order and returns the checklist. A guard that trips, or a
// fault or action the gateway refuses, aborts the drill (Result.Aborted); cancelling ctx
// interrupts it (Result.Interrupted). In every case the faults a step created are deleted and
// its actions undone before Run returns. Run returns an error only for a nil drill.
// Every goroutine it starts has ended when it returns.
func Run(ctx context.Context, d *Drill, opts Options) (*Result, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil drill", ErrFile)
	}
	if opts.Scale <= 0 {
		opts.Scale = 1
	}
	if opts.Client == nil {
		opts.Client = defaultAdminClient()
		defer opts.Client.CloseIdleConnections()
	}
	r := &runner{d: d, opts: opts, admin: adminClient{opts.Client}, clk: clock.OrReal(opts.Clock)}
	res := &Result{Drill: d.Name, File: d.File, Start: r.clk.Now()}
	for _, s := range d.Steps {
		sr := r.step(ctx, s)
		res.Steps = append(res.Steps, sr)
		if sr.Aborted != "" {
			res.Aborted = fmt.Sprintf("step %q: %s", s.Name, sr.Aborted)
			break
		}
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		if p := r.scaled(s.Pause); p > 0 && r.sleep(ctx, p) != nil {
			res.Interrupted = true
			break
		}
	}
	if ctx.Err() != nil {
		res.Interrupted = true
	}
	res.Elapsed = r.clk.Since(res.Start)
	return res, nil
}

func (r *runner) scaled(d Duration) time.Duration {
	return time.Duration(float64(d) * r.opts.Scale)
}

func (r *runner) progress(format string, args ...any) {
	if r.opts.Progress == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.opts.Progress, format+"\n", args...)
}

// sleep waits d or until ctx ends.
func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	t := r.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// undo is one rollback operation.
type undo struct {
	what string
	do   func(context.Context) error
}

// snapshot is what the gateways reported at one moment.
type snapshot struct {
	status    map[string]*gatewayStatus
	failovers map[string]float64
}

func (r *runner) snapshot(ctx context.Context, withMetrics bool) (snapshot, error) {
	s := snapshot{status: map[string]*gatewayStatus{}, failovers: map[string]float64{}}
	var errs []error
	for name, g := range r.d.Gateways {
		st, err := r.admin.status(ctx, g)
		errs = append(errs, err)
		s.status[name] = st
		if withMetrics {
			f, err := r.admin.failovers(ctx, g)
			errs = append(errs, err)
			s.failovers[name] = f
		}
	}
	return s, errors.Join(errs...)
}

// step runs one step and rolls back what it changed.
func (r *runner) step(ctx context.Context, s *Step) (sr StepResult) {
	start := r.clk.Now()
	sr.Name = s.Name
	r.progress("step %q", s.Name)
	var undos []undo
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		for i := len(undos) - 1; i >= 0; i-- {
			if err := undos[i].do(rctx); err != nil {
				sr.RollbackErrors = append(sr.RollbackErrors, undos[i].what+": "+err.Error())
			} else {
				r.progress("  rolled back %s", undos[i].what)
			}
		}
		sr.Elapsed = r.clk.Since(start)
	}()
	needMetrics := false
	for _, e := range s.Expect {
		needMetrics = needMetrics || e.RetryAmplification != nil
	}
	// Apply faults and actions.
	for _, f := range s.Faults {
		g := r.d.Gateways[f.Gateway]
		id, err := r.admin.addFault(ctx, g, f.Body)
		if err != nil {
			sr.Aborted = "fault: " + err.Error()
			return sr
		}
		r.progress("  fault %s on %s: %v", id, f.Gateway, f.Body)
		undos = append(undos, undo{"fault " + id + " on " + f.Gateway, func(c context.Context) error { return r.admin.deleteFault(c, g, id) }})
	}
	for _, a := range s.Actions {
		u, err := r.action(ctx, a)
		if err != nil {
			sr.Aborted = "action: " + err.Error()
			return sr
		}
		if u.do != nil {
			undos = append(undos, u)
		}
	}
	// Watch hosts from now on.
	var wg sync.WaitGroup
	hostChecks := make([]Check, len(s.Expect))
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	for i, e := range s.Expect {
		if e.HostOutWithin != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hostChecks[i] = r.watchHost(wctx, e.HostOutWithin)
			}()
		}
	}
	// Load, guards, and the measured window.
	tl := newTally()
	var before, after snapshot
	var rep *loadgen.Report
	if s.Load != nil {
		var err error
		rep, before, after, err = r.load(ctx, s, tl, needMetrics, &sr)
		if err != nil && sr.Aborted == "" {
			sr.Aborted = err.Error()
		}
	} else {
		_ = r.sleep(ctx, s.Settle.D()) // an interruption is seen below
	}
	wg.Wait()
	if sr.Aborted != "" || ctx.Err() != nil {
		return sr
	}
	if rep != nil {
		sr.Load = summarize(rep)
	}
	for i, e := range s.Expect {
		if e.HostOutWithin != nil {
			sr.Checks = append(sr.Checks, hostChecks[i])
			continue
		}
		sr.Checks = append(sr.Checks, r.check(e, s, tl, rep, before, after))
	}
	return sr
}

// action performs one action and returns how to undo it.
func (r *runner) action(ctx context.Context, a *Action) (undo, error) {
	if c := a.Admin; c != nil {
		g := r.d.Gateways[c.Gateway]
		if _, err := r.admin.call(ctx, g, c.Method, c.Path, c.Body); err != nil {
			return undo{}, err
		}
		r.progress("  %s %s on %s", c.Method, c.Path, c.Gateway)
		if u := c.Undo; u != nil {
			ug := r.d.Gateways[u.Gateway]
			return undo{u.Method + " " + u.Path + " on " + u.Gateway, func(ctx context.Context) error {
				_, err := r.admin.call(ctx, ug, u.Method, u.Path, u.Body)
				return err
			}}, nil
		}
		return undo{}, nil
	}
	h := a.Drain
	g := r.d.Gateways[h.Gateway]
	st, err := r.admin.status(ctx, g)
	if err != nil {
		return undo{}, err
	}
	hs, err := st.host(h.Service, h.Host)
	if err != nil {
		return undo{}, fmt.Errorf("drain on %s: %w", h.Gateway, err)
	}
	path := "/services/" + h.Service + "/hosts/" + hs.Addr
	if _, err := r.admin.call(ctx, g, http.MethodPost, path+"/drain", nil); err != nil {
		return undo{}, err
	}
	r.progress("  drained %s %s on %s", h.Service, hs.Addr, h.Gateway)
	return undo{"drain of " + h.Service + " " + hs.Addr + " on " + h.Gateway, func(ctx context.Context) error {
		_, err := r.admin.call(ctx, g, http.MethodPost, path+"/undrain", nil)
		return err
	}}, nil
}

// watchHost polls /status until the host is out of rotation or the deadline passes.
func (r *runner) watchHost(ctx context.Context, h *HostRef) Check {
	c := Check{Expectation: fmt.Sprintf("host %s of %s on %s out of rotation within %s", h.Host, h.Service, h.Gateway, h.Within.D())}
	g := r.d.Gateways[h.Gateway]
	start := r.clk.Now()
	for {
		elapsed := r.clk.Since(start)
		st, err := r.admin.status(ctx, g)
		if err == nil {
			hs, herr := st.host(h.Service, h.Host)
			switch {
			case herr != nil:
				c.Measured = herr.Error()
				return c
			case hs.out():
				c.Measured, c.Value, c.Pass = fmt.Sprintf("%s after %s", hs.State, elapsed.Round(time.Millisecond)), elapsed.Seconds(), elapsed <= h.Within.D()
				return c
			}
			c.Measured = fmt.Sprintf("still %s after %s", hs.State, h.Within.D())
		} else {
			c.Measured = err.Error()
		}
		if elapsed > h.Within.D() || r.sleep(ctx, hostPollInterval) != nil {
			return c
		}
	}
}

// load runs the step's load with guards, and snapshots the gateways when the measured window
// opens (after settle) and closes.
func (r *runner) load(ctx context.Context, s *Step, tl *tally, withMetrics bool, sr *StepResult) (rep *loadgen.Report, before, after snapshot, err error) {
	l := s.Load
	settle, dur := s.Settle.D(), r.scaled(l.Duration)
	cfg := loadgen.Config{
		Schedule: loadgen.Constant(l.Rate), Duration: settle + dur, Warmup: settle,
		MaxWorkers: l.Workers, Timeout: l.Timeout.D(), Seed: 1,
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultLoadTimeout
	}
	next := r.opts.Transport
	if next == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = max(l.Workers, loadgen.DefaultMaxWorkers)
		defer tr.CloseIdleConnections()
		next = tr
	}
	cfg.Client = &http.Client{Transport: tallyTransport{next, tl}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, t := range l.Targets {
		u := t.URL
		if u == "" {
			u = strings.TrimSuffix(r.d.Gateways[t.Gateway].URL, "/") + t.Path
		}
		h := http.Header{targetHeader: {t.Name}}
		for k, v := range t.Headers {
			h.Set(k, v)
		}
		var body []byte
		if t.Body != "" {
			body = []byte(t.Body)
		}
		cfg.Targets = append(cfg.Targets, loadgen.Target{Method: t.Method, URL: u, Header: h, Body: body, Weight: t.Weight})
	}
	var p99 atomic.Int64
	cfg.OnTick = func(sn loadgen.Snapshot) { p99.Store(int64(sn.P99)) }

	lctx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	type out struct {
		rep *loadgen.Report
		err error
	}
	done := make(chan out, 1)
	go func() {
		rep, err := loadgen.Run(lctx, cfg)
		done <- out{rep, err}
	}()
	r.progress("  load %.0f/s for %s (settle %s)", l.Rate, dur, settle)

	g := r.newGuard()
	opened := false
	openAt := r.clk.NewTimer(settle)
	defer openAt.Stop()
	tick := r.clk.NewTicker(g.interval)
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			if o.err != nil {
				return nil, before, after, fmt.Errorf("load: %w", o.err)
			}
			tl.on.Store(false)
			if ctx.Err() != nil {
				return o.rep, before, after, nil
			}
			if !opened {
				before, err = r.snapshot(ctx, withMetrics)
			}
			if err == nil {
				after, err = r.snapshot(ctx, withMetrics)
			}
			sr.GuardBreaches = g.breaches
			return o.rep, before, after, err
		case <-openAt.C():
			var serr error
			before, serr = r.snapshot(ctx, withMetrics)
			if serr != nil {
				err = serr
			}
			opened = true
			tl.on.Store(true)
		case <-tick.C():
			if sr.Aborted != "" {
				continue
			}
			if reason := g.sample(ctx, r, time.Duration(p99.Load())); reason != "" {
				sr.Aborted = "guard tripped: " + reason
				r.progress("  ABORT: %s", reason)
				cancelLoad()
			}
		}
	}
}
