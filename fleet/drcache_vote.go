package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/redis/go-redis/v9"
)

// The DR cache's weighted vote (SEEDS.md B11a). Each signature keeps at most K candidate
// answers, each with a small count; a candidate's id is a hash of its value. One record of
// an answer:
//
//  1. adds 1 to its candidate's count (a new candidate starts at 1);
//  2. while there are more than K candidates, removes the weakest other than the one just
//     recorded: the lowest count, ties broken by the greatest id;
//  3. when the counts then sum to more than DecayAt, halves every count, rounding down, and
//     removes candidates that reach 0 (the one just recorded keeps at least 1).
//
// The winner is the candidate with the highest count, ties broken by the smallest id, so
// every instance picks the same one. Halving makes old records weigh less and less: a
// record's weight halves every time the total passes DecayAt, so an answer recorded in most
// of the last ~DecayAt/2 records of its signature wins, and a new answer overtakes an old
// one once it has been recorded more often since the last halvings.
//
// In Redis a signature is two hashes under one hash tag (so the scripts are Cluster-safe):
// counts (field: id, value: count) and values (field: id, value: the encoded answer). Both
// expire after the DR cache's TTL, refreshed by every record. drVotes is the same rule in
// Go, for the in-process fallback; a test checks that the two agree.

// drRecordScript records one answer. KEYS: counts, values. ARGV: id, encoded value, K,
// DecayAt, TTL in ms. It returns {winner id}, or {winner id, encoded winner value} when the
// winner is not the answer just recorded.
var drRecordScript = redis.NewScript(`
local counts, values = KEYS[1], KEYS[2]
local id, k, decay = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HINCRBY', counts, id, 1)
redis.call('HSETNX', values, id, ARGV[2])
local flat = redis.call('HGETALL', counts)
local ids, ns = {}, {}
for i = 1, #flat, 2 do
  ids[#ids + 1] = flat[i]
  ns[#ns + 1] = tonumber(flat[i + 1])
end
while #ids > k do
  local w = nil
  for i = 1, #ids do
    if ids[i] ~= id and (w == nil or ns[i] < ns[w] or (ns[i] == ns[w] and ids[i] > ids[w])) then
      w = i
    end
  end
  redis.call('HDEL', counts, ids[w])
  redis.call('HDEL', values, ids[w])
  table.remove(ids, w)
  table.remove(ns, w)
end
local total = 0
for i = 1, #ns do total = total + ns[i] end
if total > decay then
  for i = #ids, 1, -1 do
    local n = math.floor(ns[i] / 2)
    if n == 0 and ids[i] ~= id then
      redis.call('HDEL', counts, ids[i])
      redis.call('HDEL', values, ids[i])
      table.remove(ids, i)
      table.remove(ns, i)
    else
      if n == 0 then n = 1 end
      ns[i] = n
      redis.call('HSET', counts, ids[i], n)
    end
  end
end
redis.call('PEXPIRE', counts, ARGV[5])
redis.call('PEXPIRE', values, ARGV[5])
local w = 1
for i = 2, #ids do
  if ns[i] > ns[w] or (ns[i] == ns[w] and ids[i] < ids[w]) then w = i end
end
if ids[w] == id then return {id} end
return {ids[w], redis.call('HGET', values, ids[w])}
`)

// drLookupScript returns {winner id, encoded winner value}, or nil when the signature has
// no candidates. KEYS: counts, values.
var drLookupScript = redis.NewScript(`
local flat = redis.call('HGETALL', KEYS[1])
local wid, wn = nil, -1
for i = 1, #flat, 2 do
  local n = tonumber(flat[i + 1])
  if n > wn or (n == wn and flat[i] < wid) then wid, wn = flat[i], n end
end
if wid == nil then return false end
local v = redis.call('HGET', KEYS[2], wid)
if not v then return false end
return {wid, v}
`)

// drCandidateID is a value's candidate id: 128 bits of its SHA-256, in hex.
func drCandidateID(val []byte) string {
	sum := sha256.Sum256(val)
	return hex.EncodeToString(sum[:16])
}

// drVotes is one signature's candidates under the vote above; it is never modified in place.
type drVotes []drCandidate

type drCandidate struct {
	id  string
	n   int64
	val []byte
}

// record returns the votes after one record of (id, val) with at most k candidates and
// halving past decayAt; v is not modified.
func (v drVotes) record(id string, val []byte, k int, decayAt int64) drVotes {
	out := make(drVotes, 0, len(v)+1)
	found := false
	for _, c := range v {
		if c.id == id {
			c.n++
			found = true
		}
		out = append(out, c)
	}
	if !found {
		out = append(out, drCandidate{id: id, n: 1, val: val})
	}
	for len(out) > k {
		w := -1
		for i, c := range out {
			if c.id != id && (w < 0 || c.n < out[w].n || (c.n == out[w].n && c.id > out[w].id)) {
				w = i
			}
		}
		out = slices.Delete(out, w, w+1)
	}
	var total int64
	for _, c := range out {
		total += c.n
	}
	if total > decayAt {
		kept := out[:0]
		for _, c := range out {
			c.n /= 2
			if c.n == 0 {
				if c.id != id {
					continue
				}
				c.n = 1
			}
			kept = append(kept, c)
		}
		out = kept
	}
	return out
}

// winner returns the candidate with the highest count (ties: the smallest id).
func (v drVotes) winner() (drCandidate, bool) {
	if len(v) == 0 {
		return drCandidate{}, false
	}
	w := v[0]
	for _, c := range v[1:] {
		if c.n > w.n || (c.n == w.n && c.id < w.id) {
			w = c
		}
	}
	return w, true
}
