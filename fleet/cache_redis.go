package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// cacheL2State is what an L2 read found.
type cacheL2State int

const (
	cacheL2Absent      cacheL2State = iota // no value
	cacheL2Found                           // a good value
	cacheL2Bad                             // a corrupt or too large value: a load replaces it
	cacheL2Unavailable                     // Redis failed, or is skipped after a failure
)

// fetchL2 reads key's value and remaining TTL from Redis, bounded by the Fleet's OpTimeout.
func (c *Cache) fetchL2(key string) ([]byte, time.Duration, cacheL2State) {
	if !c.backoff.open() {
		return nil, 0, cacheL2Unavailable
	}
	ctx, cancel := c.f.Context()
	defer cancel()
	k := c.l2Key(key)
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := c.f.Client().Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, k)
		pttl = p.PTTL(ctx, k)
		return nil
	})
	c.backoff.report(err)
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, cacheL2Unavailable
	}
	raw, err := get.Bytes()
	if err != nil {
		return nil, 0, cacheL2Absent
	}
	if len(raw) > c.maxValue+cacheHeaderLen {
		c.n.tooLarge.Add(1)
		return nil, 0, cacheL2Bad
	}
	val, err := decodeCacheValue(raw)
	if err != nil {
		c.n.corrupt.Add(1)
		return nil, 0, cacheL2Bad
	}
	// PTTL is -1 for a key without a TTL (written by hand): serve it, but not from L1.
	ttl := pttl.Val()
	if c.jitter > 0 && ttl > 0 {
		ttl = max(cacheMinTTL, ttl-time.Duration(float64(ttl)*c.jitter*rand.Float64()))
	}
	return val, ttl, cacheL2Found
}

// share writes key's new value (enc, or a deletion when enc is nil) to L2 and publishes an
// invalidation of key, in one round trip.
func (c *Cache) share(ctx context.Context, key string, enc []byte, ttl time.Duration) error {
	if !c.backoff.open() {
		return fmt.Errorf("%w (it failed within the last %v)", ErrCacheLocalOnly, c.f.SyncInterval())
	}
	opCtx, cancel := cacheOpContext(c.f, ctx)
	defer cancel()
	k := c.l2Key(key)
	_, err := c.f.Client().Pipelined(opCtx, func(p redis.Pipeliner) error {
		if enc != nil {
			p.Set(opCtx, k, enc, ttl)
		} else {
			p.Del(opCtx, k)
		}
		p.Publish(opCtx, c.channel, key)
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrCacheLocalOnly, ctx.Err()) // the caller left; Redis may be fine
	}
	c.backoff.report(err)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCacheLocalOnly, err)
	}
	c.n.invalSent.Add(1)
	return nil
}

// writeLoop writes loaded values to L2 until done is closed; values still queued then are
// dropped (they are in L1).
func (c *Cache) writeLoop(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case w := <-c.writes:
			c.writeL2(w)
		}
	}
}

func (c *Cache) writeL2(w cacheWrite) {
	if c.gen(w.key) != w.gen {
		return // invalidated since it was loaded: it may be stale
	}
	if !c.backoff.open() {
		c.n.l2Dropped.Add(1)
		return
	}
	ctx, cancel := c.f.Context()
	defer cancel()
	enc := encodeCacheValue(w.val)
	var err error
	if w.overwrite {
		err = c.f.Client().Set(ctx, c.l2Key(w.key), enc, w.ttl).Err()
	} else {
		err = c.f.Client().SetNX(ctx, c.l2Key(w.key), enc, w.ttl).Err()
	}
	c.backoff.report(err)
	if err != nil {
		c.n.l2Dropped.Add(1)
	}
}

// subscribeLoop receives invalidations until done is closed. The PubSub reconnects and
// resubscribes by itself after an error; each (re)subscription drops all of L1, since
// invalidations may have been missed while the subscriber was away. When idle for
// cacheIdlePing it pings, so a dead connection is noticed. After an error it waits one
// SyncInterval (Fleet clock) before trying again.
func (c *Cache) subscribeLoop(done <-chan struct{}) {
	ctx := context.Background() // the read is bounded by its timeout; Close unblocks it
	if err := c.ps.Subscribe(ctx, c.channel); err != nil {
		c.subscriberLost(err, done)
	}
	for !cacheDone(done) {
		msg, err := c.ps.ReceiveTimeout(ctx, cacheIdlePing)
		if err != nil {
			if cacheDone(done) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.subscribed.Load() {
				if err := c.ps.Ping(ctx); err != nil {
					c.subscriberLost(err, done)
				}
				continue
			}
			c.subscriberLost(err, done)
			continue
		}
		switch m := msg.(type) {
		case *redis.Message:
			c.n.invalReceived.Add(1)
			c.drop(m.Payload)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.dropAll()
				c.n.resubscriptions.Add(1)
				c.subscribed.Store(true)
				c.backoff.reset()
				c.f.Report(nil)
			}
		case *redis.Pong:
			c.f.Report(nil)
		}
	}
}

func (c *Cache) subscriberLost(err error, done <-chan struct{}) {
	c.subscribed.Store(false)
	if cacheDone(done) {
		return
	}
	c.f.Report(err)
	t := c.f.Clock().NewTimer(c.f.SyncInterval())
	defer t.Stop()
	select {
	case <-done:
	case <-t.C():
	}
}

func cacheDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}
