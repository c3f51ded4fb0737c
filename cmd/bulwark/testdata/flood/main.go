// Command flood is a closed-loop load generator, and with -serve a fast backend, for the
// CPU-pressure test. The test builds it without -race, so that neither the load nor the
// backend depends on the race detector's slowdown. It prints, per URL, the requests made after
// the warm-up and how many got 200.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	urls := flag.String("urls", "", "comma-separated URLs")
	workers := flag.String("workers", "", "comma-separated worker counts, one per URL")
	dur := flag.Duration("d", 6*time.Second, "duration")
	warm := flag.Duration("warmup", 2*time.Second, "requests before this are not counted")
	serve := flag.String("serve", "", "serve a fast backend on this address instead")
	flag.Parse()
	if *serve != "" {
		err := http.ListenAndServe(*serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}))
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
	list, counts := strings.Split(*urls, ","), strings.Split(*workers, ",")
	if len(list) != len(counts) {
		fmt.Fprintln(os.Stderr, "flood: -urls and -workers differ in length")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	start := time.Now()
	stop, judge := start.Add(*dur), start.Add(*warm)
	type tally struct{ Total, OK atomic.Int64 }
	tallies := make([]tally, len(list))
	var wg sync.WaitGroup
	for i, u := range list {
		n, err := strconv.Atoi(counts[i])
		if err != nil {
			fmt.Fprintln(os.Stderr, "flood:", err)
			os.Exit(2)
		}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 1_000_000 && time.Now().Before(stop); k++ {
					resp, err := client.Get(u)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					if time.Now().Before(judge) {
						continue
					}
					tallies[i].Total.Add(1)
					if err == nil && resp.StatusCode == http.StatusOK {
						tallies[i].OK.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	out := make([][2]int64, len(list))
	for i := range tallies {
		out[i] = [2]int64{tallies[i].Total.Load(), tallies[i].OK.Load()}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
