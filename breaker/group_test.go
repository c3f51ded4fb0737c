package breaker

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindSRE: "sre", KindClassic: "classic", Kind(5): "Kind(5)"} {
		if got := k.String(); got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
	}
}

func TestGroup(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		opts []Option
		want any // the type of breaker made
	}{
		{"sre", KindSRE, []Option{WithK(2)}, (*SRE)(nil)},
		{"classic", KindClassic, []Option{WithFailureCount(2)}, (*Classic)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewGroup(tt.kind, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if g.Len() != 0 {
				t.Fatalf("new group Len = %d", g.Len())
			}
			a, b := g.Get("a"), g.Get("b")
			if a == b {
				t.Fatal("two keys share a breaker")
			}
			if g.Get("a") != a {
				t.Fatal("Get of an existing key made a new breaker")
			}
			switch tt.want.(type) {
			case *SRE:
				if _, ok := a.(*SRE); !ok {
					t.Fatalf("made %T", a)
				}
			case *Classic:
				if _, ok := a.(*Classic); !ok {
					t.Fatalf("made %T", a)
				}
			}
			if g.Len() != 2 {
				t.Fatalf("Len = %d, want 2", g.Len())
			}
			var keys []string
			g.Each(func(key string, _ Breaker) { keys = append(keys, key) })
			sort.Strings(keys)
			if strings.Join(keys, ",") != "a,b" {
				t.Fatalf("Each saw %v", keys)
			}
			g.Remove("a")
			g.Remove("a")
			g.Remove("never there")
			if g.Len() != 1 {
				t.Fatalf("after Remove Len = %d, want 1", g.Len())
			}
			if g.Get("a") == a {
				t.Fatal("Get after Remove returned the old breaker")
			}
		})
	}
}

func TestGroupBreakersAreIndependent(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	g, err := NewGroup(KindClassic, WithClock(clk), WithFailureCount(1))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := g.Get("sick").Allow()
	p.Failure()
	if s := g.Get("sick").State(); s != StateOpen {
		t.Fatalf("sick is %v, want open", s)
	}
	if s := g.Get("healthy").State(); s != StateClosed {
		t.Fatalf("healthy is %v, want closed", s)
	}
}

func TestNewGroupFunc(t *testing.T) {
	if _, err := NewGroupFunc(nil); err == nil || !strings.Contains(err.Error(), "NewGroupFunc") {
		t.Fatalf("nil factory: err = %v", err)
	}
	var keys []string
	g, err := NewGroupFunc(func(key string) Breaker {
		keys = append(keys, key)
		b, _ := NewClassic()
		return b
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Get("x")
	g.Get("x")
	g.Get("y")
	if strings.Join(keys, ",") != "x,y" {
		t.Fatalf("factory called for %v, want once per key", keys)
	}

	bad, _ := NewGroupFunc(func(string) Breaker { return nil })
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"k"`) {
			t.Fatalf("a nil breaker from the factory: recover() = %v", r)
		}
	}()
	bad.Get("k")
}
