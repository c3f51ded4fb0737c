package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Errors a Cache returns; callers branch on them with errors.Is.
var (
	// ErrCacheLocalOnly: Set or Invalidate changed this instance's L1 but could not reach
	// Redis, so L2 and the other instances were not told. Their L1 TTLs bound how long they
	// may serve the value this call replaced. Retry to share the change.
	ErrCacheLocalOnly = errors.New("fleet: cache change applied to this instance's L1 only; redis is unavailable")
	// ErrCacheTooLarge: the value is over the cache's maximum value size (WithCacheMaxValue)
	// and was not stored.
	ErrCacheTooLarge = errors.New("fleet: cache value too large; not stored")
	// ErrCacheTTL: Set was given a TTL ≤ 0.
	ErrCacheTTL = errors.New("fleet: cache ttl must be positive")
)

// Cache defaults, used when the matching option is not given.
const (
	DefaultCacheL1Bytes    = 64 << 20 // WithCacheL1Bytes
	DefaultCacheMaxValue   = 1 << 20  // WithCacheMaxValue
	DefaultCacheJitter     = 0.1      // WithCacheJitter: TTLs vary by ±10 %
	DefaultCacheWriteQueue = 1024     // WithCacheWriteQueue
)

const (
	cacheStripes     = 256 // invalidation generations, by key hash
	cacheEntryCost   = 64  // bytes an L1 entry costs beyond its key and value
	cacheKeyMaxLen   = 200 // longer keys are hashed in Redis
	cacheMaxValueCap = 512<<20 - cacheHeaderLen
	cacheIdlePing    = time.Second // the subscriber pings Redis after this long without a message
	cacheMinTTL      = time.Millisecond
)

// Cache is a two-level cache shared by the fleet's instances (SEEDS.md B14): L1 in this
// process (github.com/maypok86/otter/v2, bounded in bytes), L2 in Redis, shared by every
// instance. Values are byte slices with a TTL.
//
//   - Get looks in L1, then L2, then calls its load function; concurrent Gets of one key
//     that miss share one L2 read and one load (golang.org/x/sync/singleflight). A loaded
//     value is stored in L1 at once and in L2 by a background writer (asynchronously, so a
//     Get never waits for the L2 write); a load error is returned and not cached; a load
//     that returns a TTL ≤ 0 has its value returned and not cached.
//   - Set and Invalidate write L1, then L2 and PUBLISH the key on the cache's channel
//     (Fleet.Key("cache", name, "inval")). Every instance's subscriber, the writer's own
//     included, drops its L1 entry for the key, so the next read comes from L2. Anyone may
//     publish a key on that channel (redis-cli PUBLISH) to drop it from every L1.
//   - TTLs get a random jitter (±10 % by default) so that entries written together do not
//     expire together. An entry read from L2 lives in L1 for at most L2's remaining TTL.
//
// Consistency: after a Set or Invalidate through one instance returns nil, other instances
// stop serving the old value once the invalidation reaches them (about a Redis round trip;
// the fleet's test measures p99 ≤ 100 ms). A read that races an invalidation never puts a
// value older than the invalidation in L1 (per-stripe generations). A loaded value is
// written to L2 only if L2 has no value (SET NX), so a slow load never overwrites a newer
// Set; it is not published, since a load happens only when L2 had nothing to invalidate.
// Whenever the subscriber (re)subscribes, the whole L1 is dropped, since invalidations may
// have been missed meanwhile.
//
// Redis is never required. While Redis is down or failing, Get and Peek use L1 alone (an L2
// read is bounded by the Fleet's OpTimeout, and after a failure Redis is skipped for one
// SyncInterval), loaded values stay in L1 only, and Set and Invalidate update L1 and return
// ErrCacheLocalOnly. L1 TTLs bound how stale another instance may then be.
//
// Values over the maximum size (1 MiB by default) are never stored: a loaded one is
// returned and counted, Set returns ErrCacheTooLarge (and drops the key from this L1); one
// found in L2 is skipped as a miss and counted. A value in L2 that fails its header or
// checksum (see cache_codec.go) is skipped as a miss, counted as corrupt, never served, and
// overwritten by the next load.
//
// Slices are shared: the slice Get and Peek return is the cached one, and Set keeps the
// slice it is given. Callers must not modify either.
//
// Background work (the subscriber and the L2 writer) runs through Fleet.Go and ends with
// Fleet.Close; Close also stops otter's clean-up goroutine. A miss's L2 read and load run on
// a goroutine of singleflight's DoChan, so that each waiting caller can leave when its ctx
// ends; that goroutine ends when the load returns. Keys in Redis are
// Fleet.Key("cache", name, "k:"+key), or "h:"+hex(sha256(key)) for keys over 200 bytes.
type Cache struct {
	f          *Fleet
	keyPrefix  string // Fleet.Key("cache", name) + ":"
	channel    string
	l1         *otter.Cache[string, cacheEntry]
	maxValue   int
	jitter     float64
	ps         *redis.PubSub
	writes     chan cacheWrite
	loads      singleflight.Group
	peeks      singleflight.Group
	seed       maphash.Seed
	gens       [cacheStripes]atomic.Uint64
	backoff    cacheBackoff
	subscribed atomic.Bool
	waiting    atomic.Int64 // Gets waiting in a flight; tests use it to line up a stampede
	n          cacheCounters
}

