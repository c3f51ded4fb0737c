package fleet_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/fleet"
)

// Every instance opens the same Switches; a change made through any one reaches all of them.
func ExampleNewSwitches() {
	f, err := fleet.New(fleet.Config{
		Redis:    fleet.RedisConfig{Addrs: []string{"127.0.0.1:6379"}},
		Instance: "gw-1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sw, err := fleet.NewSwitches(f, "gateway")
	if err != nil {
		log.Fatal(err)
	}
	sw.Watch(func(state map[string][]byte) {
		fmt.Printf("degrade.songs is now %q\n", state["degrade.songs"])
	})
	switch err := sw.Set("degrade.songs", []byte("0.25")); {
	case errors.Is(err, fleet.ErrNotShared):
		fmt.Println("applied on this instance only; shared when Redis returns")
	case err != nil:
		log.Fatal(err)
	}
}
