//go:build !unix

package cpu

import (
	"errors"
	"time"
)

// processCPUTime is not available on this platform; NewSampler reports the
// error unless WithUsageReader supplies another source.
func processCPUTime() (time.Duration, error) {
	return 0, errors.ErrUnsupported
}
