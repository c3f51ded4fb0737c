package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// DRCache defaults, used when the matching option is not given.
const (
	DefaultDRCandidates = 4        // WithDRCandidates
	DefaultDRDecayAt    = 32       // WithDRDecayAt
	DefaultDRQueue      = 1024     // WithDRQueue
	DefaultDRLocalBytes = 16 << 20 // WithDRLocalBytes
	DefaultDRMaxValue   = 1 << 20  // WithDRMaxValue
)

// DRCache is the disaster-recovery cache (SEEDS.md B11a): the answers a route gave, stored
// under the generalized signature of their requests (a KeySpec key) and shared by the
// fleet's instances through Redis, so that when every upstream has failed an instance can
// still answer with what the fleet saw. Within one signature the most frequent recent
// answer wins, by the weighted vote described in drcache_vote.go: at most K candidates
// (default 4) with small counts that are halved whenever they sum past DecayAt (default 32),
// winner = highest count, ties to the smallest candidate id.
//
// Record never blocks: it queues the answer for a background writer (started through
// Fleet.Go, ended by Fleet.Close; answers still queued then are dropped). A full queue drops
// the answer and counts it. The writer records each answer in this instance's in-process
// copy and, with one atomic Lua script, in Redis; every Redis key gets the DR cache's TTL,
// refreshed by each record.
//
// Lookup asks Redis first (bounded by the Fleet's OpTimeout and ctx; after a Redis failure
// Redis is skipped for one SyncInterval). When Redis is down, or has nothing for the
// signature (it may have restarted empty), Lookup answers from the in-process copy, which
// holds, per signature, the fleet's winner as Redis last reported it to this instance (on a
// Lookup or a Record), else the winner of this instance's own records. That copy is bounded
// in bytes (default 16 MiB, least valuable entries evicted) and its entries expire after the
// TTL since their last update. So the DR cache keeps answering, from what this instance
// recorded or looked up, while Redis is down.
//
// Values are byte slices; Record copies its value, and the slice Lookup returns is shared:
// do not modify it. Values over the maximum size (default 1 MiB) are not recorded (counted);
// a value in Redis that fails its header or checksum is skipped and counted, never served.
type DRCache struct {
	f          *Fleet
	name       string
	ttl        time.Duration
	candidates int
	decayAt    int64
	maxValue   int
	queue      chan drRecord
	local      *otter.Cache[string, *drLocal]
	backoff    cacheBackoff
	n          drCounters
}

type drRecord struct {
	sig string
	val []byte
}

// drLocal is the in-process copy for one signature; it is replaced, never modified.
type drLocal struct {
	fleetID  string // the winner Redis reported last; "" when none yet
	fleetVal []byte
	votes    drVotes // this instance's own records
}

// answer is what the local copy says for its signature.
func (l *drLocal) answer() ([]byte, bool) {
	if l.fleetID != "" {
		return l.fleetVal, true
	}
	if w, ok := l.votes.winner(); ok {
		return w.val, true
	}
	return nil, false
}

type drCounters struct {
	records, dropped, tooLarge, corrupt, shared, localOnly, lookups, hits, misses, localHits atomic.Uint64
}

// DRStats is a snapshot of a DRCache's counters, for metrics. Counts are since NewDRCache.
type DRStats struct {
	Records         uint64 // Record calls queued for the writer
	Dropped         uint64 // Record calls dropped because the queue was full
	SkippedTooLarge uint64 // values over the maximum size: not recorded, or not served
	SkippedCorrupt  uint64 // values from Redis that failed to decode or check
	Shared          uint64 // records written to Redis (and the local copy)
	LocalOnly       uint64 // records written to the local copy only (Redis unavailable)
	Lookups         uint64 // Lookup calls
	Hits            uint64 // Lookups that returned an answer
	Misses          uint64 // Lookups that returned none
	LocalHits       uint64 // Hits answered by the in-process copy
}

// HitRatio is Hits/Lookups, or 0 before the first Lookup.
func (s DRStats) HitRatio() float64 {
	if s.Lookups == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Lookups)
}

// DROption configures NewDRCache.
type DROption func(*drOptions)

type drOptions struct {
	candidates int
	decayAt    int64
	queue      int
	localBytes int64
	maxValue   int
}

// WithDRCandidates sets K, the most candidate answers kept per signature; it must be in
// [1, 64]. Default DefaultDRCandidates.
func WithDRCandidates(k int) DROption { return func(o *drOptions) { o.candidates = k } }

// WithDRDecayAt sets the sum of counts past which a signature's counts are halved; it must
// be ≥ 2. Smaller values make the vote follow newer answers sooner. Default
// DefaultDRDecayAt.
func WithDRDecayAt(n int64) DROption { return func(o *drOptions) { o.decayAt = n } }

