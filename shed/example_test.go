package shed_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/shed"
)

// An Admitter over a fixed limit of 10: level 4 may use 6 slots, level 3
// 7, level 2 9 and level 1 all 10, so as load rises level 4 goes first.
func Example() {
	adm, err := shed.New(shed.Fixed(10), shed.WithQueue(0))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, level := range []int{4, 3, 2, 1} {
		var admitted []shed.Ticket
		for {
			tk, err := adm.Admit(ctx, level)
			if errors.Is(err, shed.ErrShed) {
				break
			}
			admitted = append(admitted, tk)
		}
		fmt.Printf("level %d: %d admitted before shedding\n", level, len(admitted))
		for _, tk := range admitted {
			tk.Done()
		}
	}
	// Output:
	// level 4: 6 admitted before shedding
	// level 3: 7 admitted before shedding
	// level 2: 9 admitted before shedding
	// level 1: 10 admitted before shedding
}

// A request handler admits by level, waits at most the queue wait, and
// frees its slot when done.
func ExampleAdmitter_Admit() {
	adm, _ := shed.New(shed.Fixed(100), shed.WithMaxWait(200*time.Millisecond))

	handle := func(ctx context.Context, level int) error {
		tk, err := adm.Admit(ctx, level)
		if err != nil {
			return err // ErrShed or ErrQueueTimeout: answer 503 with Retry-After
		}
		defer tk.Done()
		// ... serve the request ...
		return nil
	}
	fmt.Println(handle(context.Background(), 2))
	// Output: <nil>
}

// CheckQueueWait drops a job that sat in a worker queue longer than the
// caller would wait (SEEDS.md B12).
func ExampleCheckQueueWait() {
	enqueued := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := enqueued.Add(600 * time.Millisecond)
	err := shed.CheckQueueWait(context.Background(), enqueued, now, 500*time.Millisecond)
	fmt.Println(err, errors.Is(err, shed.ErrQueueTimeout))
	// Output: shed: queue wait timed out true
}
