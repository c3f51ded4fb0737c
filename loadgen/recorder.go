package loadgen

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: latencies in microseconds from 1 µs to 60 s. The report's histograms keep
// 3 significant digits (0.1 % value error); the per-second ones that feed the rules and the live
// view keep 2 (1 %), which makes them 7× smaller.
const (
	histMin        = 1
	histMax        = 60_000_000
	histSigFigs    = 3
	ivHistSigFigs  = 2
	microsPerMilli = 1000.0
)

func newHist() *hdrhistogram.Histogram   { return hdrhistogram.New(histMin, histMax, histSigFigs) }
func newIvHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, ivHistSigFigs) }

// micros converts d to whole microseconds within the histograms' range.
func micros(d time.Duration) int64 {
	us := d.Microseconds()
	if us < histMin {
		return histMin
	}
	if us > histMax {
		return histMax
	}
	return us
}

// counts are the per-request counters a recorder keeps, for a second or for the whole run.
type counts struct {
	sent      int64 // requests actually sent
	late      int64 // sent more than LateAfter after their intended time
	completed int64 // answered (any status)
	errors    int64 // no answer: transport error or timeout
	status5xx int64
	rejected  int64 // answers carrying Bulwark-Reject
	cancelled int64 // aborted because the run was stopped
}

func (c *counts) add(o counts) {
	c.sent += o.sent
	c.late += o.late
	c.completed += o.completed
	c.errors += o.errors
	c.status5xx += o.status5xx
	c.rejected += o.rejected
	c.cancelled += o.cancelled
}

// recorder belongs to one worker: its histograms and counters. The worker records under mu;
// the once-a-second tick and the final report read under mu. Only its own worker and those two
// ever take mu, so it is almost never contended.
type recorder struct {
	mu        sync.Mutex
	latency   *hdrhistogram.Histogram // measured period, from the intended send time
	service   *hdrhistogram.Histogram // measured period, from the actual send time
	ivLatency *hdrhistogram.Histogram // this second, warm-up included
	iv        counts                  // this second, warm-up included
	total     counts                  // measured period
	warmup    int64                   // requests sent during the warm-up
	status    map[int]int64
	rejects   map[string]int64
	errKinds  map[string]int64
	firstSend time.Time // measured period
	lastSend  time.Time
	lastEnd   time.Time // when the last measured answer or error came back
}

func newRecorder() *recorder {
	return &recorder{
		latency: newHist(), service: newHist(), ivLatency: newIvHist(),
		status: map[int]int64{}, rejects: map[string]int64{}, errKinds: map[string]int64{},
	}
}

// outcome is one finished request as a worker saw it.
type outcome struct {
	measured bool
	late     bool
	start    time.Time
	latency  time.Duration // end − intended
	service  time.Duration // end − start
	status   int           // 0 when errKind is set
	reject   string
	errKind  string
}

func (r *recorder) record(o *outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c counts
	c.sent = 1
	if o.late {
		c.late = 1
	}
	switch {
	case o.errKind == kindCancelled:
		c.cancelled = 1
	case o.errKind != "":
		c.errors = 1
	default:
		c.completed = 1
		if o.status >= 500 {
			c.status5xx = 1
		}
		if o.reject != "" {
			c.rejected = 1
		}
	}
	r.iv.add(c)
	if c.completed == 1 {
		_ = r.ivLatency.RecordValue(micros(o.latency))
	}
	if !o.measured {
		r.warmup++
		return
	}
	r.total.add(c)
	if r.firstSend.IsZero() || o.start.Before(r.firstSend) {
		r.firstSend = o.start
	}
	if o.start.After(r.lastSend) {
		r.lastSend = o.start
	}
	if end := o.start.Add(o.service); end.After(r.lastEnd) {
		r.lastEnd = end
	}
	switch {
	case c.cancelled == 1:
		return
	case c.errors == 1:
		r.errKinds[o.errKind]++
	default:
		r.status[o.status]++
		if o.reject != "" {
			r.rejects[o.reject]++
		}
		// Only answers are timed, as wrk2 does; errors are counted by kind instead.
		_ = r.latency.RecordValue(micros(o.latency))
		_ = r.service.RecordValue(micros(o.service))
	}
}

// second is one second's sums, as kept in the engine's ring for the rules.
type second struct {
	latency   *hdrhistogram.Histogram
	c         counts
	scheduled int64
	dropped   int64
}

// drainInterval moves this recorder's per-second data into s and resets it.
func (r *recorder) drainInterval(s *second) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.latency.Merge(r.ivLatency)
	s.c.add(r.iv)
	r.ivLatency.Reset()
	r.iv = counts{}
}
