package degrade

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestRegistry(t *testing.T) {
	var r Registry
	if got := r.List(); len(got) != 0 {
		t.Fatalf("empty List = %v", got)
	}
	if err := r.Set("nope", 0.5); !errors.Is(err, ErrUnknownSwitch) {
		t.Fatalf("Set on an empty registry = %v, want ErrUnknownSwitch", err)
	}
	recs, ads := mustNew(t), mustNew(t, WithPass(0.25))
	for name, s := range map[string]*Switch{"recommendations": recs, "ads": ads} {
		if err := r.Register(name, s); err != nil {
			t.Fatalf("Register(%q) = %v", name, err)
		}
	}

	registerErrs := []struct {
		name string
		s    *Switch
		want string
	}{
		{"", recs, "empty name"},
		{"x", nil, "nil switch"},
		{"ads", mustNew(t), "already registered"},
	}
	for _, tt := range registerErrs {
		if err := r.Register(tt.name, tt.s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register(%q) = %v, want %q", tt.name, err, tt.want)
		}
	}

	if s, ok := r.Get("ads"); !ok || s != ads {
		t.Fatalf("Get(ads) = %p, %v", s, ok)
	}
	if s, ok := r.Get("missing"); ok || s != nil {
		t.Fatalf("Get(missing) = %p, %v", s, ok)
	}

	if err := r.Set("recommendations", 0); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(recs.Allow(), ErrDegraded) {
		t.Fatal("Set(…, 0) through the registry did not turn the module off")
	}
	if err := r.Set("ads", 1.5); err == nil || errors.Is(err, ErrUnknownSwitch) {
		t.Fatalf("Set(ads, 1.5) = %v, want a range error", err)
	}
	err := r.Set("missing", 1)
	if !errors.Is(err, ErrUnknownSwitch) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("Set(missing) = %v", err)
	}

	want := []Status{{"ads", 0.25}, {"recommendations", 0}}
	if got := r.List(); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

// TestRegistryConcurrent registers, sets and lists from many goroutines;
// every switch must end registered with the pass its owner set last.
func TestRegistryConcurrent(t *testing.T) {
	const goroutines, perG = 8, 50
	var r Registry
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				name := fmt.Sprintf("g%d-%02d", g, i)
				s, err := New()
				if err != nil {
					t.Error(err)
					return
				}
				if err := r.Register(name, s); err != nil {
					t.Error(err)
					return
				}
				for k := range 4 {
					if err := r.Set(name, float64(k)/4); err != nil {
						t.Error(err)
					}
				}
				_ = r.List()
			}
		})
	}
	wg.Wait()
	list := r.List()
	if len(list) != goroutines*perG {
		t.Fatalf("List has %d switches, want %d", len(list), goroutines*perG)
	}
	if !slices.IsSortedFunc(list, func(a, b Status) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("List is not sorted")
	}
	for _, st := range list {
		if st.Pass != 0.75 {
			t.Fatalf("%s: pass %v, want 0.75", st.Name, st.Pass)
		}
	}
}
