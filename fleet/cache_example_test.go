package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
)

// ExampleCache shows a two-level cache shared by a fleet. It needs a Redis on
// 127.0.0.1:6379 to share anything, and works on L1 alone without one; it has no checked
// output, since it talks to a real Redis.
func ExampleCache() {
	f, err := fleet.New(fleet.Config{
		Redis:    fleet.RedisConfig{Addrs: []string{"127.0.0.1:6379"}},
		Instance: "gw-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close() // stops the cache's subscriber and writer

	songs, err := fleet.NewCache(f, "songs", fleet.WithCacheL1Bytes(128<<20))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// L1, then L2 (Redis), then the loader; 100 concurrent misses make one load.
	body, err := songs.Get(ctx, "song:42", func(ctx context.Context) ([]byte, time.Duration, error) {
		return []byte(`{"id":42,"title":"Blue"}`), 30 * time.Second, nil // e.g. from the database
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", body) // shared: do not modify body

	// An update: every instance drops its L1 copy within milliseconds.
	err = songs.Set(ctx, "song:42", []byte(`{"id":42,"title":"Blue (remastered)"}`), 30*time.Second)
	if errors.Is(err, fleet.ErrCacheLocalOnly) {
		log.Print("redis is down: only this instance has the new value until the old one expires elsewhere")
	}
	_ = songs.Invalidate(ctx, "song:42")
	fmt.Printf("%+v\n", songs.Stats())
}
