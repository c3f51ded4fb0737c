package shed_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/overload"
	"github.com/bulwark-go/bulwark/shed"
)

// The capacity sources the gateway hands to an Admitter. The packages do not
// import each other; these assertions keep their method sets in step.
var (
	_ shed.Capacity = (*adaptive.Limiter)(nil)
	_ shed.Capacity = (*overload.Detector)(nil)
)

// TestOverloadDetectorAsCapacity splits an overloaded detector's limit among
// the levels: with 10 workers and the default target 0.9 the limit is 9, so
// level 4 (share 0.6) gets ⌊5.4⌋ = 5 slots and level 1 all 9.
func TestOverloadDetectorAsCapacity(t *testing.T) {
	det, err := overload.New(overload.WithEnterSamples(1))
	if err != nil {
		t.Fatal(err)
	}
	det.Observe(10, 10) // ratio 1.0 > 0.9: overloaded
	if !det.Overloaded() {
		t.Fatal("detector not overloaded after a full sample")
	}
	adm, err := shed.New(det, shed.WithQueue(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admitted := map[int]int{}
	for _, level := range []int{4, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1} {
		if _, err := adm.Admit(ctx, level); err == nil {
			admitted[level]++
		}
	}
	if admitted[4] != 5 || admitted[1] != 4 {
		t.Fatalf("admitted %v, want 5 of level 4 then 4 of level 1 (limit 9)", admitted)
	}
}

// TestAdaptiveLimiterAsCapacity: a limiter whose CPU is below the threshold
// reports no limit, so every level is admitted.
func TestAdaptiveLimiterAsCapacity(t *testing.T) {
	lim, err := adaptive.New(adaptive.WithCPU(lowCPU{}))
	if err != nil {
		t.Fatal(err)
	}
	adm, err := shed.New(lim)
	if err != nil {
		t.Fatal(err)
	}
	for level := 1; level <= shed.Levels; level++ {
		tk, err := adm.Admit(context.Background(), level)
		if err != nil {
			t.Fatalf("level %d refused under no pressure: %v", level, err)
		}
		defer tk.Done()
	}
}

type lowCPU struct{}

func (lowCPU) Usage() int64 { return 100 }
