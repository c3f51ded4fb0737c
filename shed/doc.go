// Package shed admits requests by service level (1–4) under overload, with a
// bounded, priority-ordered wait queue and the queue-wait drop (SEEDS.md B7,
// B12).
//
// # Levels
//
// Level 1 is the most important (login, streaming, payment), level 4 the
// least (badges). Under overload the gateway sheds levels 4, 3 and 2 before
// level 1. An [Admitter] does this by giving each level L a share s_L of the
// current limit, which comes from a [Capacity] (the adaptive BBR limiter, a
// pool's capacity estimate, the overload detector, or [Fixed]):
//
//	levelLimit(L) = ⌊s_L × limit⌋
//	admit a level-L request  ⇔  inflight < levelLimit(L)
//
// where inflight counts the admitted requests of every level that have not
// called [Ticket.Done]. Rounding down means a level never exceeds its share:
// with s_1 = 1.0 level 1 admits exactly limit requests in flight, and with
// limit = 1 a level whose share is below 1.0 admits nothing. Because the
// shares are non-increasing from level 1 to 4, as inflight rises level 4 is
// refused first, then level 3, then 2, and level 1 last. The default shares
// are 1.0, 0.9, 0.75 and 0.6 ([DefaultShares]); shares are kept to a
// resolution of 10⁻⁹. A limit ≤ 0 admits nothing. When the Capacity reports
// limited = false every level is admitted (and still counted in inflight).
//
// # The wait queue
//
// A request that cannot be admitted at once waits in a queue of at most
// [WithQueue] requests (default 128; 0 disables waiting) for at most
// [WithMaxWait] (default 500 ms, the queue-wait drop of B12), or until its
// context ends or its context deadline passes, whichever comes first. When a
// slot frees ([Ticket.Done]) the waiters are re-checked in priority order —
// level 1 first, FIFO within a level — each against its own level's share,
// and every waiter that now fits is admitted. Waiters are re-checked only
// when a slot frees, when a new request arrives, or when [Admitter.Recheck]
// is called; a Capacity whose limit rises on its own should be followed by a
// call to Recheck.
//
// When the queue is full, a request more important than the least important
// waiter takes its place: the most recently queued waiter of the least
// important level is shed ([ErrShed]). Otherwise the arriving request is
// shed.
//
// # Errors
//
// A request is refused with [ErrShed] when it cannot be admitted and cannot
// wait, and with [ErrQueueTimeout] when it waited without getting a slot.
// A request whose context is already done, or whose deadline has passed by
// the Admitter's clock, is refused at once with ErrQueueTimeout: its caller
// has given up, so serving it is wasted work. Errors caused by the context
// also match [context.Canceled] or [context.DeadlineExceeded] under
// [errors.Is]. [CheckQueueWait] applies the same drop rule to a request that
// waited in some other queue (a worker pool, a listener backlog).
//
// The Admitter starts no goroutines. Admit blocks only the calling goroutine,
// and only while it waits in the queue.
package shed
