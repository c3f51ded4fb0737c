package retry_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// A gateway counts every local request and asks the window before it fails a
// request over to the remote center.
func Example() {
	fake := clock.NewFake(time.Time{}) // tests drive time; omit WithClock in production
	w, err := retry.New(retry.WithPeriod(time.Second), retry.WithClock(fake))
	if err != nil {
		panic(err)
	}
	var switches retry.Switches // zero value: everything on

	failover := func(service string) error {
		if !switches.Enabled(service) {
			return errors.New("retries switched off")
		}
		if err := w.Allow(); err != nil {
			return err // retry.ErrNoBudget: fail or degrade at once
		}
		w.Record(true) // the remote answered
		return nil
	}

	for period := range 3 {
		sent := 0
		for range 500 { // 500 local requests, all failing locally
			w.ObserveLocal()
			if failover("search") == nil {
				sent++
			}
		}
		fmt.Printf("period %d: window %d, retried %d\n", period, w.Stats().Window, sent)
		fake.Advance(time.Second)
	}

	w.Grant(40) // the remote's Bulwark-Credit: 40
	fake.Advance(time.Second)
	fmt.Println("after a credit of 40:", w.Stats().Window)

	switches.Set("search", false)
	fmt.Println(failover("search"))
	// Output:
	// period 0: window 1, retried 1
	// period 1: window 2, retried 2
	// period 2: window 4, retried 4
	// after a credit of 40: 40
	// retries switched off
}
