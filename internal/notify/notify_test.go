package notify

import (
	"slices"
	"sync"
	"testing"
)

// TestPanickingCallback: a callback that panics does not silence later callbacks, and what
// was queued is still delivered, in order.
func TestPanickingCallback(t *testing.T) {
	var mu sync.Mutex
	var got []int
	first := true
	var q Queue[int]
	q = NewQueue(func(e int) {
		got = append(got, e)
		if first {
			first = false
			mu.Lock()
			again := q.Push(2) // queued during the callback
			mu.Unlock()
			if again {
				t.Error("a push during delivery elected a second deliverer")
			}
			panic("boom")
		}
	})
	mu.Lock()
	if !q.Push(1) {
		t.Fatal("the first push did not elect a deliverer")
	}
	mu.Unlock()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		q.Deliver(&mu)
	}()
	mu.Lock()
	if !q.Push(3) {
		t.Fatal("after a panic, the next push did not elect a deliverer")
	}
	mu.Unlock()
	q.Deliver(&mu)
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("delivered %v, want [1 2 3]", got)
	}
}

func TestNilCallbackDropsEvents(t *testing.T) {
	var q Queue[string]
	if q.Push("x") || len(q.pending) != 0 {
		t.Fatal("a queue without a callback kept an event")
	}
}

// TestConcurrentPushes: events pushed from many goroutines are each delivered exactly once,
// by one deliverer at a time (the race detector checks the unsynchronized counters). That the
// callback runs without the owner's lock is shown by TestPanickingCallback, whose callback
// takes the lock itself.
func TestConcurrentPushes(t *testing.T) {
	var mu sync.Mutex
	var seen int
	q := NewQueue(func(int) { seen++ })
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				mu.Lock()
				must := q.Push(i)
				mu.Unlock()
				if must {
					q.Deliver(&mu)
				}
			}
		}()
	}
	wg.Wait()
	if seen != 16*500 {
		t.Fatalf("delivered %d events, want %d", seen, 16*500)
	}
}
