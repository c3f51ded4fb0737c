package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulwark-go/bulwark/internal/redistest"
)

// swTNew returns the Switches name on a fresh Fleet for instance.
func swTNew(t testing.TB, addr, instance, name string) *Switches {
	t.Helper()
	s, err := NewSwitches(limTFleet(t, addr, instance, nil), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// swTEqual reports whether a switch state is want.
func swTEqual(got map[string][]byte, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || string(g) != v {
			return false
		}
	}
	return true
}

// swTConverge waits until every instance's snapshot is want and returns how long it took.
func swTConverge(t testing.TB, what string, want map[string]string, all ...*Switches) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		ok := true
		for _, s := range all {
			if !swTEqual(s.Snapshot(), want) {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	for _, s := range all {
		t.Logf("%s: %q", s.f.Instance(), s.Snapshot())
	}
	t.Fatalf("%s: no convergence on %q within 5s", what, want)
	return 0
}

// swTSubscribed waits until every instance has resynced since its subscription came up.
func swTSubscribed(t testing.TB, all ...*Switches) {
	t.Helper()
	limTWait(t, "subscribed", func() bool {
		for _, s := range all {
			if s.Stats().Resyncs < 2 { // the constructor's, then the subscription's
				return false
			}
		}
		return true
	})
}

func TestSwitchesRejects(t *testing.T) {
	f := limTFleet(t, "127.0.0.1:1", "a", nil)
	for _, name := range []string{"", "a b", "x{y}"} {
		if _, err := NewSwitches(f, name); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if _, err := NewSwitches(nil, "x"); err == nil {
		t.Error("nil Fleet accepted")
	}
	s, err := NewSwitches(f, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("", []byte("v")); err == nil || errors.Is(err, ErrNotShared) {
		t.Fatalf("empty field: %v", err)
	}
	if err := s.Delete(""); err == nil {
		t.Fatal("empty field deleted")
	}
}

// TestSwitchesConvergence: a change made on any of three instances reaches the others well
// within 1s.
func TestSwitchesConvergence(t *testing.T) {
	srv := redistest.Start(t)
	all := []*Switches{
		swTNew(t, srv.Addr, "a", "conv"), swTNew(t, srv.Addr, "b", "conv"), swTNew(t, srv.Addr, "c", "conv"),
	}
	swTSubscribed(t, all...)
	want := map[string]string{}
	steps := []struct {
		name  string
		on    int
		field string
		value string
		del   bool
	}{
		{"set on a", 0, "retry", "on", false},
		{"set on b", 1, "degrade.songs", "0.25", false},
		{"overwrite on c", 2, "retry", "off", false},
		{"binary value", 0, "fault", "\x00\xff\n", false},
		{"empty value", 1, "empty", "", false},
		{"delete on a", 0, "degrade.songs", "", true},
		{"delete of a missing field", 2, "missing", "", true},
	}
	var worst time.Duration
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var err error
			if st.del {
				err = all[st.on].Delete(st.field)
				delete(want, st.field)
			} else {
				err = all[st.on].Set(st.field, []byte(st.value))
				want[st.field] = st.value
			}
			if err != nil {
				t.Fatal(err)
			}
			took := swTConverge(t, st.name, want, all...)
			worst = max(worst, took)
			if took > time.Second {
				t.Fatalf("converged in %v, want ≤ 1s", took)
			}
		})
	}
	t.Logf("slowest convergence across 3 instances: %v", worst)
	if st := all[2].Stats(); st.RemoteUpdates < 4 || st.Pending != 0 || st.BadMessages != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A late instance starts from the shared state.
	late := swTNew(t, srv.Addr, "d", "conv")
	if !swTEqual(late.Snapshot(), want) {
		t.Fatalf("a new instance starts with %q, want %q", late.Snapshot(), want)
	}
}

// TestSwitchesRedisRestartEmpty: with Redis dead, a Set on one instance applies there and is
// pending; Redis comes back empty; the pending change and the state that lived only in the
// dead Redis converge on every instance, including one that started empty meanwhile.
func TestSwitchesRedisRestartEmpty(t *testing.T) {
	srv := redistest.Start(t)
	a, b, c := swTNew(t, srv.Addr, "a", "restart"), swTNew(t, srv.Addr, "b", "restart"), swTNew(t, srv.Addr, "c", "restart")
	swTSubscribed(t, a, b, c)
	for _, kv := range [][2]string{{"x", "0"}, {"y", "5"}, {"z", "gone"}} {
		if err := a.Set(kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete("z"); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{"x": "0", "y": "5"}
	swTConverge(t, "before the kill", before, a, b, c)

	watched := make(chan map[string][]byte, 16)
	a.Watch(func(state map[string][]byte) { watched <- state })
	<-watched // the current state

	srv.Kill()
	err := a.Set("x", []byte("1"))
	if !errors.Is(err, ErrNotShared) {
		t.Fatalf("Set with Redis down: %v, want ErrNotShared", err)
	}
	if got := string(a.Snapshot()["x"]); got != "1" {
		t.Fatalf("a holds x=%q after a local Set", got)
	}
	select {
	case st := <-watched:
		if string(st["x"]) != "1" {
			t.Fatalf("Watch saw %q", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not fire for the local Set")
	}
	if st := a.Stats(); st.Pending != 1 {
		t.Fatalf("stats %+v, want 1 pending", st)
	}
	for _, s := range []*Switches{b, c} {
		if !swTEqual(s.Snapshot(), before) {
			t.Fatalf("%s lost its state with Redis down: %q", s.f.Instance(), s.Snapshot())
		}
	}

	srv.Restart(t)
	d := swTNew(t, srv.Addr, "d", "restart") // starts empty, against an empty Redis
	want := map[string]string{"x": "1", "y": "5"}
	took := swTConverge(t, "after the restart", want, a, b, c, d)
	t.Logf("converged %v after Redis came back empty", took)
	if st := a.Stats(); st.Pending != 0 || st.Resyncs < 3 {
		t.Fatalf("stats %+v", st)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	hash, err := rdb.HGetAll(context.Background(), a.key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, marked := hash[""]; !marked || hash["x"] != "1" || hash["y"] != "5" || len(hash) != 3 {
		t.Fatalf("Redis holds %q", hash)
	}

	// The marker keeps a deleted field deleted: no instance puts it back at its resync.
	if err := c.Delete("y"); err != nil {
		t.Fatal(err)
	}
	swTConverge(t, "delete after the restart", map[string]string{"x": "1"}, a, b, c, d)
	for _, s := range []*Switches{a, b, c, d} {
		if err := s.resync(); err != nil {
			t.Fatal(err)
		}
	}
	swTConverge(t, "after resyncs", map[string]string{"x": "1"}, a, b, c, d)
}

// TestSwitchesDownAtStart: Redis unreachable from the start: the Switches works locally.
func TestSwitchesDownAtStart(t *testing.T) {
	s, err := NewSwitches(limTFleet(t, "127.0.0.1:1", "a", nil), "down")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", []byte("v")); !errors.Is(err, ErrNotShared) {
		t.Fatalf("Set: %v", err)
	}
	if err := s.Delete("gone"); !errors.Is(err, ErrNotShared) {
		t.Fatalf("Delete: %v", err)
	}
	if got := s.Snapshot(); !swTEqual(got, map[string]string{"k": "v"}) {
		t.Fatalf("snapshot %q", got)
	}
	if st := s.Stats(); st.Pending != 2 || st.Sets != 2 || st.ResyncErrors == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSwitchesWatchCallsSet: a watcher sees the initial state and later changes, and may call
// Set itself without deadlock.
func TestSwitchesWatchCallsSet(t *testing.T) {
	srv := redistest.Start(t)
	a, b := swTNew(t, srv.Addr, "a", "watch"), swTNew(t, srv.Addr, "b", "watch")
	swTSubscribed(t, a, b)
	var mu sync.Mutex
	var seen []map[string][]byte
	a.Watch(func(state map[string][]byte) {
		mu.Lock()
		seen = append(seen, state)
		mu.Unlock()
		if v, ok := state["ping"]; ok && state["pong"] == nil {
			if err := a.Set("pong", v); err != nil {
				t.Errorf("Set from a watcher: %v", err)
			}
		}
		state["mutated"] = []byte("by the watcher") // its own copy
	})
	if err := b.Set("ping", []byte("1")); err != nil {
		t.Fatal(err)
	}
	swTConverge(t, "ping answered", map[string]string{"ping": "1", "pong": "1"}, a, b)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || len(seen[0]) != 1 { // the first call got the (empty) initial state
		t.Fatalf("watcher saw %q", seen)
	}
	if _, ok := a.Snapshot()["mutated"]; ok {
		t.Fatal("a watcher's change to its copy reached the state")
	}
}

// TestSwitchesConcurrentTotals: many goroutines on two instances set fields at once; every
// call is counted, and both instances end with Redis's state.
func TestSwitchesConcurrentTotals(t *testing.T) {
	srv := redistest.Start(t)
	a, b := swTNew(t, srv.Addr, "a", "hammer"), swTNew(t, srv.Addr, "b", "hammer")
	swTSubscribed(t, a, b)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Switches{a, b}[w%2]
			for i := range each {
				field := fmt.Sprintf("f%d", i%5)
				var err error
				if i%7 == 3 {
					err = s.Delete(field)
				} else {
					err = s.Set(field, []byte(fmt.Sprintf("%d-%d", w, i)))
				}
				if err != nil {
					t.Errorf("change: %v", err)
				}
				_ = s.Snapshot()
			}
		}()
	}
	wg.Wait()
	if got := a.Stats().Sets + b.Stats().Sets; got != workers*each {
		t.Fatalf("Sets = %d, want %d", got, workers*each)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	hash, err := rdb.HGetAll(context.Background(), a.key).Result()
	if err != nil {
		t.Fatal(err)
	}
	delete(hash, "")
	if took := swTConverge(t, "after the storm", hash, a, b); took > time.Second {
		t.Fatalf("converged only after %v (a periodic resync?)", took)
	}
	if !maps.EqualFunc(a.Snapshot(), b.Snapshot(), bytes.Equal) {
		t.Fatal("instances differ")
	}
}
