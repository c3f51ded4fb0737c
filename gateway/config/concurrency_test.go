package config

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// A validated Config is read by many goroutines at once (the proxy, the admin API, a reload
// comparing services), and Parse runs while they do. None of that may race.
func TestConcurrentUse(t *testing.T) {
	t.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := Parse("gw.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	shared.Summary(&want)

	const goroutines, rounds = 8, 50
	var parsed, summaries, equal atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				cfg, err := Parse("gw.yaml", data)
				if err != nil {
					t.Error(err)
					return
				}
				parsed.Add(1)
				var b strings.Builder
				shared.Summary(&b)
				if b.String() == want.String() {
					summaries.Add(1)
				}
				for name, s := range shared.Services {
					if Equal(s, cfg.Services[name]) {
						equal.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	const total = goroutines * rounds
	if parsed.Load() != total || summaries.Load() != total || equal.Load() != 2*total {
		t.Errorf("parsed %d, same summary %d, equal services %d; want %d, %d, %d",
			parsed.Load(), summaries.Load(), equal.Load(), total, total, 2*total)
	}
}
