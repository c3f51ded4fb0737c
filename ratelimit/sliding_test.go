package ratelimit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

func TestSlidingWindow(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		buckets int
		steps   []step // limit 4 per second
	}{
		{"limit then reject", 10, []step{{0, 1, true}, {0, 3, true}, {0, 1, false}}},
		{"AllowN larger than the room is rejected whole", 10, []step{{0, 3, true}, {0, 2, false}, {0, 1, true}}},
		{"no double burst at a 1s edge", 10, []step{{999 * ms, 4, true}, {1 * ms, 1, false}, {999 * ms, 1, false}}},
		// 10 buckets of 100 ms; counting 11 of them, an admission at 0 leaves
		// the window when the bucket at 1.1 s becomes the newest.
		{"forgets after n+1 buckets", 10, []step{{0, 4, true}, {1099 * ms, 1, false}, {1 * ms, 4, true}}},
		{"one bucket counts two", 1, []step{{500 * ms, 4, true}, {1499 * ms, 1, false}, {1 * ms, 4, true}}},
		{"spread admissions expire one bucket at a time", 4, []step{
			{0, 1, true}, {250 * ms, 1, true}, {250 * ms, 1, true}, {250 * ms, 1, true}, {0, 1, false},
			{250 * ms, 1, false}, // t=1s: buckets 0..4 still hold 4
			{250 * ms, 1, true},  // t=1.25s: bucket 0 has left
			{0, 1, false},
		}},
		{"a long jump empties the window", 10, []step{{0, 4, true}, {time.Hour, 4, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(time.Time{})
			l, err := NewSlidingWindow(4, time.Second, WithBuckets(tt.buckets), WithClock(c))
			mustNoErr(t, err)
			runSteps(t, c, l, tt.steps)
		})
	}
}

// admission is a request the limiter admitted: its decision time (see the
// proof on SlidingWindow) relative to the limiter's start, and its size.
type admission struct {
	at time.Duration
	n  int64
}

// checkNoIntervalExceeds fails unless every closed interval of length per
// holds at most limit admitted units. It suffices to check the intervals that
// end at an admission: adm is in decision order, so times do not decrease.
func checkNoIntervalExceeds(adm []admission, per time.Duration, limit int64) error {
	var sum int64
	first := 0
	for i, a := range adm {
		sum += a.n
		for adm[first].at < a.at-per {
			sum -= adm[first].n
			first++
		}
		if sum > limit {
			return fmt.Errorf("%d admitted in [%v, %v], limit %d (admission %d)", sum, a.at-per, a.at, limit, i)
		}
	}
	return nil
}

// slidingRun drives a SlidingWindow through the operations ops decodes and
// checks each decision two ways: against the formula (admit iff the units
// admitted in buckets b−n … b, plus n, are at most the limit), and, at the
// end, by brute force, that no interval of length per admitted more than
// the limit.
type slidingRun struct {
	clock   *clock.Fake
	start   time.Time
	l       *SlidingWindow
	per     time.Duration
	width   time.Duration
	buckets int64
	limit   int64
	latest  time.Duration // the decision time: the latest clock reading
	adm     []admission
}

func newSlidingRun(limit int, per time.Duration, buckets int) (*slidingRun, error) {
	c := clock.NewFake(time.Time{})
	l, err := NewSlidingWindow(limit, per, WithBuckets(buckets), WithClock(c))
	if err != nil {
		return nil, err
	}
	return &slidingRun{
		clock: c, start: c.Now(), l: l, per: per,
		width:   l.win.Width(),
		buckets: int64(buckets),
		limit:   int64(limit),
	}, nil
}

func (r *slidingRun) allow(n int) error {
	now := r.clock.Since(r.start)
	if n > 0 && int64(n) <= r.limit { // the limiter reads the clock only then
		r.latest = max(r.latest, now)
	}
	b := int64(r.latest / r.width)
	from := time.Duration(b-r.buckets) * r.width
	var inWindow int64
	for _, a := range r.adm {
		if a.at >= from {
			inWindow += a.n
		}
	}
	wantAdmit := n <= 0 || int64(n) <= r.limit-inWindow
	err := r.l.AllowN(n)
	if err != nil && !errors.Is(err, ErrLimited) {
		return fmt.Errorf("AllowN(%d) = %v", n, err)
	}
	if admitted := err == nil; admitted != wantAdmit {
		return fmt.Errorf("at %v, AllowN(%d) admitted = %v, want %v (%d units in buckets %d…%d)", now, n, admitted, wantAdmit, inWindow, b-r.buckets, b)
	}
	if err == nil && n > 0 {
		r.adm = append(r.adm, admission{r.latest, int64(n)})
	}
	return nil
}