// cacheEntry is an L1 value: the payload and the TTL it was stored with.
type cacheEntry struct {
	val []byte
	ttl time.Duration
}

// cacheWrite is a loaded value on its way to L2.
type cacheWrite struct {
	key       string
	val       []byte
	ttl       time.Duration
	gen       uint64
	overwrite bool // L2 held a bad value: replace it (otherwise SET NX)
}

// cacheResult is what a flight hands its callers.
type cacheResult struct {
	val    []byte
	fromL2 bool
}

type cacheCounters struct {
	_      [64]byte
	hitsL1 atomic.Uint64 // the hot counter, on a cache line of its own
	_      [56]byte
	hitsL2, misses, loads, sharedLoads, loadErrors, sets, invalSent, invalReceived,
	tooLarge, corrupt, l2Dropped, resubscriptions atomic.Uint64
}

// CacheStats is a snapshot of a Cache's counters, for metrics. Counts are since NewCache;
// a Get or Peek whose ctx ends before it has an answer is not counted.
type CacheStats struct {
	HitsL1                uint64 // Get/Peek calls answered from L1
	HitsL2                uint64 // Get/Peek calls answered from L2
	Misses                uint64 // Get/Peek calls that found the key in neither level
	Loads                 uint64 // calls of a load function
	SharedLoads           uint64 // Get calls answered (or failed) by a load another Get ran
	LoadErrors            uint64 // loads that returned an error
	Sets                  uint64 // Set calls that stored a value
	InvalidationsSent     uint64 // Set and Invalidate calls that reached Redis and published
	InvalidationsReceived uint64 // invalidations the subscriber received (own ones included)
	SkippedTooLarge       uint64 // values over the maximum size, not stored or not served
	SkippedCorrupt        uint64 // L2 values that failed to decode or check, not served
	L2WritesDropped       uint64 // loaded values not written to L2 (queue full, Redis down)
	Resubscriptions       uint64 // (re)subscriptions, each of which dropped all of L1
	Subscribed            bool   // the subscriber is subscribed now
	L1Entries             int    // entries in L1 (an estimate: expired ones may count)
	L1Bytes               uint64 // the weight of L1's entries, in bytes
}

// CacheOption configures NewCache.
type CacheOption func(*cacheOptions)

type cacheOptions struct {
	l1Bytes    int64
	maxValue   int
	jitter     float64
	writeQueue int
}

// WithCacheL1Bytes bounds L1 to about n bytes of keys and values (plus 64 bytes per entry).
// It must be ≥ 1. Default DefaultCacheL1Bytes (64 MiB).
func WithCacheL1Bytes(n int64) CacheOption { return func(o *cacheOptions) { o.l1Bytes = n } }

// WithCacheMaxValue sets the largest value, in bytes, the cache stores; larger ones are
// skipped and counted. It must be between 1 and 512 MiB − 10. Default DefaultCacheMaxValue
// (1 MiB).
func WithCacheMaxValue(n int) CacheOption { return func(o *cacheOptions) { o.maxValue = n } }

