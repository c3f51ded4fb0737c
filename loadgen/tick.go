package loadgen

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// ringSize is how many seconds the engine keeps for the rules: the longest rule window.
const ringSize = int(maxRuleWindow / time.Second)

// tickLoop runs once a second: it gathers the workers' last second, checks the stop rules on
// their windows after the warm-up, and calls OnTick. It holds no lock while calling OnTick.
func (e *engine) tickLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := e.clk.NewTicker(time.Second)
	defer t.Stop()
	ring := make([]second, ringSize)
	for i := range ring {
		ring[i].latency = newIvHist()
	}
	scratch := newIvHist()
	var (
		n                   int // seconds gathered so far
		prevSched, prevDrop int64
	)
	for {
		select {
		case <-stop:
			return
		case now := <-t.C():
			cur := &ring[n%ringSize]
			cur.latency.Reset()
			cur.c = counts{}
			e.recMu.Lock()
			recs := e.recs[:len(e.recs):len(e.recs)]
			e.recMu.Unlock()
			for _, r := range recs {
				r.drainInterval(cur)
			}
			s, d := e.scheduled.Load(), e.dropped.Load()
			cur.scheduled, cur.dropped = s-prevSched, d-prevDrop
			prevSched, prevDrop = s, d
			n++
			elapsed := now.Sub(e.start)
			// Rules judge only whole seconds after the warm-up.
			if elapsed-e.cfg.Warmup >= time.Second && !e.stopped.Load() {
				e.checkRules(ring, n, elapsed, scratch)
			}
			if e.cfg.OnTick != nil {
				e.cfg.OnTick(e.snapshot(cur, elapsed, len(recs)))
			}
		}
	}
}

// checkRules evaluates every rule on its window; seconds from the warm-up are left out.
func (e *engine) checkRules(ring []second, n int, elapsed time.Duration, scratch *hdrhistogram.Histogram) {
	sinceWarm := int((elapsed - e.cfg.Warmup) / time.Second)
	for _, r := range e.cfg.StopIf {
		secs := min(int(r.Window/time.Second), n, ringSize, sinceWarm)
		w := windowStats{seconds: secs, latency: scratch}
		scratch.Reset()
		for i := 0; i < secs; i++ {
			b := &ring[(n-1-i)%ringSize]
			scratch.Merge(b.latency)
			w.finished += b.c.completed + b.c.errors
			w.errors += b.c.errors + b.c.status5xx
			w.rejected += b.c.rejected
			w.sent += b.c.sent
			w.late += b.c.late
			w.scheduled += b.scheduled
			w.dropped += b.dropped
		}
		if v, ok := r.value(&w); ok && r.tripped(v) {
			e.stop(r.Text, r.formatValue(v))
			return
		}
	}
}

func (e *engine) snapshot(cur *second, elapsed time.Duration, workers int) Snapshot {
	s := Snapshot{
		Elapsed: elapsed, Duration: e.cfg.Duration, Warmup: elapsed < e.cfg.Warmup,
		TargetRate: e.cfg.Schedule.Rate(elapsed),
		Rate:       float64(cur.c.completed + cur.c.errors),
		Scheduled:  e.scheduled.Load(), Sent: e.sent.Load(), Finished: e.finished.Load(),
		Errors: e.errs.Load(), Late: e.late.Load(), Dropped: e.dropped.Load(),
		InFlight: e.inFlight.Load(), Workers: workers,
	}
	if cur.latency.TotalCount() > 0 {
		s.P50 = time.Duration(cur.latency.ValueAtQuantile(50)) * time.Microsecond
		s.P99 = time.Duration(cur.latency.ValueAtQuantile(99)) * time.Microsecond
		s.Max = time.Duration(cur.latency.Max()) * time.Microsecond
	}
	if f := cur.c.completed + cur.c.errors; f > 0 {
		s.ErrorRate = float64(cur.c.errors+cur.c.status5xx) / float64(f)
	}
	return s
}
