//go:build unix

package cpulock

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestHoldSerializes: two tests that Hold never overlap.
func TestHoldSerializes(t *testing.T) {
	var inside, overlaps atomic.Int32
	for _, name := range []string{"a", "b", "c"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			Hold(t)
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(20 * time.Millisecond) // stay inside so an overlap would show
			inside.Add(-1)
		})
	}
	t.Cleanup(func() {
		if overlaps.Load() != 0 {
			t.Errorf("%d overlaps", overlaps.Load())
		}
	})
}