// WithCacheJitter sets the TTL jitter: each TTL is multiplied by a random factor in
// [1−frac, 1+frac]. It must be in [0, 1); 0 turns jitter off. Default DefaultCacheJitter.
func WithCacheJitter(frac float64) CacheOption { return func(o *cacheOptions) { o.jitter = frac } }

// WithCacheWriteQueue sets how many loaded values may wait for the background L2 writer;
// when the queue is full, a loaded value stays in L1 only (counted in L2WritesDropped). It
// must be ≥ 1. Default DefaultCacheWriteQueue.
func WithCacheWriteQueue(n int) CacheOption { return func(o *cacheOptions) { o.writeQueue = n } }

// NewCache returns the cache called name on f and starts its invalidation subscriber and L2
// writer through f.Go. It does not contact Redis. name must be non-empty, without ':',
// braces or white space; instances that use the same name share L2 and invalidations.
func NewCache(f *Fleet, name string, opts ...CacheOption) (*Cache, error) {
	if f == nil {
		return nil, errors.New("fleet: NewCache: nil Fleet")
	}
	if err := checkComponentName(name); err != nil {
		return nil, fmt.Errorf("fleet: NewCache: %w", err)
	}
	o := cacheOptions{l1Bytes: DefaultCacheL1Bytes, maxValue: DefaultCacheMaxValue,
		jitter: DefaultCacheJitter, writeQueue: DefaultCacheWriteQueue}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.l1Bytes < 1:
		return nil, fmt.Errorf("fleet: WithCacheL1Bytes: must be ≥ 1, got %d", o.l1Bytes)
	case o.maxValue < 1 || o.maxValue > cacheMaxValueCap:
		return nil, fmt.Errorf("fleet: WithCacheMaxValue: must be in [1, %d], got %d", cacheMaxValueCap, o.maxValue)
	case !(o.jitter >= 0 && o.jitter < 1):
		return nil, fmt.Errorf("fleet: WithCacheJitter: must be in [0, 1), got %v", o.jitter)
	case o.writeQueue < 1:
		return nil, fmt.Errorf("fleet: WithCacheWriteQueue: must be ≥ 1, got %d", o.writeQueue)
	}
	l1, err := otter.New(&otter.Options[string, cacheEntry]{
		MaximumWeight: uint64(o.l1Bytes),
		Weigher: func(key string, e cacheEntry) uint32 {
			return uint32(min(len(key)+len(e.val)+cacheEntryCost, 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, cacheEntry]) time.Duration {
			return e.Value.ttl
		}),
		Clock: otterClock(f),
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: NewCache: %w", err)
	}
	c := &Cache{f: f, keyPrefix: f.Key("cache", name) + ":", channel: f.Key("cache", name, "inval"),
		l1: l1, maxValue: o.maxValue, jitter: o.jitter, writes: make(chan cacheWrite, o.writeQueue),
		seed: maphash.MakeSeed(), backoff: cacheBackoff{f: f}}
	if !f.Local() {
		c.ps = f.Client().Subscribe(context.Background()) // no channels yet: does not contact Redis
		f.Go(c.subscribeLoop)
	}
	f.Go(c.writeLoop)
	f.Go(func(done <-chan struct{}) {
		<-done
		if c.ps != nil {
			_ = c.ps.Close() // unblocks the subscriber's read
		}
		c.l1.StopAllGoroutines()
	})
	return c, nil
}

// Get returns the value of key: from L1, else from L2, else from load, whose value (with
// its TTL) is then cached. Concurrent Gets of a missing key share one L2 read and one load;
// load gets a context with the values of the Get that started it but not its cancellation,
// so one caller giving up does not fail the others (load should bound itself). Each caller
// waits until the value is there or its own ctx ends (then it returns ctx.Err()). A load
// error is returned to every caller sharing the load and is not cached.
//
// An L1 hit does not allocate. The returned slice is shared: do not modify it.
func (c *Cache) Get(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration, error)) ([]byte, error) {
	if e, ok := c.l1.GetIfPresent(key); ok {
		c.n.hitsL1.Add(1)
		return e.val, nil
	}
	return c.getMiss(ctx, key, load)
}

