// Package fraction is exact fixed-point arithmetic for "this share of that
// count", used where a float product would round the wrong way at a
// boundary: 0.29 × 100 is 28.999999999999996 in float64, and ⌊·⌋ of that
// admits one request too few.
package fraction

import (
	"math"
	"math/bits"
)

// Scale is the fixed-point scale: a PPB of Scale is 1.0.
const Scale = 1_000_000_000

// PPB is a non-negative fraction in parts per billion.
type PPB int64

// FromFloat returns f rounded to the nearest part per billion. f must be
// finite and ≥ 0; callers validate it first.
func FromFloat(f float64) PPB { return PPB(math.Round(f * Scale)) }

// Of returns ⌊n × p⌋ exactly: 0 for n ≤ 0, saturating at MaxInt64.
func (p PPB) Of(n int64) int64 {
	if n <= 0 || p <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(n), uint64(p))
	if hi >= Scale {
		return math.MaxInt64 // the quotient needs more than 64 bits
	}
	q, _ := bits.Div64(hi, lo, Scale)
	return int64(min(q, math.MaxInt64))
}
