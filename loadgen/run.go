package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// ColorHeader carries the traffic color (SEEDS.md C4): services that see it write to shadow
// storage. Config.Color sets it on every request.
const ColorHeader = "Bulwark-Color"

// RejectHeader is the header in which Bulwark reports why it refused a request; the report
// counts its values.
const RejectHeader = "Bulwark-Reject"

// Defaults for the zero values of Config.
const (
	DefaultDuration   = 10 * time.Second
	DefaultMaxWorkers = 256
	DefaultBacklog    = 10_000
	DefaultTimeout    = 10 * time.Second
	DefaultLateAfter  = time.Millisecond
)

// Config describes one run. Zero values take the documented defaults.
type Config struct {
	// Targets are the requests to send; at least one. Picked at random by Weight, or in
	// order when InOrder is set (replay).
	Targets []Target
	InOrder bool
	// Schedule gives the send rate over time; required.
	Schedule Schedule
	// Duration is the whole run, warm-up included (default 10s). Warmup is its first part:
	// requests are sent and shown live, but the report and the stop rules leave them out.
	Duration, Warmup time.Duration
	// MaxWorkers caps the requests in flight (default 256). Workers start as needed.
	MaxWorkers int
	// Backlog bounds the sends waiting for a free worker (default 10000); a send that finds
	// it full is dropped and counted.
	Backlog int
	// LateAfter: a send that starts more than this after its intended time is counted late
	// (default 1ms). It is still sent, and its latency still runs from the intended time.
	LateAfter time.Duration
	// Timeout bounds each request, body included (default 10s).
	Timeout time.Duration
	// Client sends the requests. nil builds a keep-alive client with MaxIdleConnsPerHost =
	// MaxWorkers that does not follow redirects; a given Client is used as it is.
	Client *http.Client
	// StopIf rules are checked once a second after the warm-up; the first that trips ends
	// the run and is named in the report.
	StopIf []Rule
	// Color, when set, is sent as the Bulwark-Color header on every request.
	Color string
	// OnTick, when set, is called once a second from one goroutine, never under a lock, with
	// the live numbers. It must return quickly: it delays the next check of the rules.
	OnTick func(Snapshot)
	// Clock is nil for the wall clock. A fake clock paces sends and ticks in fake time.
	Clock clock.Clock
	// Seed seeds the weighted target picker; 0 means 1. Equal seeds pick equal sequences.
	Seed uint64
}

// Snapshot is the live view passed to Config.OnTick.
type Snapshot struct {
	Elapsed, Duration time.Duration
	Warmup            bool    // still in the warm-up
	TargetRate        float64 // the schedule's rate now
	Rate              float64 // requests finished in the last second
	// Totals since the start, warm-up included. Finished counts answers and transport
	// errors; Errors counts transport errors and 5xx answers.
	Scheduled, Sent, Finished, Errors, Late, Dropped int64
	InFlight                                         int64
	Workers                                          int
	// The last second: latency from the intended send time, and (errors + 5xx) ÷ finished.
	P50, P99, Max time.Duration
	ErrorRate     float64
}

// ErrConfig is returned (wrapped) by Run for a Config it cannot run.
var ErrConfig = errors.New("loadgen: bad config")

// job is one intended send.
type job struct {
	intended time.Time
	target   int
}

// preparedTarget is a Target with its header built once (color included).
type preparedTarget struct {
	method string
	url    string
	header http.Header
	body   []byte
}

type engine struct {
	cfg     Config
	clk     clock.Clock
	real    bool
	client  *http.Client
	targets []preparedTarget
	picker  *picker
	start   time.Time
	measure time.Time // start + warm-up
	end     time.Time // start + duration

	queue chan job
	idle  atomic.Int64
	wg    sync.WaitGroup

	recMu sync.Mutex
	recs  []*recorder

	// Scheduler-owned counters, atomic so that the tick can read them.
	scheduled, dropped         atomic.Int64 // all
	mScheduled, mDropped       atomic.Int64 // measured period
	sent, finished, errs, late atomic.Int64 // live totals
	inFlight                   atomic.Int64

	stopOnce  sync.Once
	stopCh    chan struct{}
	stopped   atomic.Bool
	stopMu    sync.Mutex
	stoppedBy string
	stopValue string
	stopAt    time.Time

	reqCtx context.Context
}

// Run sends load as cfg says and returns the report when the run ends: after Duration, when a
// stop rule trips, or when ctx is cancelled (the report then says "interrupted"). It returns
// an error only for a Config it cannot run. Every goroutine it starts has ended when it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	e, err := newEngine(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return e.run(ctx), nil
}

