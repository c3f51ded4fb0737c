package timeout_test

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/timeout"
)

// A Dynamic starts generous (Tmax) and tightens toward Thwm as responses
// slow down.
func Example() {
	d, err := timeout.New(
		timeout.WithTavg(60*time.Millisecond),
		timeout.WithThwm(250*time.Millisecond),
		timeout.WithTmax(500*time.Millisecond),
		timeout.WithN(3), // r = 1/2, to move quickly in this example
	)
	if err != nil {
		panic(err)
	}
	fmt.Println("fresh:", d.Timeout())

	d.Observe(310 * time.Millisecond) // ema 155ms: midway between Tavg and Thwm
	fmt.Println("ema", d.EMA(), "timeout", d.Timeout())

	d.Fail(20 * time.Millisecond) // a failure counts as Tmax: ema 327.5ms
	fmt.Println("ema", d.EMA(), "timeout", d.Timeout())
	// Output:
	// fresh: 500ms
	// ema 155ms timeout 375ms
	// ema 327.5ms timeout 250ms
}

// Start and Done time a call with the Dynamic's clock.
func ExampleDynamic_Start() {
	d, err := timeout.New()
	if err != nil {
		panic(err)
	}
	call := d.Start()
	// ctx, cancel := context.WithTimeout(ctx, call.Timeout())
	// err := doRequest(ctx)
	// cancel()
	var err2 error
	call.Done(err2 == nil)
	fmt.Println(call.Timeout())
	// Output: 500ms
}
