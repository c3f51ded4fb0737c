package adaptive

import (
	"math"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/internal/cpu"
)

// simServer is a server with a fixed number of workers and a fixed service
// time, fronted by a Limiter and driven by a fake clock in 1 ms steps.
// Admitted requests wait in a FIFO queue for a free worker; a request's
// round trip runs from Allow to the end of its service, as in a real server.
type simServer struct {
	l       *Limiter
	clk     *clock.Fake
	workers []simWorker
	queue   []Token
	service time.Duration
}

type simWorker struct {
	busy   bool
	finish time.Time
	tok    Token
}

// simResult counts what happened after the warm-up.
type simResult struct {
	admitted, rejected, completed int
	maxQueue                      int   // most requests waiting for a worker
	maxQueueBySecond              []int // the same for each second of the run
}

func newSimServer(t *testing.T, workers int, service time.Duration, c CPU) *simServer {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	l, err := New(WithClock(clk), WithCPU(c))
	if err != nil {
		t.Fatal(err)
	}
	return &simServer{l: l, clk: clk, workers: make([]simWorker, workers), service: service}
}

// run offers perSecond requests per second, evenly spread, for total; only
// what happens from warmup on is counted.
func (s *simServer) run(perSecond float64, warmup, total time.Duration) simResult {
	const step = time.Millisecond
	res := simResult{maxQueueBySecond: make([]int, int(total/time.Second)+1)}
	perStep, due := perSecond*step.Seconds(), 0.0
	for elapsed := time.Duration(0); elapsed < total; elapsed += step {
		s.clk.Advance(step)
		now := s.clk.Now()
		counting := elapsed >= warmup
		for i := range s.workers {
			if w := &s.workers[i]; w.busy && !w.finish.After(now) {
				w.tok.Done()
				w.busy = false
				if counting {
					res.completed++
				}
			}
		}
		for due += perStep; due >= 1; due-- {
			tok, err := s.l.Allow()
			switch {
			case err == nil:
				s.queue = append(s.queue, tok)
				if counting {
					res.admitted++
				}
			case counting:
				res.rejected++
			}
		}
		for i := range s.workers {
			if w := &s.workers[i]; !w.busy && len(s.queue) > 0 {
				*w = simWorker{busy: true, finish: now.Add(s.service), tok: s.queue[0]}
				s.queue = s.queue[1:]
			}
		}
		sec := int(elapsed / time.Second)
		res.maxQueueBySecond[sec] = max(res.maxQueueBySecond[sec], len(s.queue))
		if counting {
			res.maxQueue = max(res.maxQueue, len(s.queue))
		}
	}
	return res
}

// TestSimulatedServerOverloaded offers 3× capacity with the CPU pinned at
// 900 ‰ and checks that the limiter admits close to capacity and keeps the
// queue bounded, without drift.
//
// Why the queue bound: nothing is shed until the first bucket (w = 100 ms)
// completes, so that bucket's completions queued behind a 3× burst. With
// FIFO service at rate X = C/S and arrivals at 3X, the request finishing at
// time f was admitted at about f/3, so its round trip is about 2f/3;
// averaged over f in [S, w] that is (S+w)/3. This first minRt gives
// maxInflight = X·(S+w)/3, i.e. a queue of C·(w−2S)/(3S) besides the C in
// service, and by Little's law that level reproduces itself: with the
// server saturated, inflight L gives round trips L/X and so L again. (The
// count that decides includes the request being admitted; admitting one
// more than the limit would raise minRt by one service slot per window and
// the queue would climb without end, which the drift check catches.) For
// the configurations below, all with S ≥ w/10, the bound is at most
// C·(100−20)/30 ≈ 2.7·C, so the test asserts max queue ≤ 3·C.
func TestSimulatedServerOverloaded(t *testing.T) {
	const (
		width  = DefaultWindow / DefaultBuckets
		warmup = DefaultWindow
		total  = 4 * DefaultWindow
	)
	for _, tt := range []struct {
		name    string
		workers int
		service time.Duration
	}{
		{"10 workers, 10ms", 10, 10 * time.Millisecond},
		{"4 workers, 20ms", 4, 20 * time.Millisecond},
		{"25 workers, 25ms", 25, 25 * time.Millisecond},
		{"10 workers, 50ms", 10, 50 * time.Millisecond},
		{"1 worker, 100ms", 1, 100 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSimServer(t, tt.workers, tt.service, cpu.Static(900))
			capacity := float64(tt.workers) / tt.service.Seconds()
			res := s.run(3*capacity, warmup, total)

			steady := (total - warmup).Seconds()
			admitted := float64(res.admitted) / steady
			if admitted < 0.9*capacity {
				t.Errorf("admitted %.1f/s, want ≥ 90%% of capacity %.1f/s", admitted, capacity)
			}
			if admitted > 1.01*capacity {
				t.Errorf("admitted %.1f/s, more than capacity %.1f/s: the queue must be growing", admitted, capacity)
			}
			if res.rejected == 0 {
				t.Error("nothing was shed at 3× capacity")
			}
			predicted := math.Ceil(float64(tt.workers) * max(0, float64(width-2*tt.service)) / float64(3*tt.service))
			if bound := 3 * tt.workers; res.maxQueue > bound {
				t.Errorf("max queue %d, want ≤ 3·C = %d (predicted %v)", res.maxQueue, bound, predicted)
			}
			// No drift: the last window's queue is no longer than the first
			// steady window's.
			secs := res.maxQueueBySecond
			first, last := 0, 0
			for i := int(warmup / time.Second); i < int(2*warmup/time.Second); i++ {
				first = max(first, secs[i])
			}
			for i := int((total - warmup) / time.Second); i < len(secs); i++ {
				last = max(last, secs[i])
			}
			if last > first {
				t.Errorf("queue drifted from %d to %d over %v", first, last, total-2*warmup)
			}
			t.Logf("capacity %.0f/s: admitted %.1f%%, shed %d, max queue %d (predicted %v, C = %d), %+v",
				capacity, 100*admitted/capacity, res.rejected, res.maxQueue, predicted, tt.workers, s.l.Stats())
		})
	}
}

// TestSimulatedServerCPUBelowThreshold: with the CPU at 300 ‰ nothing is
// shed, however long the queue grows.
func TestSimulatedServerCPUBelowThreshold(t *testing.T) {
	s := newSimServer(t, 10, 10*time.Millisecond, cpu.Static(300))
	res := s.run(3000, 0, 3*time.Second)
	if res.rejected != 0 {
		t.Fatalf("shed %d requests with the CPU at 300 ‰", res.rejected)
	}
	if res.admitted != 9000 {
		t.Fatalf("admitted %d, want all 9000 offered", res.admitted)
	}
}
