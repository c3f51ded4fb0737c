package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiterSyncScript is one sync round of a Limiter; see the Limiter doc for the math.
//
//	KEYS: slots hash (field = slot number → C_s; field "lo" = lowest slot kept), instances hash
//	      (field = instance → "heartbeat_ms demand_per_s")
//	ARGV: instance, now_ms, k (current slot), n, limit, demand (< 0: not measured),
//	      slot width in seconds, dead_after_ms, ttl_ms, r, have_1..have_r (grant held for
//	      slots k..k+r-1), m, then m pairs (slot, delta)
//	reply: {total over slots k-n+1..k, live instances, share as text, grant_1..grant_r}
var limiterSyncScript = redis.NewScript(`
local slots, insts = KEYS[1], KEYS[2]
local me = ARGV[1]
local now = tonumber(ARGV[2])
local k = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
local demand = tonumber(ARGV[6])
local slotSec = tonumber(ARGV[7])
local dead = tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])
local r = tonumber(ARGV[10])
local at = 11
local have = {}
for i = 1, r do have[i] = tonumber(ARGV[at]); at = at + 1 end
local m = tonumber(ARGV[at]); at = at + 1

-- forget the slots that left every window
local keep = k - n + 1
local lo = tonumber(redis.call('HGET', slots, 'lo'))
if lo == nil then
  redis.call('HSET', slots, 'lo', keep)
elseif lo < keep then
  if keep - lo > 4 * n + 64 then
    for _, f in ipairs(redis.call('HKEYS', slots)) do
      local s = tonumber(f)
      if s ~= nil and f ~= 'lo' and s < keep then redis.call('HDEL', slots, f) end
    end
  else
    for s = lo, keep - 1 do redis.call('HDEL', slots, tostring(s)) end
  end
  redis.call('HSET', slots, 'lo', keep)
end

-- (a) this instance's counts: unused grants back, local-mode admissions in
for i = 1, m do
  local s, d = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  at = at + 2
  if s >= keep and d ~= 0 then
    local f = tostring(s)
    if redis.call('HINCRBY', slots, f, d) <= 0 then redis.call('HDEL', slots, f) end
  end
end

-- (c) heartbeat and demand; drop the instances that went silent
redis.call('HSET', insts, me, ARGV[2] .. ' ' .. ARGV[6])
local all = redis.call('HGETALL', insts)
local live, known, sum = 0, 0, 0
local ds = {}
for i = 1, #all, 2 do
  local hb, d = string.match(all[i + 1], '^(%S+) (%S+)$')
  hb, d = tonumber(hb), tonumber(d)
  if hb == nil or d == nil or now - hb > dead then
    redis.call('HDEL', insts, all[i])
  else
    live = live + 1
    ds[live] = d
    if d >= 0 then known = known + 1; sum = sum + d end
  end
end
-- an instance that has not measured its demand yet counts as the mean, or, when no one has,
-- as an equal part of the limit
local mean = limit / (n * slotSec * live)
if known > 0 then mean = sum / known end
local function weight(d)
  if d < 0 then d = mean end
  return d + math.max(mean, 0.001) / 50
end
local wsum = 0
for i = 1, live do wsum = wsum + weight(ds[i]) end
local share = weight(demand) / wsum
if demand < 0 then demand = mean end
local bound = math.ceil(2 * demand * slotSec) + 1

-- (b) the window around the requested slots, and the grants
local lo2, hi = k - n + 1, k + r + n - 2
local fields = {}
for j = lo2, hi do fields[#fields + 1] = tostring(j) end
local vals = redis.call('HMGET', slots, unpack(fields))
local C = {}
for i = 1, #fields do C[lo2 + i - 1] = tonumber(vals[i]) or 0 end
local out = {0, live, tostring(share)}
for i = 1, r do
  local s = k + i - 1
  local before = 0
  for j = s - n + 1, s - 1 do before = before + C[j] end
  local g = 0
  if limit - before > 0 then
    local extra = math.min(math.ceil((limit - before) * share), bound) - have[i]
    if extra > 0 then
      local win = before + C[s]
      local worst = win
      for e = s + 1, s + n - 1 do
        win = win + C[e] - C[e - n]
        if win > worst then worst = win end
      end
      g = math.min(extra, limit - worst)
      if g > 0 then
        redis.call('HINCRBY', slots, tostring(s), g)
        C[s] = C[s] + g
      else
        g = 0
      end
    end
  end
  out[3 + i] = g
end
local total = 0
for j = k - n + 1, k do total = total + C[j] end
out[1] = total
redis.call('PEXPIRE', slots, ttl)
redis.call('PEXPIRE', insts, ttl)
return out
`)

