package window

import (
	"math/rand/v2"
	"testing"
	"time"
)

func at(d time.Duration) time.Duration { return d }

func TestNewPanicsOnBadShape(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		width time.Duration
	}{
		{"zero buckets", 0, time.Second},
		{"negative width", 4, -time.Second},
		{"zero width", 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			New(tc.n, tc.width)
		})
	}
}

func TestWindow(t *testing.T) {
	type add struct {
		at time.Duration
		v  int64
	}
	tests := []struct {
		name             string
		adds             []add
		query            time.Duration
		count, sum       int64
		newestMin, newMx int64
	}{
		{"empty", nil, 0, 0, 0, 0, 0},
		{"clock does not move", []add{{0, 5}, {0, 7}, {0, -2}}, 0, 3, 10, -2, 7},
		{"within one bucket", []add{{0, 1}, {99 * time.Millisecond, 2}}, 99 * time.Millisecond, 2, 3, 1, 2},
		{"spread over the span", []add{{0, 1}, {100 * time.Millisecond, 2}, {300 * time.Millisecond, 3}}, 399 * time.Millisecond, 3, 6, 3, 3},
		{"oldest bucket expires", []add{{0, 1}, {100 * time.Millisecond, 2}}, 400 * time.Millisecond, 1, 2, 0, 0},
		{"jump past the whole span", []add{{0, 1}, {350 * time.Millisecond, 2}}, time.Hour, 0, 0, 0, 0},
		{"jump exactly one span", []add{{0, 1}}, 400 * time.Millisecond, 0, 0, 0, 0},
		{"add after a long jump", []add{{0, 1}, {time.Hour, 9}}, time.Hour, 1, 9, 9, 9},
		{"late time counts in newest", []add{{300 * time.Millisecond, 1}, {0, 4}}, 300 * time.Millisecond, 2, 5, 1, 4},
		{"negative offset counts in newest", []add{{-time.Second, 3}}, 0, 1, 3, 3, 3},
		{"step back after a move counts in newest", []add{{250 * time.Millisecond, 1}, {-time.Hour, 2}}, 250 * time.Millisecond, 2, 3, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(4, 100*time.Millisecond)
			for _, a := range tt.adds {
				w.Add(at(a.at), a.v)
			}
			count, sum := w.Total(at(tt.query))
			if count != tt.count || sum != tt.sum {
				t.Fatalf("Total = (%d, %d), want (%d, %d)", count, sum, tt.count, tt.sum)
			}
			var newest Bucket
			var ages []int
			w.Each(at(tt.query), func(age int, b Bucket) {
				ages = append(ages, age)
				if age == 0 {
					newest = b
				}
			})
			if len(ages) != 4 || ages[0] != 0 || ages[3] != 3 {
				t.Fatalf("Each visited ages %v, want 0..3", ages)
			}
			if newest.Count > 0 && (newest.Min != tt.newestMin || newest.Max != tt.newMx) {
				t.Fatalf("newest bucket min/max = %d/%d, want %d/%d", newest.Min, newest.Max, tt.newestMin, tt.newMx)
			}
		})
	}
}

func TestEachOrderAndReset(t *testing.T) {
	w := New(3, time.Second)
	w.Add(at(0), 10)
	w.Add(at(time.Second), 20)
	w.Add(at(2*time.Second), 30)
	var got []int64
	w.Each(at(2*time.Second), func(_ int, b Bucket) { got = append(got, b.Sum) })
	if want := []int64{30, 20, 10}; !equal(got, want) {
		t.Fatalf("Each order = %v, want newest first %v", got, want)
	}
	w.Reset()
	if c, s := w.Total(at(2 * time.Second)); c != 0 || s != 0 {
		t.Fatalf("after Reset Total = (%d, %d)", c, s)
	}
	if w.Len() != 3 || w.Width() != time.Second || w.Span() != 3*time.Second {
		t.Fatalf("shape = %d × %v = %v", w.Len(), w.Width(), w.Span())
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAgainstBruteForce replays random time sequences, including pauses,
// small steps and jumps larger than the span, and checks every reading
// against a reference that keeps every value and filters by bucket.
func TestAgainstBruteForce(t *testing.T) {
	type rec struct {
		pos int64
		v   int64
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n := 1 + rng.IntN(8)
		width := time.Duration(1+rng.IntN(50)) * time.Millisecond
		w := New(n, width)
		var all []rec
		now := time.Duration(0)
		newest := int64(0)
		for step := range 300 {
			switch r := rng.IntN(10); {
			case r < 4: // clock does not move
			case r < 8:
				now += time.Duration(rng.Int64N(int64(width)))
			case r < 9:
				now += time.Duration(rng.Int64N(int64(width) * int64(n+2)))
			default:
				now += time.Duration(n+rng.IntN(100)) * width // jump past the span
			}
			v := rng.Int64N(1000) - 500
			w.Add(at(now), v)
			pos := int64(now / width)
			newest = max(newest, pos)
			all = append(all, rec{newest, v})

			var wantCount, wantSum int64
			wantMin, wantMax := int64(1<<62), int64(-1<<62)
			for _, r := range all {
				if r.pos > newest-int64(n) {
					wantCount++
					wantSum += r.v
				}
				if r.pos == newest {
					wantMin, wantMax = min(wantMin, r.v), max(wantMax, r.v)
				}
			}
			count, sum := w.Total(at(now))
			if count != wantCount || sum != wantSum {
				t.Fatalf("round %d step %d: Total = (%d, %d), want (%d, %d)", round, step, count, sum, wantCount, wantSum)
			}
			var newestB Bucket
			var eachCount, eachSum int64
			w.Each(at(now), func(age int, b Bucket) {
				if age == 0 {
					newestB = b
				}
				eachCount += b.Count
				eachSum += b.Sum
			})
			if eachCount != count || eachSum != sum {
				t.Fatalf("round %d step %d: Each sums (%d, %d) disagree with Total (%d, %d)", round, step, eachCount, eachSum, count, sum)
			}
			if newestB.Min != wantMin || newestB.Max != wantMax {
				t.Fatalf("round %d step %d: newest min/max = %d/%d, want %d/%d", round, step, newestB.Min, newestB.Max, wantMin, wantMax)
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	w := New(10, time.Millisecond)
	now := time.Duration(0)
	var total int64
	allocs := testing.AllocsPerRun(1000, func() {
		now += 300 * time.Microsecond
		w.Add(now, 1)
		_, s := w.Total(now)
		w.Each(now, func(_ int, b Bucket) { total += b.Count })
		total += s
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Add+Total+Each, want 0", allocs)
	}
}

func BenchmarkAdd(b *testing.B) {
	w := New(100, 100*time.Millisecond)
	now := time.Duration(0)
	b.ReportAllocs()
	for b.Loop() {
		now += time.Microsecond
		w.Add(now, 1)
	}
}

func BenchmarkTotal(b *testing.B) {
	w := New(100, 100*time.Millisecond)
	now := time.Duration(0)
	b.ReportAllocs()
	for b.Loop() {
		now += time.Microsecond
		w.Total(now)
	}
}

func BenchmarkEach(b *testing.B) {
	w := New(100, 100*time.Millisecond)
	now := time.Duration(0)
	var sink int64
	b.ReportAllocs()
	for b.Loop() {
		now += time.Microsecond
		w.Each(now, func(_ int, bk Bucket) { sink += bk.Count })
	}
	_ = sink
}
