package shed

// Capacity supplies the current concurrency limit that an [Admitter] divides
// among the levels. limited = false means "no limit now": every level is
// admitted. The adaptive (BBR) limiter, a gateway pool's capacity estimate
// and the overload detector implement it.
//
// Capacity is called on every Admit, and on Done while requests wait in the
// queue, always outside the Admitter's lock, so
// it must be safe for concurrent use and should be cheap. It may call back
// into the Admitter (Stats, for example) without deadlocking.
type Capacity interface {
	Capacity() (limit int64, limited bool)
}

// Fixed is a constant [Capacity]: always limited, at int64(f). Fixed(0) or a
// negative Fixed admits nothing.
type Fixed int64

var _ Capacity = Fixed(0)

// Capacity returns (int64(f), true).
func (f Fixed) Capacity() (int64, bool) { return int64(f), true }
