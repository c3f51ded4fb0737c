package fleet_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
)

// ExampleDRCache records a route's good answers under their generalized signature and
// answers from them when every upstream has failed. It needs a Redis on 127.0.0.1:6379 to
// share answers, and answers from what this instance saw without one; it has no checked
// output, since it talks to a real Redis.
func ExampleDRCache() {
	f, err := fleet.New(fleet.Config{
		Redis:    fleet.RedisConfig{Addrs: []string{"127.0.0.1:6379"}},
		Instance: "gw-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	spec, err := fleet.ParseKeySpec([]string{"path", "query:city", "query:lat~0.01", "query:lng~0.01"})
	if err != nil {
		log.Fatal(err)
	}
	dr, err := fleet.NewDRCache(f, "weather", 72*time.Hour)
	if err != nil {
		log.Fatal(err)
	}

	req, _ := http.NewRequest("GET", "http://gw/weather?city=paris&lat=48.8566&lng=2.3522", nil)
	sig, ok := spec.Key(req)
	if !ok {
		return // no signature: neither recorded nor answered
	}
	dr.Record(sig, []byte(`{"temp":21}`)) // after a successful response; never blocks

	// Later, when the local center, the failover and the fallback pool have all failed:
	if body, ok := dr.Lookup(context.Background(), sig); ok {
		fmt.Printf("Bulwark-Degraded: dr-cache\n%s\n", body)
	}
	fmt.Printf("DR hit ratio %.2f\n", dr.Stats().HitRatio())
}