// WithDRQueue sets how many records may wait for the writer; it must be ≥ 1. Default
// DefaultDRQueue.
func WithDRQueue(n int) DROption { return func(o *drOptions) { o.queue = n } }

// WithDRLocalBytes bounds the in-process copy to about n bytes; it must be ≥ 1. Default
// DefaultDRLocalBytes.
func WithDRLocalBytes(n int64) DROption { return func(o *drOptions) { o.localBytes = n } }

// WithDRMaxValue sets the largest answer, in bytes, that is recorded; it must be in
// [1, 512 MiB − 10]. Default DefaultDRMaxValue.
func WithDRMaxValue(n int) DROption { return func(o *drOptions) { o.maxValue = n } }

// NewDRCache returns the DR cache called name on f, whose entries live for ttl (config's
// dr_cache.ttl, e.g. 72h), and starts its writer through f.Go. It does not contact Redis.
// name must be non-empty, without ':', braces or white space; instances that use the same
// name share answers and votes.
func NewDRCache(f *Fleet, name string, ttl time.Duration, opts ...DROption) (*DRCache, error) {
	if f == nil {
		return nil, errors.New("fleet: NewDRCache: nil Fleet")
	}
	if err := checkComponentName(name); err != nil {
		return nil, fmt.Errorf("fleet: NewDRCache: %w", err)
	}
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("fleet: NewDRCache: ttl must be ≥ 1ms, got %v", ttl)
	}
	o := drOptions{candidates: DefaultDRCandidates, decayAt: DefaultDRDecayAt, queue: DefaultDRQueue,
		localBytes: DefaultDRLocalBytes, maxValue: DefaultDRMaxValue}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.candidates < 1 || o.candidates > 64:
		return nil, fmt.Errorf("fleet: WithDRCandidates: must be in [1, 64], got %d", o.candidates)
	case o.decayAt < 2:
		return nil, fmt.Errorf("fleet: WithDRDecayAt: must be ≥ 2, got %d", o.decayAt)
	case o.queue < 1:
		return nil, fmt.Errorf("fleet: WithDRQueue: must be ≥ 1, got %d", o.queue)
	case o.localBytes < 1:
		return nil, fmt.Errorf("fleet: WithDRLocalBytes: must be ≥ 1, got %d", o.localBytes)
	case o.maxValue < 1 || o.maxValue > cacheMaxValueCap:
		return nil, fmt.Errorf("fleet: WithDRMaxValue: must be in [1, %d], got %d", cacheMaxValueCap, o.maxValue)
	}
	local, err := otter.New(&otter.Options[string, *drLocal]{
		MaximumWeight:    uint64(o.localBytes),
		Weigher:          drLocalWeight,
		ExpiryCalculator: otter.ExpiryWriting[string, *drLocal](ttl),
		Clock:            otterClock(f),
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: NewDRCache: %w", err)
	}
	d := &DRCache{f: f, name: name, ttl: ttl, candidates: o.candidates, decayAt: o.decayAt,
		maxValue: o.maxValue, queue: make(chan drRecord, o.queue), local: local, backoff: cacheBackoff{f: f}}
	f.Go(d.writeLoop)
	return d, nil
}

func drLocalWeight(sig string, l *drLocal) uint32 {
	w := len(sig) + len(l.fleetVal) + cacheEntryCost
	for _, c := range l.votes {
		w += len(c.val) + cacheEntryCost
	}
	return uint32(min(w, 1<<31))
}

// Record queues value as an answer for sig (a KeySpec key). It never blocks: when the
// queue is full the answer is dropped and counted. It copies value.
func (d *DRCache) Record(sig string, value []byte) {
	if len(value) > d.maxValue {
		d.n.tooLarge.Add(1)
		return
	}
	if len(d.queue) == cap(d.queue) { // full: do not copy for nothing
		d.n.dropped.Add(1)
		return
	}
	select {
	case d.queue <- drRecord{sig: sig, val: bytes.Clone(value)}:
		d.n.records.Add(1)
	default:
		d.n.dropped.Add(1)
	}
}

