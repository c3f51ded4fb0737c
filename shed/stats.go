package shed

// Stats is a snapshot of an [Admitter] for metrics. Levels[i] describes
// level i+1. The counters (Admitted, Shed, TimedOut, Canceled) only grow;
// every Admit call with a valid level ends in exactly one of them.
type Stats struct {
	Limit    int64              `json:"limit"`    // the Capacity's limit when the snapshot was taken
	Limited  bool               `json:"limited"`  // false: the Capacity imposed no limit
	Inflight int64              `json:"inflight"` // admitted requests not yet Done, all levels
	Queued   int                `json:"queued"`   // waiting requests, all levels
	Levels   [Levels]LevelStats `json:"levels"`
}

// LevelStats is one level's part of [Stats].
type LevelStats struct {
	Limit    int64  `json:"limit"`     // ⌊share × Limit⌋: inflight below this admits the level (when Limited)
	Inflight int64  `json:"inflight"`  // admitted requests of this level not yet Done
	Queued   int    `json:"queued"`    // requests of this level waiting for a slot
	Admitted uint64 `json:"admitted"`  // admitted, at once or after waiting
	Shed     uint64 `json:"shed"`      // refused with ErrShed (including pushed out of the queue)
	TimedOut uint64 `json:"timed_out"` // refused with ErrQueueTimeout: max wait or deadline
	Canceled uint64 `json:"canceled"`  // refused with ErrQueueTimeout because the context was canceled
}

// Stats returns a consistent snapshot of the Admitter's counts. The limit is
// read from the Capacity just before the counts.
func (a *Admitter) Stats() Stats {
	limit, limited := a.capacity.Capacity()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{Limit: limit, Limited: limited, Inflight: a.inflight, Queued: a.queued}
	for i := range a.levels {
		l := &a.levels[i]
		s.Levels[i] = LevelStats{
			Limit:    a.shares[i].Of(limit),
			Inflight: l.inflight,
			Queued:   l.queue.n,
			Admitted: l.admitted,
			Shed:     l.shed,
			TimedOut: l.timedOut,
			Canceled: l.canceled,
		}
	}
	return s
}
