package shed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// settable is a Capacity that a test moves.
type settable struct {
	limit   atomic.Int64
	limited atomic.Bool
}

func newSettable(limit int64) *settable {
	s := &settable{}
	s.limit.Store(limit)
	s.limited.Store(true)
	return s
}

func (s *settable) Capacity() (int64, bool) { return s.limit.Load(), s.limited.Load() }

// deadlineCtx has a deadline judged by the test's fake clock only; the real
// clock never ends it.
type deadlineCtx struct {
	context.Context
	deadline time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func mustNew(t testing.TB, c Capacity, opts ...Option) *Admitter {
	t.Helper()
	a, err := New(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewValidatesOptions(t *testing.T) {
	tests := []struct {
		name     string
		capacity Capacity
		opts     []Option
		wantErr  string // "" = no error
	}{
		{"defaults", Fixed(10), nil, ""},
		{"nil capacity", nil, nil, "shed: New: capacity is nil"},
		{"queue zero", Fixed(1), []Option{WithQueue(0)}, ""},
		{"queue negative", Fixed(1), []Option{WithQueue(-1)}, "shed: WithQueue: must be ≥ 0, got -1"},
		{"max wait zero", Fixed(1), []Option{WithMaxWait(0)}, "shed: WithMaxWait: must be > 0"},
		{"max wait negative", Fixed(1), []Option{WithMaxWait(-time.Second)}, "shed: WithMaxWait: must be > 0"},
		{"shares ok", Fixed(1), []Option{WithShares([4]float64{0.8, 0.8, 0.5, 0.1})}, ""},
		{"shares all one", Fixed(1), []Option{WithShares([4]float64{1, 1, 1, 1})}, ""},
		{"share zero", Fixed(1), []Option{WithShares([4]float64{1, 0.9, 0.75, 0})}, "shed: WithShares: level 4 share must be in (0, 1], got 0"},
		{"share above one", Fixed(1), []Option{WithShares([4]float64{1.1, 0.9, 0.75, 0.6})}, "level 1 share must be in (0, 1], got 1.1"},
		{"share NaN", Fixed(1), []Option{WithShares([4]float64{1, math.NaN(), 0.5, 0.5})}, "level 2 share must be in (0, 1]"},
		{"share negative", Fixed(1), []Option{WithShares([4]float64{1, 0.9, -0.5, -0.6})}, "level 3 share must be in (0, 1]"},
		{"share below resolution", Fixed(1), []Option{WithShares([4]float64{1, 1, 1, 1e-12})}, "level 4 share must be in (0, 1]"},
		{"shares increase", Fixed(1), []Option{WithShares([4]float64{0.9, 1, 0.75, 0.6})}, "level 2 share 1 exceeds level 1 share 0.9"},
		{"nil clock is real", Fixed(1), []Option{WithClock(nil)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.capacity, tt.opts...)
			if tt.wantErr == "" {
				if err != nil || a == nil {
					t.Fatalf("New = %v, %v; want an Admitter", a, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestLevelLimits pins ⌊share × limit⌋ for the default shares.
func TestLevelLimits(t *testing.T) {
	tests := []struct {
		limit int64
		want  [4]int64 // inflight at which levels 1..4 stop being admitted
	}{
		{-5, [4]int64{0, 0, 0, 0}},
		{0, [4]int64{0, 0, 0, 0}},
		{1, [4]int64{1, 0, 0, 0}},
		{2, [4]int64{2, 1, 1, 1}},
		{4, [4]int64{4, 3, 3, 2}},
		{10, [4]int64{10, 9, 7, 6}},
		{100, [4]int64{100, 90, 75, 60}},
		{math.MaxInt64, [4]int64{math.MaxInt64, 8301034833169298226, 6917529027641081855, 5534023222112865484}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit %d", tt.limit), func(t *testing.T) {
			s := mustNew(t, Fixed(tt.limit)).Stats()
			for i, want := range tt.want {
				if got := s.Levels[i].Limit; got != want {
					t.Errorf("limit %d: level %d limit = %d, want %d", tt.limit, i+1, got, want)
				}
			}
		})
	}
}

// TestAdmitAtOnce checks the admission rule one request at a time.
func TestAdmitAtOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		limit    int64
		inflight int // level-1 tickets held first
		level    int
		wantErr  error
	}{
		{"level 1 admits up to the limit", 10, 9, 1, nil},
		{"level 1 refused at the limit", 10, 10, 1, ErrShed},
		{"level 2 admitted below 9", 10, 8, 2, nil},
		{"level 2 refused at 9", 10, 9, 2, ErrShed},
		{"level 3 admitted below 7", 10, 6, 3, nil},
		{"level 3 refused at 7", 10, 7, 3, ErrShed},
		{"level 4 admitted below 6", 10, 5, 4, nil},
		{"level 4 refused at 6", 10, 6, 4, ErrShed},
		{"limit 1 admits level 1", 1, 0, 1, nil},
		{"limit 1 refuses level 2 even when idle", 1, 0, 2, ErrShed},
		{"limit 0 refuses level 1", 0, 0, 1, ErrShed},
		{"level 0 is invalid", 10, 0, 0, ErrLevel},
		{"level 5 is invalid", 10, 0, 5, ErrLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, Fixed(tt.limit), WithQueue(0))
			for range tt.inflight {
				if _, err := a.Admit(ctx, 1); err != nil {
					t.Fatalf("filling: %v", err)
				}
			}
			tk, err := a.Admit(ctx, tt.level)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Admit(level %d) at inflight %d = %v, want %v", tt.level, tt.inflight, err, tt.wantErr)
			}
			want := int64(tt.inflight)
			if err == nil {
				want++
				if tk.Level() != tt.level {
					t.Fatalf("ticket level %d, want %d", tk.Level(), tt.level)
				}
			}
			if got := a.Stats().Inflight; got != want {
				t.Fatalf("inflight %d, want %d", got, want)
			}
		})
	}
}

func TestInvalidLevelMessage(t *testing.T) {
	a := mustNew(t, Fixed(1))
	_, err := a.Admit(context.Background(), 7)
	if err == nil || err.Error() != "shed: level out of range: got 7, want 1..4" {
		t.Fatalf("error = %v", err)
	}
	if s := a.Stats(); s.Inflight != 0 || s.Levels[3].Shed != 0 {
		t.Fatalf("an invalid level was counted: %+v", s)
	}
}

// TestSheddingOrderRisingInflight offers a mixed stream of all four levels
// to a fixed limit while nothing finishes, so inflight grows. The first
// refusals must be level 4 only, then level 3 joins, then 2, then 1; and once
// a level is refused it stays refused.
func TestSheddingOrderRisingInflight(t *testing.T) {
	const limit = 100
	a := mustNew(t, Fixed(limit), WithQueue(0))
	ctx := context.Background()
	var order []int                          // levels in the order of their first refusal
	refused := map[int]bool{}                // levels that have been refused
	pattern := []int{3, 1, 4, 2, 4, 2, 1, 3} // mixed, every level present
	levelLimit := map[int]int64{1: 100, 2: 90, 3: 75, 4: 60}
	for i := range 4 * limit {
		level := pattern[i%len(pattern)]
		inflight := a.Stats().Inflight
		_, err := a.Admit(ctx, level)
		switch {
		case err == nil:
			if refused[level] {
				t.Fatalf("request %d: level %d admitted after it was refused", i, level)
			}
			if inflight >= levelLimit[level] {
				t.Fatalf("request %d: level %d admitted at inflight %d", i, level, inflight)
			}
		case errors.Is(err, ErrShed):
			if inflight < levelLimit[level] {
				t.Fatalf("request %d: level %d refused at inflight %d", i, level, inflight)
			}
			if !refused[level] {
				refused[level] = true
				order = append(order, level)
			}
		default:
			t.Fatalf("request %d: unexpected error %v", i, err)
		}
	}
	if want := []int{4, 3, 2, 1}; !slices.Equal(order, want) {
		t.Fatalf("first refusals in level order %v, want %v", order, want)
	}
	if got := a.Stats().Inflight; got != limit {
		t.Fatalf("inflight settled at %d, want %d", got, limit)
	}
}

// TestSheddingOrderFallingCapacity holds inflight steady and lowers the
// limit, as a BBR limiter does under rising CPU pressure.
func TestSheddingOrderFallingCapacity(t *testing.T) {
	c := newSettable(200)
	a := mustNew(t, c, WithQueue(0))
	ctx := context.Background()
	const held = 30
	for range held {
		if _, err := a.Admit(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	var order []int
	refused := map[int]bool{}
	for limit := int64(200); limit >= 0; limit-- {
		c.limit.Store(limit)
		for _, level := range []int{2, 4, 1, 3} {
			tk, err := a.Admit(ctx, level)
			if err == nil {
				if refused[level] {
					t.Fatalf("limit %d: level %d admitted after it was refused", limit, level)
				}
				tk.Done()
				continue
			}
			if !refused[level] {
				refused[level] = true
				order = append(order, level)
			}
		}
	}
	if want := []int{4, 3, 2, 1}; !slices.Equal(order, want) {
		t.Fatalf("first refusals in level order %v, want %v", order, want)
	}
}

func TestUnlimitedAdmitsEveryLevel(t *testing.T) {
	c := newSettable(0)
	c.limited.Store(false)
	a := mustNew(t, c, WithQueue(0))
	var tickets []Ticket
	for i := range 1000 {
		tk, err := a.Admit(context.Background(), i%4+1)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		tickets = append(tickets, tk)
	}
	s := a.Stats()
	if s.Limited || s.Inflight != 1000 || s.Levels[3].Inflight != 250 {
		t.Fatalf("stats %+v", s)
	}
	for _, tk := range tickets {
		tk.Done()
	}
	if got := a.Stats().Inflight; got != 0 {
		t.Fatalf("inflight %d after all Done", got)
	}
}

func TestZeroTicketDoneIsNoop(t *testing.T) {
	var tk Ticket
	tk.Done()
	if tk.Level() != 0 {
		t.Fatal("zero ticket has a level")
	}
}

func TestStatsCountsEveryOutcome(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	a := mustNew(t, Fixed(1), WithQueue(0), WithClock(fake))
	ctx := context.Background()
	tk, _ := a.Admit(ctx, 1)
	_, _ = a.Admit(ctx, 1) // shed
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = a.Admit(canceled, 2)                                     // canceled
	_, _ = a.Admit(deadlineCtx{ctx, fake.Now()}, 3)                 // timed out
	_, _ = a.Admit(deadlineCtx{ctx, fake.Now().Add(-time.Hour)}, 3) // timed out
	want := [4]LevelStats{
		{Limit: 1, Inflight: 1, Admitted: 1, Shed: 1},
		{Canceled: 1},
		{TimedOut: 2},
		{},
	}
	s := a.Stats()
	if s.Limit != 1 || !s.Limited || s.Inflight != 1 || s.Queued != 0 || s.Levels != want {
		t.Fatalf("stats %+v, want levels %+v", s, want)
	}
	tk.Done()
}
