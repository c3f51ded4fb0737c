package fleet

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLocalFleet: without Redis, a cache keeps its in-process level and a DR cache its local
// copy, and nothing tries to reach a server.
func TestLocalFleet(t *testing.T) {
	f, err := New(Config{Instance: "solo", Local: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Client() != nil || !f.Local() || f.Up() {
		t.Fatalf("local fleet: client %v local %v up %v", f.Client(), f.Local(), f.Up())
	}
	c, err := NewCache(f, "solo")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, ErrCacheLocalOnly) {
		t.Fatalf("Set: %v, want ErrCacheLocalOnly", err)
	}
	if v, ok := c.Peek(ctx, "k"); !ok || string(v) != "v" {
		t.Fatalf("Peek = %q %v", v, ok)
	}
	dr, err := NewDRCache(f, "solo", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dr.Record("sig", []byte("answer"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, ok := dr.Lookup(ctx, "sig"); ok && string(v) == "answer" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the local DR cache never answered its own record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := f.Stats(); st.Errors != 0 {
		t.Fatalf("a local fleet reported %d Redis errors", st.Errors)
	}
}
