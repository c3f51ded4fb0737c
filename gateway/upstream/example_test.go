package upstream_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// The gateway picks a host, sends the request itself, and reports how it went.
func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	host := strings.TrimPrefix(backend.URL, "http://")

	pool, err := upstream.New(upstream.Options{
		Service: "songs",
		Center:  "p",
		Hosts:   []string{host},
		Health:  config.Health{Path: "/healthz"},
		OnStateChange: func(host string, from, to upstream.State) {
			log.Printf("%s: %v → %v", host, from, to)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	pool.Start() // active probes; Stop ends them
	defer pool.Stop()

	attempt, err := pool.Acquire(nil) // nil: exclude no host
	if errors.Is(err, upstream.ErrNoHost) || errors.Is(err, upstream.ErrBreakersOpen) {
		return // fail over to the other center
	}
	start := time.Now()
	resp, err := http.Get("http://" + attempt.Host().Addr() + "/songs/1")
	outcome := upstream.Outcome{Latency: time.Since(start)}
	switch {
	case err != nil:
		outcome.Err = upstream.OtherError // or ConnectError, Timeout, Canceled
	case resp.StatusCode >= 500:
		outcome.Err = upstream.Status5xx
	}
	if err == nil {
		outcome.Overload = resp.Header.Get("Bulwark-Overload") == "1"
		_ = resp.Body.Close()
	}
	attempt.Done(outcome) // exactly once
	fmt.Println(pool.Hosts()[0].State, pool.Hosts()[0].Successes)

	// The pool's pressure is a shed.Capacity for level-aware admission.
	_, limited := pool.Capacity()
	fmt.Println("limited:", limited)
	// Output:
	// healthy 1
	// limited: false
}
