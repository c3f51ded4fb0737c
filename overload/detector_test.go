package overload

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func mustNew(t testing.TB, opts ...Option) *Detector {
	t.Helper()
	d, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewValidatesOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr string
	}{
		{"defaults", nil, ""},
		{"all set", []Option{WithEnter(0.8), WithExit(0.5), WithTarget(0.6), WithEnterSamples(1), WithExitSamples(1), WithWorkers(4)}, ""},
		{"exit equals enter", []Option{WithEnter(0.8), WithExit(0.8)}, ""},
		{"ratio above one", []Option{WithEnter(1.5), WithExit(1.2)}, ""},
		{"enter zero", []Option{WithEnter(0)}, "overload: WithEnter: must be in (0, 100], got 0"},
		{"enter NaN", []Option{WithEnter(math.NaN())}, "overload: WithEnter: must be in (0, 100], got NaN"},
		{"enter huge", []Option{WithEnter(1e6)}, "overload: WithEnter: must be in (0, 100]"},
		{"exit negative", []Option{WithExit(-0.1)}, "overload: WithExit: must be in (0, 100], got -0.1"},
		{"target zero", []Option{WithTarget(0)}, "overload: WithTarget: must be in (0, 100], got 0"},
		{"target infinite", []Option{WithTarget(math.Inf(1))}, "overload: WithTarget: must be in (0, 100]"},
		{"exit above enter", []Option{WithEnter(0.5)}, "overload: WithExit/WithEnter: exit threshold 0.7 must not exceed the enter threshold 0.5"},
		{"enter samples zero", []Option{WithEnterSamples(0)}, "overload: WithEnterSamples: must be ≥ 1, got 0"},
		{"exit samples negative", []Option{WithExitSamples(-2)}, "overload: WithExitSamples: must be ≥ 1, got -2"},
		{"workers zero", []Option{WithWorkers(0)}, "overload: WithWorkers: must be ≥ 1, got 0"},
		{"nil callback", []Option{WithOnPhaseChange(nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.opts...)
			if tt.wantErr == "" {
				if err != nil || d == nil {
					t.Fatalf("New = %v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestTransitions drives the transition table with sample sequences. Ratios
// are given in percent of 100 workers; defaults E = 0.9, X = 0.7, N = 3,
// M = 5 unless the case says otherwise.
func TestTransitions(t *testing.T) {
	const (
		N = Normal
		O = Overloaded
		X = Exiting
	)
	tests := []struct {
		name    string
		opts    []Option
		samples []int   // active of 100
		phases  []Phase // phase after each sample
		streaks []int   // streak after each sample (nil: not checked)
	}{
		{"stays normal at the threshold", nil,
			[]int{90, 90, 90, 90}, []Phase{N, N, N, N}, []int{0, 0, 0, 0}},
		{"enters after three above", nil,
			[]int{91, 95, 100}, []Phase{N, N, O}, []int{1, 2, 0}},
		{"a dip resets the enter streak", nil,
			[]int{95, 95, 90, 95, 95, 95}, []Phase{N, N, N, N, N, O}, []int{1, 2, 0, 1, 2, 0}},
		{"holds in the band", nil,
			[]int{95, 95, 95, 80, 70, 89, 70}, []Phase{N, N, O, O, O, O, O}, nil},
		{"exits after five below", nil,
			[]int{95, 95, 95, 69, 10, 0, 50, 60}, []Phase{N, N, O, X, X, X, X, N}, []int{1, 2, 0, 1, 2, 3, 4, 0}},
		{"a sample at exit during exiting returns to overloaded", nil,
			[]int{95, 95, 95, 50, 50, 70, 50}, []Phase{N, N, O, X, X, O, X}, []int{1, 2, 0, 1, 2, 0, 1}},
		{"a spike during exiting returns to overloaded", nil,
			[]int{95, 95, 95, 50, 99}, []Phase{N, N, O, X, O}, nil},
		{"back in normal it needs N again", nil,
			[]int{95, 95, 95, 0, 0, 0, 0, 0, 95, 95, 95}, []Phase{N, N, O, X, X, X, X, N, N, N, O}, nil},
		{"N = 1 enters at once", []Option{WithEnterSamples(1)},
			[]int{91}, []Phase{O}, nil},
		{"M = 1 skips exiting", []Option{WithEnterSamples(1), WithExitSamples(1)},
			[]int{91, 69, 91}, []Phase{O, N, O}, nil},
		{"custom thresholds", []Option{WithEnter(0.5), WithExit(0.2), WithEnterSamples(2), WithExitSamples(2)},
			[]int{51, 51, 30, 19, 20, 19, 0}, []Phase{N, O, O, X, O, X, N}, nil},
		{"equal thresholds", []Option{WithEnter(0.8), WithExit(0.8), WithEnterSamples(1), WithExitSamples(2)},
			[]int{81, 80, 79, 80, 79, 79}, []Phase{O, O, X, O, X, N}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustNew(t, tt.opts...)
			var phases []Phase
			var streaks []int
			for _, a := range tt.samples {
				s := d.Observe(a, 100)
				phases = append(phases, s.Phase)
				streaks = append(streaks, s.Streak)
				if s.Phase != d.Phase() || d.Overloaded() != (s.Phase != Normal) {
					t.Fatalf("State %v disagrees with Phase %v / Overloaded %v", s.Phase, d.Phase(), d.Overloaded())
				}
			}
			if !slices.Equal(phases, tt.phases) {
				t.Fatalf("phases %v, want %v", phases, tt.phases)
			}
			if tt.streaks != nil && !slices.Equal(streaks, tt.streaks) {
				t.Fatalf("streaks %v, want %v", streaks, tt.streaks)
			}
		})
	}
}

func TestObserveClampsAndRatio(t *testing.T) {
	tests := []struct {
		name          string
		active, total int
		wantA, wantT  int
		ratio         float64
	}{
		{"plain", 9, 10, 9, 10, 0.9},
		{"negative active", -3, 10, 0, 10, 0},
		{"zero total idle", 0, 0, 0, 1, 0},
		{"zero total busy", 2, 0, 2, 1, 2},
		{"negative total", 1, -5, 1, 1, 1},
		{"more active than total", 15, 10, 15, 10, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t).Observe(tt.active, tt.total)
			if s.Active != tt.wantA || s.Total != tt.wantT || s.Ratio != tt.ratio || s.Samples != 1 {
				t.Fatalf("state %+v", s)
			}
		})
	}
}

func TestPhaseString(t *testing.T) {
	for p, want := range map[Phase]string{Normal: "normal", Overloaded: "overloaded", Exiting: "exiting", 7: "Phase(7)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int32(p), got, want)
		}
	}
}

// overloadedDetector returns a sample-mode detector pushed into Overloaded
// by samples of active of total.
func overloadedDetector(t *testing.T, active, total int, opts ...Option) *Detector {
	d := mustNew(t, append([]Option{WithEnterSamples(1)}, opts...)...)
	if s := d.Observe(active, total); s.Phase != Overloaded {
		t.Fatalf("phase %v after sample %d/%d", s.Phase, active, total)
	}
	return d
}

// TestAllowByPhase checks Allow in sample mode: the last sample's active
// count against ⌊target × total⌋.
func TestAllowByPhase(t *testing.T) {
	tests := []struct {
		name    string
		build   func(t *testing.T) *Detector
		want    error
		limit   int64
		limited bool
	}{
		{"normal allows even when busy", func(t *testing.T) *Detector {
			d := mustNew(t)
			d.Observe(100, 100)
			return d
		}, nil, 0, false},
		{"overloaded at the sample refuses", func(t *testing.T) *Detector {
			return overloadedDetector(t, 95, 100) // limit ⌊0.9×100⌋ = 90
		}, ErrOverloaded, 90, true},
		{"overloaded, sample below target allows", func(t *testing.T) *Detector {
			d := overloadedDetector(t, 95, 100)
			d.Observe(89, 100) // in the band: still Overloaded
			return d
		}, nil, 90, true},
		{"overloaded, sample at target refuses", func(t *testing.T) *Detector {
			d := overloadedDetector(t, 95, 100)
			d.Observe(90, 100)
			return d
		}, ErrOverloaded, 90, true},
		{"exiting allows below target", func(t *testing.T) *Detector {
			d := overloadedDetector(t, 95, 100)
			if s := d.Observe(50, 100); s.Phase != Exiting {
				t.Fatalf("phase %v", s.Phase)
			}
			return d
		}, nil, 90, true},
		{"custom target", func(t *testing.T) *Detector {
			d := overloadedDetector(t, 95, 100, WithTarget(0.5))
			d.Observe(75, 100)
			return d
		}, ErrOverloaded, 50, true},
		{"limit follows the sample's total", func(t *testing.T) *Detector {
			d := overloadedDetector(t, 95, 100)
			d.Observe(10, 20) // ratio 0.5: Exiting, limit ⌊0.9×20⌋ = 18
			return d
		}, nil, 18, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.build(t)
			if err := d.Allow(); err != tt.want {
				t.Fatalf("Allow = %v, want %v", err, tt.want)
			}
			tok, err := d.Admit()
			if err != tt.want {
				t.Fatalf("Admit = %v, want %v", err, tt.want)
			}
			tok.Done()
			if l, ok := d.Capacity(); l != tt.limit || ok != tt.limited {
				t.Fatalf("Capacity = %d, %v; want %d, %v", l, ok, tt.limit, tt.limited)
			}
			wantRejected := uint64(0)
			if tt.want != nil {
				wantRejected = 2
			}
			if s := d.State(); s.Rejected != wantRejected || s.Inflight != 0 {
				t.Fatalf("state %+v", s)
			}
		})
	}
}

// TestAccountingMode uses Begin/Done and Sample with WithWorkers(10).
func TestAccountingMode(t *testing.T) {
	var changes []string
	d := mustNew(t, WithWorkers(10), WithEnterSamples(2), WithExitSamples(2),
		WithOnPhaseChange(func(from, to Phase, s State) {
			changes = append(changes, from.String()+"→"+to.String())
		}))
	var toks []Token
	for range 10 {
		toks = append(toks, d.Begin())
	}
	if d.Inflight() != 10 {
		t.Fatalf("inflight %d", d.Inflight())
	}
	if s := d.Sample(); s.Phase != Normal || s.Active != 10 || s.Total != 10 || s.Ratio != 1 {
		t.Fatalf("first sample %+v", s)
	}
	if err := d.Allow(); err != nil {
		t.Fatalf("Allow in Normal = %v", err)
	}
	if s := d.Sample(); s.Phase != Overloaded {
		t.Fatalf("second sample %+v", s)
	}
	// Limit ⌊0.9×10⌋ = 9; inflight is 10.
	if err := d.Allow(); err != ErrOverloaded {
		t.Fatalf("Allow at 10 in flight = %v", err)
	}
	toks[0].Done()
	toks[1].Done() // inflight 8: live accounting allows without a new sample
	if err := d.Allow(); err != nil {
		t.Fatalf("Allow at 8 in flight = %v", err)
	}
	tok, err := d.Admit() // 9
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Admit(); err != ErrOverloaded {
		t.Fatalf("Admit at 9 in flight = %v", err)
	}
	tok.Done()
	for _, tk := range toks[2:] {
		tk.Done()
	}
	d.Sample() // 0/10 → Exiting
	s := d.Sample()
	if s.Phase != Normal || s.Inflight != 0 || s.Rejected != 2 || s.Samples != 4 {
		t.Fatalf("final state %+v", s)
	}
	want := []string{"normal→overloaded", "overloaded→exiting", "exiting→normal"}
	if !slices.Equal(changes, want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	var zero Token
	zero.Done()
	if d.Inflight() != 0 {
		t.Fatal("zero Token's Done changed inflight")
	}
}

func TestSampleWithoutWorkersTakesNoSample(t *testing.T) {
	d := mustNew(t)
	d.Begin()
	if s := d.Sample(); s.Samples != 0 || s.Inflight != 1 {
		t.Fatalf("state %+v", s)
	}
}

// TestCallbackOutsideLock: the callback may call back into the detector;
// under a lock this would deadlock.
func TestCallbackOutsideLock(t *testing.T) {
	var d *Detector
	var seen []State
	d = mustNew(t, WithEnterSamples(1), WithOnPhaseChange(func(from, to Phase, s State) {
		seen = append(seen, d.State())
		if to == Overloaded {
			d.Observe(0, 10) // a nested sample: Overloaded → Exiting
		}
	}))
	d.Observe(10, 10)
	if len(seen) != 2 || seen[0].Phase != Overloaded || seen[1].Phase != Exiting || d.Phase() != Exiting {
		t.Fatalf("callback saw %+v", seen)
	}
}

func TestErrOverloaded(t *testing.T) {
	d := overloadedDetector(t, 10, 10)
	if err := d.Allow(); !errors.Is(err, ErrOverloaded) || err.Error() != "overload: overloaded" {
		t.Fatalf("Allow = %v", err)
	}
}
