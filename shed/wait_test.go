package shed

import (
	"context"
	"errors"
	"testing"
	"time"
)

type otherErrCtx struct{ context.Context }

var errCustom = errors.New("custom context error")

func (otherErrCtx) Err() error { return errCustom }

func TestCheckQueueWait(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bg := context.Background()
	canceled, cancel := context.WithCancel(bg)
	cancel()
	const maxWait = 500 * time.Millisecond
	tests := []struct {
		name    string
		ctx     context.Context
		waited  time.Duration
		maxWait time.Duration
		want    error // nil, ErrQueueTimeout, or a cause also matched
	}{
		{"fresh", bg, 0, maxWait, nil},
		{"just under max wait", bg, maxWait - 1, maxWait, nil},
		{"at max wait", bg, maxWait, maxWait, ErrQueueTimeout},
		{"past max wait", bg, time.Hour, maxWait, ErrQueueTimeout},
		{"no max wait", bg, time.Hour, 0, nil},
		{"negative max wait", bg, time.Hour, -1, nil},
		{"clock before enqueue", bg, -time.Hour, maxWait, nil},
		{"canceled", canceled, 0, maxWait, context.Canceled},
		{"deadline reached", deadlineCtx{bg, t0}, 0, maxWait, context.DeadlineExceeded},
		{"deadline ahead", deadlineCtx{bg, t0.Add(time.Nanosecond)}, 0, maxWait, nil},
		{"custom context error", otherErrCtx{bg}, 0, maxWait, errCustom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckQueueWait(tt.ctx, t0.Add(-tt.waited), t0, tt.maxWait)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrQueueTimeout) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want ErrQueueTimeout and %v", err, tt.want)
			}
		})
	}
}

func TestCheckQueueWaitDoesNotAllocate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ctx context.Context = deadlineCtx{context.Background(), t0}
	if n := testing.AllocsPerRun(100, func() {
		_ = CheckQueueWait(context.Background(), t0, t0.Add(time.Second), 500*time.Millisecond)
		_ = CheckQueueWait(ctx, t0, t0, 500*time.Millisecond)
	}); n != 0 {
		t.Fatalf("%v allocs per run, want 0", n)
	}
}
