package fleet_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// Each gateway instance makes the same Limiter; together they admit 5000 requests per second.
func ExampleNewLimiter() {
	f, err := fleet.New(fleet.Config{
		Redis:    fleet.RedisConfig{Addrs: []string{"127.0.0.1:6379"}},
		Instance: "gw-1", // unique per instance
	})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	lim, err := fleet.NewLimiter(f, "songs", 5000, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	defer lim.Close()

	if err := lim.Allow(); errors.Is(err, ratelimit.ErrLimited) {
		fmt.Println("429: over the cluster limit")
	}
	st := lim.Stats()
	fmt.Println(st.Mode, st.Instances, st.Share)
}
