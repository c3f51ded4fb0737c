//go:build linux

package loadgen

import (
	"syscall"
	"time"
)

// preciseSleep sleeps d with nanosleep(2). The Go runtime's timers wake up to ~1 ms late on
// Linux, which at thousands of sends a second would bunch sends into millisecond batches;
// nanosleep is within ~0.1 ms. It blocks its OS thread, which only the scheduler goroutine pays.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