// Lookup returns the winning answer for sig: from Redis, else (Redis down, or without the
// signature) from the in-process copy. ok is false when neither has one. The returned
// slice is shared: do not modify it.
func (d *DRCache) Lookup(ctx context.Context, sig string) (value []byte, ok bool) {
	d.n.lookups.Add(1)
	if d.backoff.open() && ctx.Err() == nil {
		opCtx, cancel := cacheOpContext(d.f, ctx)
		counts, values := d.keys(sig)
		res, err := drLookupScript.Run(opCtx, d.f.Client(), []string{counts, values}).Slice()
		cancel()
		if err == nil || ctx.Err() == nil { // a caller that left says nothing about Redis
			d.backoff.report(err)
		}
		if err == nil {
			if id, val, ok := d.parseWinner(res); ok {
				d.learn(sig, id, val)
				d.n.hits.Add(1)
				return val, true
			}
		}
	}
	if l, ok := d.local.GetIfPresent(sig); ok {
		if val, ok := l.answer(); ok {
			d.n.hits.Add(1)
			d.n.localHits.Add(1)
			return val, true
		}
	}
	d.n.misses.Add(1)
	return nil, false
}

// Stats returns the DR cache's counters.
func (d *DRCache) Stats() DRStats {
	return DRStats{
		Records: d.n.records.Load(), Dropped: d.n.dropped.Load(), SkippedTooLarge: d.n.tooLarge.Load(),
		SkippedCorrupt: d.n.corrupt.Load(), Shared: d.n.shared.Load(), LocalOnly: d.n.localOnly.Load(),
		Lookups: d.n.lookups.Load(), Hits: d.n.hits.Load(), Misses: d.n.misses.Load(),
		LocalHits: d.n.localHits.Load(),
	}
}

// writeLoop writes queued records until done is closed.
func (d *DRCache) writeLoop(done <-chan struct{}) {
	for {
		select {
		case <-done:
			d.local.StopAllGoroutines()
			return
		case r := <-d.queue:
			d.write(r)
		}
	}
}

// write records one answer locally, then in Redis.
func (d *DRCache) write(r drRecord) {
	id := drCandidateID(r.val)
	d.local.Compute(r.sig, func(old *drLocal, found bool) (*drLocal, otter.ComputeOp) {
		l := &drLocal{}
		if found {
			*l = *old
		}
		l.votes = l.votes.record(id, r.val, d.candidates, d.decayAt)
		return l, otter.WriteOp
	})
	if !d.backoff.open() {
		d.n.localOnly.Add(1)
		return
	}
	winID, winVal, err := d.recordShared(r.sig, id, r.val)
	if err != nil {
		d.n.localOnly.Add(1)
		return
	}
	d.n.shared.Add(1)
	if winID != "" {
		d.learn(r.sig, winID, winVal)
	}
}

// recordShared runs the record script; it returns the fleet's winner for sig ("" when its
// value could not be read).
func (d *DRCache) recordShared(sig, id string, val []byte) (winID string, winVal []byte, err error) {
	ctx, cancel := d.f.Context()
	defer cancel()
	counts, values := d.keys(sig)
	res, err := drRecordScript.Run(ctx, d.f.Client(), []string{counts, values},
		id, encodeCacheValue(val), d.candidates, d.decayAt, strconv.FormatInt(d.ttl.Milliseconds(), 10)).Slice()
	d.backoff.report(err)
	if err != nil {
		return "", nil, err
	}
	if len(res) == 1 && res[0] == id {
		return id, val, nil
	}
	winID, winVal, _ = d.parseWinner(res)
	return winID, winVal, nil
}

// parseWinner reads a script's {id, encoded value} reply.
func (d *DRCache) parseWinner(res []any) (string, []byte, bool) {
	if len(res) != 2 {
		return "", nil, false
	}
	id, ok1 := res[0].(string)
	enc, ok2 := res[1].(string)
	if !ok1 || !ok2 || id == "" {
		return "", nil, false
	}
	if len(enc) > d.maxValue+cacheHeaderLen {
		d.n.tooLarge.Add(1)
		return "", nil, false
	}
	val, err := decodeCacheValue([]byte(enc))
	if err != nil {
		d.n.corrupt.Add(1)
		return "", nil, false
	}
	return id, val, true
}

// learn keeps the fleet's winner for sig in the local copy.
func (d *DRCache) learn(sig, id string, val []byte) {
	d.local.Compute(sig, func(old *drLocal, found bool) (*drLocal, otter.ComputeOp) {
		if found && old.fleetID == id {
			return old, otter.CancelOp
		}
		l := &drLocal{fleetID: id, fleetVal: val}
		if found {
			l.votes = old.votes
		}
		return l, otter.WriteOp
	})
}

// keys returns sig's Redis keys: one hash tag, so the scripts touch one Cluster slot.
func (d *DRCache) keys(sig string) (counts, values string) {
	sum := sha256.Sum256([]byte(sig))
	tag := "{" + hex.EncodeToString(sum[:16]) + "}"
	return d.f.Key("dr", d.name, tag, "n"), d.f.Key("dr", d.name, tag, "v")
}