// TestSlidingWindowNeverExceedsLimit replays random arrivals (random bucket
// counts, periods that are not multiples of the bucket count, random AllowN
// sizes including zero and oversize, pauses, small steps, jumps, and clock
// steps backwards) and checks every decision by brute force.
func TestSlidingWindowNeverExceedsLimit(t *testing.T) {
	for seed := range 300 {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
		limit := 1 + rng.IntN(40)
		per := time.Duration(1 + rng.Int64N(int64(2*time.Second)))
		if rng.IntN(4) == 0 {
			per = time.Duration(1+rng.IntN(30)) * time.Nanosecond // tiny: w rounds up
		}
		buckets := 1 + rng.IntN(16)
		t.Run(fmt.Sprintf("seed=%d/limit=%d/per=%v/buckets=%d", seed, limit, per, buckets), func(t *testing.T) {
			r, err := newSlidingRun(limit, per, buckets)
			mustNoErr(t, err)
			rejected := 0
			for range 500 {
				switch x := rng.IntN(20); {
				case x < 6: // the clock does not move
				case x < 14:
					r.clock.Advance(time.Duration(rng.Int64N(int64(r.width) + 1)))
				case x < 18:
					r.clock.Advance(time.Duration(rng.Int64N(2*int64(per) + 1)))
				case x < 19:
					r.clock.Advance(time.Duration(1+rng.IntN(5)) * per)
				default: // step back, possibly before the start
					r.clock.Set(r.clock.Now().Add(-time.Duration(rng.Int64N(int64(per) + 1))))
				}
				n := 1 + rng.IntN(limit/2+1)
				if x := rng.IntN(20); x == 0 {
					n = 0
				} else if x == 1 {
					n = limit + 1 + rng.IntN(3)
				}
				before := len(r.adm)
				if err := r.allow(n); err != nil {
					t.Fatal(err)
				}
				if len(r.adm) == before && n > 0 {
					rejected++
				}
			}
			if err := checkNoIntervalExceeds(r.adm, per, int64(limit)); err != nil {
				t.Fatal(err)
			}
			if len(r.adm) == 0 || rejected == 0 {
				t.Fatalf("degenerate run: %d admitted, %d rejected", len(r.adm), rejected)
			}
		})
	}
}

