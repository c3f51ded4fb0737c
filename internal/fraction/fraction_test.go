package fraction

import (
	"math"
	"math/big"
	"testing"
)

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		p    float64
		n    int64
		want int64
	}{
		{"float would round down", 0.29, 100, 29},
		{"whole", 1, 7, 7},
		{"floor", 0.6, 9, 5},
		{"zero count", 0.5, 0, 0},
		{"negative count", 0.5, -10, 0},
		{"zero share", 0, 10, 0},
		{"above one", 2.5, 4, 10},
		{"saturates", 100, math.MaxInt64, math.MaxInt64},
		{"max count at one", 1, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromFloat(tt.p).Of(tt.n); got != tt.want {
				t.Fatalf("FromFloat(%v).Of(%d) = %d, want %d", tt.p, tt.n, got, tt.want)
			}
		})
	}
}

func TestOfDoesNotAllocate(t *testing.T) {
	p := FromFloat(0.75)
	if a := testing.AllocsPerRun(100, func() { _ = p.Of(1234) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

// FuzzOf checks Of against math/big.
func FuzzOf(f *testing.F) {
	f.Add(int64(100), int64(290_000_000))
	f.Add(int64(math.MaxInt64), int64(Scale))
	f.Add(int64(math.MaxInt64), int64(100*Scale))
	f.Fuzz(func(t *testing.T, n, p int64) {
		if p < 0 {
			return
		}
		want := int64(0)
		if n > 0 {
			q := new(big.Int).Mul(big.NewInt(n), big.NewInt(p))
			q.Quo(q, big.NewInt(Scale))
			if q.IsInt64() {
				want = q.Int64()
			} else {
				want = math.MaxInt64
			}
		}
		if got := PPB(p).Of(n); got != want {
			t.Fatalf("PPB(%d).Of(%d) = %d, want %d", p, n, got, want)
		}
	})
}
