//go:build unix

package cpu

import (
	"syscall"
	"time"
)

// processCPUTime returns the CPU time this process has used, user plus
// system, from getrusage(RUSAGE_SELF).
func processCPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