// FuzzSlidingWindow runs the same checks on sequences the fuzzer finds: the
// first bytes choose the shape, then each 3-byte record is a clock move and a
// request size.
func FuzzSlidingWindow(f *testing.F) {
	f.Add([]byte{4, 10, 3, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0xff, 0x10, 2})
	f.Add([]byte{1, 1, 1, 0xff, 0xff, 1, 0x80, 0, 1, 0x7f, 0xff, 1})
	f.Add([]byte{40, 16, 0, 0x01, 0x00, 40, 0x03, 0xe7, 1, 0x00, 0x01, 40})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		limit := 1 + int(data[0]%64)
		buckets := 1 + int(data[1]%32)
		per := time.Duration(1+int(data[2])) * 10 * time.Millisecond
		r, err := newSlidingRun(limit, per, buckets)
		if err != nil {
			t.Fatal(err)
		}
		for rec := data[3:]; len(rec) >= 3; rec = rec[3:] {
			move := time.Duration(binary.BigEndian.Uint16(rec)) * 100 * time.Microsecond
			if move >= 0x8000*100*time.Microsecond { // the top bit steps back
				r.clock.Set(r.clock.Now().Add(-(move - 0x8000*100*time.Microsecond)))
			} else {
				r.clock.Advance(move)
			}
			if err := r.allow(int(int8(rec[2]))); err != nil {
				t.Fatal(err)
			}
		}
		if err := checkNoIntervalExceeds(r.adm, per, int64(limit)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSlidingWindowSteadyStream checks the bound proved on SlidingWindow: an
// evenly spread stream of exactly limit per period gets at least
// (1 − 1/n)·limit into every interval of length per, and exactly limit into
// every n+1 consecutive buckets, i.e. n/(n+1)·limit per period in the long
// run.
func TestSlidingWindowSteadyStream(t *testing.T) {
	tests := []struct {
		limit, buckets int
		per            time.Duration
	}{
		{100, 10, time.Second},
		{10, 10, time.Second},
		{60, 3, 600 * time.Millisecond},
		{1000, 20, 2 * time.Second},
		{12, 4, 6 * time.Second},
		{7, 1, 7 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit=%d/per=%v/buckets=%d", tt.limit, tt.per, tt.buckets), func(t *testing.T) {
			gap := tt.per / time.Duration(tt.limit)
			if gap*time.Duration(tt.limit) != tt.per || tt.limit%tt.buckets != 0 || tt.per%time.Duration(tt.buckets) != 0 {
				t.Fatal("test case does not meet the bound's conditions")
			}
			c := clock.NewFake(time.Time{})
			l, err := NewSlidingWindow(tt.limit, tt.per, WithBuckets(tt.buckets), WithClock(c))
			mustNoErr(t, err)
			const periods = 30
			arrivals := periods * tt.limit
			admitted := make([]bool, arrivals) // arrival i is at i·gap
			for i := range admitted {
				admitted[i] = l.Allow() == nil
				c.Advance(gap)
			}
			// Every interval [i·gap, i·gap + per) holds exactly limit arrivals;
			// it is enough to check those (see the proof).
			bound := tt.limit - tt.limit/tt.buckets
			inInterval := 0
			for i := range tt.limit {
				if admitted[i] {
					inInterval++
				}
			}
			for i := 0; i+tt.limit < arrivals; i++ {
				if inInterval < bound || inInterval > tt.limit {
					t.Fatalf("interval starting at %v admitted %d, want in [%d, %d]", time.Duration(i)*gap, inInterval, bound, tt.limit)
				}
				if admitted[i] {
					inInterval--
				}
				if admitted[i+tt.limit] {
					inInterval++
				}
			}
			// Every n+1 consecutive buckets admit exactly limit.
			perBucket := tt.limit / tt.buckets
			span := (tt.buckets + 1) * perBucket
			for first := 0; first+span <= arrivals; first += perBucket {
				got := 0
				for _, a := range admitted[first : first+span] {
					if a {
						got++
					}
				}
				if got != tt.limit {
					t.Fatalf("buckets %d…%d admitted %d, want %d", first/perBucket, first/perBucket+tt.buckets, got, tt.limit)
				}
			}
		})
	}
}

// TestSlidingWindowOverload: under a load far above the limit, every n+1
// consecutive buckets still admit exactly the limit, so the long-run rate is
// n/(n+1)·limit per period.
func TestSlidingWindowOverload(t *testing.T) {
	const limit, buckets, per = 50, 5, time.Second
	const width = per / buckets
	const tries = 4 * limit / buckets // per bucket: 4× the rate
	c := clock.NewFake(time.Time{})
	l, err := NewSlidingWindow(limit, per, WithBuckets(buckets), WithClock(c))
	mustNoErr(t, err)
	units := make([]int, 0, 60)
	for range 60 {
		got := 0
		for range tries {
			if l.Allow() == nil {
				got++
			}
			c.Advance(width / tries)
		}
		units = append(units, got)
	}
	for first := 0; first+buckets+1 <= len(units); first++ {
		sum := 0
		for _, u := range units[first : first+buckets+1] {
			sum += u
		}
		if sum != limit {
			t.Fatalf("buckets %d…%d admitted %d, want exactly %d: %v", first, first+buckets, sum, limit, units)
		}
	}
}

// TestSlidingWindowForgetAfter pins the default TTL a Keyed of sliding
// windows uses: the span of the n+1 buckets.
func TestSlidingWindowForgetAfter(t *testing.T) {
	for _, tt := range []struct {
		per     time.Duration
		buckets int
		want    time.Duration
	}{
		{time.Second, 10, 1100 * time.Millisecond},
		{5 * time.Second, 10, 5500 * time.Millisecond},
		{time.Second, 3, 4 * 333333334 * time.Nanosecond},
		{time.Second, 1, 2 * time.Second},
	} {
		t.Run(fmt.Sprintf("per=%v/buckets=%d", tt.per, tt.buckets), func(t *testing.T) {
			l, err := NewSlidingWindow(1, tt.per, WithBuckets(tt.buckets))
			mustNoErr(t, err)
			if got := l.forgetAfter(); got != tt.want {
				t.Fatalf("forgetAfter = %v, want %v", got, tt.want)
			}
		})
	}
}