func newEngine(ctx context.Context, cfg Config) (*engine, error) {
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%w: no targets", ErrConfig)
	}
	if cfg.Schedule == nil {
		return nil, fmt.Errorf("%w: no schedule", ErrConfig)
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Duration < 0 || cfg.Warmup < 0 || cfg.Warmup >= cfg.Duration {
		return nil, fmt.Errorf("%w: need duration > warm-up ≥ 0, got duration %v, warm-up %v", ErrConfig, cfg.Duration, cfg.Warmup)
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = DefaultMaxWorkers
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = DefaultLateAfter
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	e := &engine{cfg: cfg, clk: clock.OrReal(cfg.Clock), stopCh: make(chan struct{})}
	_, e.real = e.clk.(clock.Real)
	for _, t := range cfg.Targets {
		if err := checkTarget(t); err != nil {
			return nil, err
		}
		h := t.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		if cfg.Color != "" {
			h.Set(ColorHeader, cfg.Color)
		}
		m := t.Method
		if m == "" {
			m = http.MethodGet
		}
		e.targets = append(e.targets, preparedTarget{method: m, url: t.URL, header: h, body: t.Body})
	}
	e.picker = newPicker(cfg.Targets, cfg.InOrder, cfg.Seed)
	e.client = cfg.Client
	if e.client == nil {
		e.client = &http.Client{
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConnsPerHost: cfg.MaxWorkers,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: cfg.Timeout,
				DisableCompression:  true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	// In-flight requests end with the caller's context (Ctrl-C), not with a stop rule: those
	// finish, bounded by Timeout.
	e.reqCtx = ctx
	e.queue = make(chan job, cfg.Backlog)
	return e, nil
}

func (e *engine) run(ctx context.Context) *Report {
	e.start = e.clk.Now()
	e.measure = e.start.Add(e.cfg.Warmup)
	e.end = e.start.Add(e.cfg.Duration)
	for range min(e.cfg.MaxWorkers, 4) {
		e.spawn()
	}
	tickDone := make(chan struct{})
	tickStop := make(chan struct{})
	go e.tickLoop(tickStop, tickDone)
	stopWatch := make(chan struct{})
	go func() { // ends the run early when the caller cancels
		select {
		case <-ctx.Done():
			e.stop("interrupted", "")
		case <-stopWatch:
		}
	}()

	e.schedule()
	e.wg.Wait()
	close(tickStop)
	<-tickDone
	close(stopWatch)
	if e.cfg.Client == nil {
		e.client.CloseIdleConnections()
	}
	// A run that was not stopped covers its whole planned duration.
	schedEnd := e.end
	e.stopMu.Lock()
	if e.stoppedBy != "" && e.stopAt.Before(e.end) {
		schedEnd = e.stopAt
	}
	e.stopMu.Unlock()
	return e.report(schedEnd)
}

// stop ends scheduling; the first reason wins.
func (e *engine) stop(reason, value string) {
	e.stopOnce.Do(func() {
		e.stopMu.Lock()
		e.stoppedBy, e.stopValue, e.stopAt = reason, value, e.clk.Now()
		e.stopMu.Unlock()
		e.stopped.Store(true)
		close(e.stopCh)
	})
}

// schedule is the one goroutine that decides when each request is due. It never waits for a
// worker: a send that finds no room in the backlog is dropped and counted.
func (e *engine) schedule() {
	defer close(e.queue)
	p := pacer{s: e.cfg.Schedule}
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		off, ok := p.advance(e.cfg.Duration)
		if !ok {
			return
		}
		due := e.start.Add(off)
		if d := due.Sub(e.clk.Now()); d > 0 {
			wait := d
			if e.real {
				wait = d - 2*time.Millisecond // the runtime timer may wake ~1 ms late
			}
			if wait > 0 {
				if timer == nil {
					timer = e.clk.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C():
				case <-e.stopCh:
					return
				}
			}
			if e.real {
				if d := due.Sub(e.clk.Now()); d > 0 {
					preciseSleep(d)
				}
			}
		}
		if e.stopped.Load() {
			return
		}
		measured := !due.Before(e.measure)
		e.scheduled.Add(1)
		if measured {
			e.mScheduled.Add(1)
		}
		j := job{intended: due, target: e.picker.pick()}
		if e.idle.Load() <= 0 {
			e.recMu.Lock()
			n := len(e.recs)
			e.recMu.Unlock()
			if n < e.cfg.MaxWorkers {
				e.spawn()
			}
		}
		select {
		case e.queue <- j:
		default:
			e.dropped.Add(1)
			if measured {
				e.mDropped.Add(1)
			}
		}
	}
}

func (e *engine) spawn() {
	rec := newRecorder()
	e.recMu.Lock()
	e.recs = append(e.recs, rec)
	e.recMu.Unlock()
	e.wg.Add(1)
	e.idle.Add(1)
	go e.work(rec)
}

func (e *engine) work(rec *recorder) {
	defer e.wg.Done()
	var o outcome
	for {
		j, ok := <-e.queue
		e.idle.Add(-1)
		if !ok {
			return
		}
		if e.stopped.Load() {
			rec.mu.Lock()
			rec.total.cancelled++
			rec.mu.Unlock()
		} else {
			e.send(j, &o)
			rec.record(&o)
		}
		e.idle.Add(1)
	}
}

// send performs one request and fills o.
func (e *engine) send(j job, o *outcome) {
	t := &e.targets[j.target]
	*o = outcome{measured: !j.intended.Before(e.measure)}
	o.start = e.clk.Now()
	o.late = o.start.Sub(j.intended) > e.cfg.LateAfter
	e.sent.Add(1)
	if o.late {
		e.late.Add(1)
	}
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(e.reqCtx, e.cfg.Timeout)
	defer cancel()
	var body *bytesReader
	if t.body != nil {
		body = &bytesReader{b: t.body}
	}
	req, err := newRequest(ctx, t, body)
	if err == nil {
		var resp *http.Response
		resp, err = e.client.Do(req)
		if err == nil {
			err = drain(resp)
			if err == nil {
				o.status = resp.StatusCode
				o.reject = resp.Header.Get(RejectHeader)
			}
		}
	}
	end := e.clk.Now()
	o.latency = end.Sub(j.intended)
	o.service = end.Sub(o.start)
	e.finished.Add(1)
	if err != nil {
		o.errKind = errorKind(err, e.reqCtx)
		if o.errKind != kindCancelled {
			e.errs.Add(1)
		}
	} else if o.status >= 500 {
		e.errs.Add(1)
	}
}