// limiterLeaveScript hands grants back and removes the heartbeat.
//
//	KEYS: as limiterSyncScript. ARGV: instance, k, n, m, then m pairs (slot, delta).
var limiterLeaveScript = redis.NewScript(`
local k, n, m = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 0, m - 1 do
  local s, d = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
  if s > k - n and d ~= 0 then
    local f = tostring(s)
    if redis.call('HINCRBY', KEYS[1], f, d) <= 0 then redis.call('HDEL', KEYS[1], f) end
  end
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// limiterReply is a decoded limiterSyncScript reply.
type limiterReply struct {
	total  int64
	live   int64
	share  float64
	grants []int64
}

// parseLimiterReply decodes a limiterSyncScript reply that should carry r grants.
func parseLimiterReply(v any, r int) (limiterReply, error) {
	vals, ok := v.([]any)
	if !ok || len(vals) != 3+r {
		return limiterReply{}, fmt.Errorf("fleet: limiter sync: reply %T of %d values, want %d", v, len(vals), 3+r)
	}
	var out limiterReply
	var ok1, ok2 bool
	out.total, ok1 = vals[0].(int64)
	out.live, ok2 = vals[1].(int64)
	text, ok3 := vals[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return limiterReply{}, fmt.Errorf("fleet: limiter sync: reply header %T %T %T", vals[0], vals[1], vals[2])
	}
	share, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(share) || share < 0 || share > 1 || out.live < 1 || out.total < 0 {
		return limiterReply{}, fmt.Errorf("fleet: limiter sync: bad reply total=%d live=%d share=%q", out.total, out.live, text)
	}
	out.share = share
	out.grants = make([]int64, r)
	for i := range r {
		g, ok := vals[3+i].(int64)
		if !ok || g < 0 {
			return limiterReply{}, fmt.Errorf("fleet: limiter sync: bad grant %v", vals[3+i])
		}
		out.grants[i] = g
	}
	return out, nil
}

// reportOutcome reports a Redis operation's outcome to the Fleet, except the cancellation
// that Fleet.Close causes, which says nothing about Redis; it reports whether that was it.
func reportOutcome(f *Fleet, err error) (closing bool) {
	if errors.Is(err, context.Canceled) {
		return true
	}
	f.Report(err)
	return false
}

// loop syncs every SyncInterval until Close or Fleet.Close.
func (l *Limiter) loop(done <-chan struct{}) {
	defer close(l.loopDone)
	t := l.clk.NewTicker(l.f.SyncInterval())
	defer t.Stop()
	for {
		select {
		case <-done:
			if l.localLimit.Load() < 0 {
				l.enterLocal() // the grants run out; keep deciding, from limit/N
			}
			return
		case <-l.stop:
			return
		case <-t.C():
			l.sync()
		}
	}
}

// limiterDelta is a change this instance makes to the count of one slot.
type limiterDelta struct {
	slot, delta int64
	local       bool // admissions made in local mode (else: an unused grant handed back)
}

// sync runs one round with Redis: see the Limiter doc.
func (l *Limiter) sync() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.closed.Load() {
		return
	}
	now := l.clk.Now()
	k := now.UnixNano() / l.width
	hz := now.Add(l.horizon).UnixNano() / l.width
	l.measureDemand(now)
	local := l.localLimit.Load() >= 0

	var deltas []limiterDelta
	haves := make([]int64, hz-k+1)
	l.mu.Lock()
	for i := range l.ring {
		e := &l.ring[i]
		if e.slot <= k-l.n || e.slot > hz {
			continue
		}
		if !local && e.slot < k && e.grant > e.used {
			deltas = append(deltas, limiterDelta{slot: e.slot, delta: e.used - e.grant})
		}
		if e.localUsed > 0 {
			deltas = append(deltas, limiterDelta{slot: e.slot, delta: e.localUsed, local: true})
		}
	}
	if !local {
		for s := k; s <= hz; s++ {
			if e := &l.ring[s&(limiterRing-1)]; e.slot == s {
				haves[s-k] = e.grant
			}
		}
	}
	l.mu.Unlock()

	args := make([]any, 0, 12+len(haves)+2*len(deltas))
	args = append(args, l.instance, now.UnixMilli(), k, l.n, l.limit,
		strconv.FormatFloat(l.demand, 'f', 3, 64),
		strconv.FormatFloat(time.Duration(l.width).Seconds(), 'g', -1, 64),
		l.deadMs, l.ttlMs, len(haves))
	for _, h := range haves {
		args = append(args, h)
	}
	args = append(args, len(deltas))
	for _, d := range deltas {
		args = append(args, d.slot, d.delta)
	}
	ctx, cancel := l.f.Context()
	v, err := limiterSyncScript.Run(ctx, l.f.Client(), l.keys, args...).Result()
	cancel()
	var rep limiterReply
	if err == nil {
		rep, err = parseLimiterReply(v, len(haves))
	}
	if closing := reportOutcome(l.f, err); err != nil {
		if !closing {
			l.syncErrs.Add(1)
		}
		if !local {
			l.enterLocal()
		}
		return
	}
	l.syncs.Add(1)

	l.mu.Lock()
	for _, d := range deltas {
		e := &l.ring[d.slot&(limiterRing-1)]
		if e.slot != d.slot {
			continue
		}
		if d.local { // now counted in the cluster: an admitted grant
			e.localUsed -= d.delta
			e.grant += d.delta
			e.used += d.delta
		} else {
			e.grant += d.delta
		}
	}
	for i, g := range rep.grants {
		if g > 0 {
			l.slotLocked(k + int64(i)).grant += g
		}
	}
	l.mu.Unlock()
	l.live.Store(rep.live)
	l.shareBits.Store(math.Float64bits(rep.share))
	l.total.Store(rep.total)
	if local {
		l.localLimit.Store(-1)
	}
}

// measureDemand updates the smoothed demand (requests offered per second) from the counters.
func (l *Limiter) measureDemand(now time.Time) {
	offered := l.admitted.Load() + l.limited.Load()
	elapsed := now.Sub(l.lastSync)
	if elapsed < l.f.SyncInterval()/2 {
		return // too short to measure (the first sync, right after NewLimiter)
	}
	rate := float64(offered-l.lastOffered) / elapsed.Seconds()
	if l.demand < 0 {
		l.demand = rate
	} else {
		l.demand = (l.demand + rate) / 2
	}
	l.lastOffered, l.lastSync = offered, now
}

// enterLocal switches to the local window of limit/N and drops the grants held.
func (l *Limiter) enterLocal() {
	limit := l.limit / max(l.live.Load(), 1)
	if limit < 1 && l.limit > 0 {
		limit = 1
	}
	l.mu.Lock()
	for i := range l.ring {
		l.ring[i].grant = l.ring[i].used
	}
	l.mu.Unlock()
	l.localLimit.Store(limit)
}

// leave hands back every grant not used and removes the heartbeat, then goes local.
func (l *Limiter) leave() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	k := l.clk.Now().UnixNano() / l.width
	if l.localLimit.Load() < 0 {
		args := []any{l.instance, k, l.n, 0}
		l.mu.Lock()
		for i := range l.ring {
			if e := &l.ring[i]; e.slot > k-l.n && e.grant > e.used {
				args = append(args, e.slot, e.used-e.grant)
			}
		}
		l.mu.Unlock()
		args[3] = (len(args) - 4) / 2
		ctx, cancel := l.f.Context()
		err := limiterLeaveScript.Run(ctx, l.f.Client(), l.keys, args...).Err()
		cancel()
		reportOutcome(l.f, err)
		l.enterLocal()
	}
}