func (c *Cache) getMiss(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration, error)) ([]byte, error) {
	if load == nil {
		return nil, errors.New("fleet: Cache.Get: load is nil")
	}
	leader := false // written by the flight's function, which only the leader's call runs
	ch := c.loads.DoChan(key, func() (any, error) {
		leader = true
		return c.fetchOrLoad(context.WithoutCancel(ctx), key, load)
	})
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	select {
	case r := <-ch:
		res, _ := r.Val.(*cacheResult)
		if r.Err == nil && res.fromL2 {
			c.n.hitsL2.Add(1)
			return res.val, nil
		}
		c.n.misses.Add(1)
		if !leader {
			c.n.sharedLoads.Add(1)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		return res.val, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchOrLoad is a Get flight: L2, then load.
func (c *Cache) fetchOrLoad(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration, error)) (any, error) {
	gen := c.gen(key)
	val, ttl, state := c.fetchL2(key)
	if state == cacheL2Found {
		c.fillL1(key, val, ttl, gen)
		return &cacheResult{val: val, fromL2: true}, nil
	}
	c.n.loads.Add(1)
	val, ttl, err := load(ctx)
	if err != nil {
		c.n.loadErrors.Add(1)
		return nil, err
	}
	c.storeLoaded(key, val, ttl, gen, state == cacheL2Bad)
	return &cacheResult{val: val}, nil
}

// storeLoaded puts a loaded value in L1 and queues it for L2, unless it may be stale (an
// invalidation of its stripe arrived during the load), too large, or not to be cached.
func (c *Cache) storeLoaded(key string, val []byte, ttl time.Duration, gen uint64, overwrite bool) {
	if ttl <= 0 {
		return
	}
	if len(val) > c.maxValue {
		c.n.tooLarge.Add(1)
		return
	}
	if c.gen(key) != gen {
		return
	}
	ttl = c.jittered(ttl)
	c.fillL1(key, val, ttl, gen)
	select {
	case c.writes <- cacheWrite{key: key, val: val, ttl: ttl, gen: gen, overwrite: overwrite}:
	default:
		c.n.l2Dropped.Add(1)
	}
}

// Peek returns the value of key from L1, else from L2 (then kept in L1), without loading.
// Concurrent Peeks of a key missing from L1 share one L2 read. ok is false when neither
// level has the key, when Redis is unavailable and L1 does not have it, or when ctx ends
// first. An L1 hit does not allocate. The returned slice is shared: do not modify it.
func (c *Cache) Peek(ctx context.Context, key string) (value []byte, ok bool) {
	if e, ok := c.l1.GetIfPresent(key); ok {
		c.n.hitsL1.Add(1)
		return e.val, true
	}
	return c.peekMiss(ctx, key)
}

func (c *Cache) peekMiss(ctx context.Context, key string) ([]byte, bool) {
	ch := c.peeks.DoChan(key, func() (any, error) {
		gen := c.gen(key)
		val, ttl, state := c.fetchL2(key)
		if state != cacheL2Found {
			return nil, nil
		}
		c.fillL1(key, val, ttl, gen)
		return &cacheResult{val: val, fromL2: true}, nil
	})
	select {
	case r := <-ch:
		if res, ok := r.Val.(*cacheResult); ok {
			c.n.hitsL2.Add(1)
			return res.val, true
		}
		c.n.misses.Add(1)
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

// Set stores value under key for ttl (with jitter) in L1 and L2 and publishes an
// invalidation of key, so every instance drops its L1 copy. It keeps value: do not modify
// it afterwards. It waits for Redis for at most the Fleet's OpTimeout (or until ctx ends).
//
// A ttl ≤ 0 is ErrCacheTTL and changes nothing. A value over the maximum size is not stored:
// the key is dropped from this instance's L1 and Set returns ErrCacheTooLarge (call
// Invalidate to drop an older value everywhere). When Redis cannot be reached, the value is
// in this instance's L1 only and Set returns ErrCacheLocalOnly.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: Set(%q) got %v", ErrCacheTTL, key, ttl)
	}
	if len(value) > c.maxValue {
		c.n.tooLarge.Add(1)
		c.drop(key)
		return fmt.Errorf("%w: Set(%q): %d bytes > %d", ErrCacheTooLarge, key, len(value), c.maxValue)
	}
	c.n.sets.Add(1)
	ttl = c.jittered(ttl)
	c.bump(key)
	c.l1.Set(key, cacheEntry{val: value, ttl: ttl})
	return c.share(ctx, key, encodeCacheValue(value), ttl)
}

// Invalidate drops key from this instance's L1 and from L2, and publishes an invalidation
// of key, so every instance drops its L1 copy. It waits for Redis for at most the Fleet's
// OpTimeout (or until ctx ends). When Redis cannot be reached, only this instance's L1
// changed and Invalidate returns ErrCacheLocalOnly.
func (c *Cache) Invalidate(ctx context.Context, key string) error {
	c.drop(key)
	return c.share(ctx, key, nil, 0)
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{
		HitsL1: c.n.hitsL1.Load(), HitsL2: c.n.hitsL2.Load(), Misses: c.n.misses.Load(),
		Loads: c.n.loads.Load(), SharedLoads: c.n.sharedLoads.Load(), LoadErrors: c.n.loadErrors.Load(),
		Sets: c.n.sets.Load(), InvalidationsSent: c.n.invalSent.Load(),
		InvalidationsReceived: c.n.invalReceived.Load(), SkippedTooLarge: c.n.tooLarge.Load(),
		SkippedCorrupt: c.n.corrupt.Load(), L2WritesDropped: c.n.l2Dropped.Load(),
		Resubscriptions: c.n.resubscriptions.Load(), Subscribed: c.subscribed.Load(),
		L1Entries: c.l1.EstimatedSize(), L1Bytes: c.l1.WeightedSize(),
	}
}

// fillL1 puts a value read from L2 or loaded in L1, unless an invalidation of its stripe
// arrived since gen was read: then the value may predate it. The check after the write
// closes the race with an invalidation that lands between the first check and the write.
func (c *Cache) fillL1(key string, val []byte, ttl time.Duration, gen uint64) {
	if ttl <= 0 || c.gen(key) != gen {
		return
	}
	c.l1.Set(key, cacheEntry{val: val, ttl: ttl})
	if c.gen(key) != gen {
		c.l1.Invalidate(key)
	}
}

// drop removes key from L1 and makes reads of its stripe that are under way not fill L1.
func (c *Cache) drop(key string) {
	c.bump(key)
	c.l1.Invalidate(key)
}

// dropAll empties L1 and makes every read under way not fill it.
func (c *Cache) dropAll() {
	for i := range c.gens {
		c.gens[i].Add(1)
	}
	c.l1.InvalidateAll()
}

func (c *Cache) stripe(key string) *atomic.Uint64 {
	return &c.gens[maphash.String(c.seed, key)%cacheStripes]
}

func (c *Cache) gen(key string) uint64 { return c.stripe(key).Load() }
func (c *Cache) bump(key string)       { c.stripe(key).Add(1) }

// jittered returns ttl times a random factor in [1−jitter, 1+jitter], at least 1 ms.
func (c *Cache) jittered(ttl time.Duration) time.Duration {
	if c.jitter > 0 {
		ttl = time.Duration(float64(ttl) * (1 + c.jitter*(2*rand.Float64()-1)))
	}
	return max(ttl, cacheMinTTL)
}

// l2Key is key's Redis key; long keys are hashed so that Redis keys stay short.
func (c *Cache) l2Key(key string) string {
	if len(key) > cacheKeyMaxLen {
		sum := sha256.Sum256([]byte(key))
		return c.keyPrefix + "h:" + hex.EncodeToString(sum[:])
	}
	return c.keyPrefix + "k:" + key
}

// otterClock returns the clock for an otter cache of f: nil (otter's own, the fastest) when
// f uses the real clock, else an adapter, so that tests drive L1 expiry with a fake clock.
// The adapter does not tick: otter then does without periodic clean-ups, and expired
// entries are still never returned.
func otterClock(f *Fleet) otter.Clock {
	if _, real := f.Clock().(clock.Real); real {
		return nil
	}
	return otterFleetClock{f.Clock()}
}

type otterFleetClock struct{ c clock.Clock }

func (o otterFleetClock) NowNano() int64                      { return o.c.Now().UnixNano() }
func (o otterFleetClock) Tick(time.Duration) <-chan time.Time { return nil }
