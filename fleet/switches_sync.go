package fleet

import (
	"fmt"
	"maps"
	"time"

	"github.com/redis/go-redis/v9"
)

// switchWriteScript writes one change and announces it, atomically, so that announcements
// come in the order of the writes.
//
//	KEYS: the hash. ARGV: channel, op (S or D), field, value, message.
var switchWriteScript = redis.NewScript(`
if ARGV[2] == 'S' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
else
  redis.call('HDEL', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[1], ARGV[5])
return 1
`)

// switchSeedScript refills a hash that Redis lost (no marker field "") from an instance's
// snapshot, without overwriting fields already there, sets the marker, announces a resync if
// it added anything, and returns the hash.
//
//	KEYS: the hash. ARGV: channel, resync message, then field, value pairs.
var switchSeedScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], '') == 0 then
  local added = 0
  for i = 3, #ARGV, 2 do added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('HSET', KEYS[1], '', '1')
  if added > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
end
return redis.call('HGETALL', KEYS[1])
`)

// write writes one change to Redis and announces it.
func (s *Switches) write(field string, ch switchChange) error {
	op := switchOpSet
	if ch.del {
		op = switchOpDelete
	}
	msg := encodeSwitchMessage(switchMessage{op: op, origin: s.f.Instance(), field: field, value: ch.value})
	ctx, cancel := s.f.Context()
	defer cancel()
	err := switchWriteScript.Run(ctx, s.f.Client(), []string{s.key}, s.channel, string(op), field, ch.value, msg).Err()
	reportOutcome(s.f, err)
	return err
}

// resync writes the pending changes, then reads the whole hash (seeding it first if Redis
// lost it) and installs it as the state, with changes still pending over it.
func (s *Switches) resync() error {
	err := s.resyncOnce()
	if reportOutcome(s.f, err) {
		return err
	}
	if err != nil {
		s.resyncErrs.Add(1)
		return err
	}
	s.resyncs.Add(1)
	s.signal()
	return nil
}

func (s *Switches) resyncOnce() error {
	wrote, err := s.flushPending()
	if err != nil {
		return err
	}
	ctx, cancel := s.f.Context()
	defer cancel()
	all, err := s.f.Client().HGetAll(ctx, s.key).Result()
	if err != nil {
		return err
	}
	if _, seeded := all[""]; !seeded {
		s.mu.Lock()
		args := []any{s.channel, encodeSwitchMessage(switchMessage{op: switchOpResync, origin: s.f.Instance()})}
		for k, v := range s.state {
			args = append(args, k, v)
		}
		s.mu.Unlock()
		if len(args) > 2 || wrote {
			ctx, cancel := s.f.Context()
			defer cancel()
			v, err := switchSeedScript.Run(ctx, s.f.Client(), []string{s.key}, args...).Result()
			if err != nil {
				return err
			}
			if all, err = parseSwitchHash(v); err != nil {
				return err
			}
		}
	}
	delete(all, "")
	next := make(map[string][]byte, len(all))
	for k, v := range all {
		next[k] = []byte(v)
	}
	s.mu.Lock()
	s.replaceLocked(next)
	s.mu.Unlock()
	return nil
}

// flushPending writes the pending changes, and reports whether it wrote any.
func (s *Switches) flushPending() (bool, error) {
	s.mu.Lock()
	pending := maps.Clone(s.pending)
	s.mu.Unlock()
	wrote := false
	for field, ch := range pending {
		s.writeMu.Lock()
		s.mu.Lock()
		cur, still := s.pending[field]
		s.mu.Unlock()
		if !still || cur.id != ch.id { // a later Set took over
			s.writeMu.Unlock()
			continue
		}
		err := s.write(field, ch)
		if err == nil {
			s.mu.Lock()
			if cur, still := s.pending[field]; still && cur.id == ch.id {
				delete(s.pending, field)
			}
			s.mu.Unlock()
			wrote = true
		}
		s.writeMu.Unlock()
		if err != nil {
			return wrote, err
		}
	}
	return wrote, nil
}

// parseSwitchHash decodes an HGETALL reply returned by a script: field, value, ...
func parseSwitchHash(v any) (map[string]string, error) {
	vals, ok := v.([]any)
	if !ok || len(vals)%2 != 0 {
		return nil, fmt.Errorf("fleet: switches: hash reply %T of odd length", v)
	}
	out := make(map[string]string, len(vals)/2)
	for i := 0; i < len(vals); i += 2 {
		k, ok1 := vals[i].(string)
		val, ok2 := vals[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("fleet: switches: hash reply holds %T, %T", vals[i], vals[i+1])
		}
		out[k] = val
	}
	return out, nil
}

// handle applies one announcement.
func (s *Switches) handle(payload string) {
	m, err := decodeSwitchMessage([]byte(payload))
	if err != nil {
		s.badMessages.Add(1)
		return
	}
	if m.op == switchOpResync {
		if m.origin != s.f.Instance() {
			_ = s.resync()
		}
		return
	}
	s.mu.Lock()
	_, pending := s.pending[m.field]
	changed := !pending && s.applyLocked(m.field, m.value, m.op == switchOpDelete)
	s.mu.Unlock()
	if changed {
		if m.origin != s.f.Instance() {
			s.remote.Add(1)
		}
		s.signal()
	}
}

// run is the subscriber: it applies announcements, resyncs at every (re)subscription and
// every SwitchesResyncEvery, and calls the watchers, until done.
func (s *Switches) run(done <-chan struct{}) {
	ctx, cancel := s.f.Context()
	ps := s.f.Client().Subscribe(ctx, s.channel) // on failure it keeps the channel and retries
	cancel()
	msgs := ps.ChannelWithSubscriptions(
		redis.WithChannelHealthCheckInterval(time.Second), // a silent dead connection is found in ~1s
		redis.WithChannelSize(256))
	defer func() {
		_ = ps.Close()
		for range msgs { // let go-redis's receiver see the close and exit
		}
	}()
	tick := s.f.Clock().NewTicker(SwitchesResyncEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					_ = s.resync()
				}
			case *redis.Message:
				s.handle(m.Payload)
			}
		case <-tick.C():
			_ = s.resync()
		case <-s.wake:
			s.deliver()
		}
	}
}
