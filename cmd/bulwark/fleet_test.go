package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/cpulock"
	"github.com/bulwark-go/bulwark/internal/redistest"
)

// The fleet across processes: three real gateway binaries of one center share a cluster rate
// limit through one real redis-server, take uneven shares of the load, lose Redis mid-run and
// get it back.

const fleetLimit = 300 // requests per second, across the three gateways

func fleetGatewayConfig(instance, listen, admin, host, redisAddr string) string {
	return fmt.Sprintf(`center: sz
instance: %s
listen: %s
admin: {listen: %s}
shutdown_grace: 2s
log: {level: warn, access: false}
centers:
  sz: {gateway: http://%s, primary: true}
fleet:
  redis: {addrs: [%s]}
  sync_interval: 100ms
services:
  songs:
    upstreams: {sz: [%s]}
    rate_limit: {limit: %d, per: 1s, scope: cluster}
routes:
  - {path: /api/songs, service: songs}
`, instance, listen, admin, listen, redisAddr, host, fleetLimit)
}

func startFleetGateway(t *testing.T, instance, host, redisAddr string) *runningGateway {
	t.Helper()
	rg := &runningGateway{out: &syncBuffer{}, listen: freePort(t), admin: freePort(t)}
	rg.file = filepath.Join(t.TempDir(), instance+".yaml")
	if err := os.WriteFile(rg.file, []byte(fleetGatewayConfig(instance, rg.listen, rg.admin, host, redisAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	rg.cmd = exec.Command(bulwarkBin(t), "gateway", "-c", rg.file)
	rg.cmd.Stdout, rg.cmd.Stderr = rg.out, rg.out
	if err := rg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rg.cmd.Process.Kill()
		_ = rg.cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", instance, rg.out.String())
		}
	})
	waitFor(t, instance+" to start", func() bool {
		resp, err := http.Get("http://" + rg.admin + "/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return rg
}

// fleetLoad drives each gateway at its rate for d, open-model, and returns the answers
// admitted (200) per second of intended send time, summed over the gateways, and every
// answer that was neither 200 nor 429.
func fleetLoad(t *testing.T, gws []*runningGateway, rates []int, d time.Duration) (perSecond []int, bad []string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	defer client.CloseIdleConnections()
	perSecond = make([]int, int(d/time.Second))
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i, gw := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			interval := time.Second / time.Duration(rates[i])
			var inner sync.WaitGroup
			for n := 0; n < int(d/interval); n++ { // bounded: rate × d requests
				at := time.Duration(n) * interval
				if w := time.Until(start.Add(at)); w > 0 {
					time.Sleep(w)
				}
				inner.Add(1)
				go func() {
					defer inner.Done()
					resp, err := client.Get("http://" + gw.listen + "/api/songs")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						bad = append(bad, err.Error())
					case resp.StatusCode == http.StatusOK:
						if s := int(at / time.Second); s < len(perSecond) {
							perSecond[s]++
						}
					case resp.StatusCode != http.StatusTooManyRequests:
						bad = append(bad, resp.Status)
					}
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	return perSecond, bad
}

// worst is the largest |admitted − want| / want over the seconds from skip on.
func worst(perSecond []int, skip int, want float64) float64 {
	w := 0.0
	for _, n := range perSecond[skip:] {
		w = math.Max(w, math.Abs(float64(n)-want)/want)
	}
	return w
}

func scrapeMetric(t *testing.T, rg *runningGateway, series string) bool {
	t.Helper()
	resp, err := http.Get("http://" + rg.admin + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), series)
}

func TestFleetClusterLimitAcrossProcesses(t *testing.T) {
	cpulock.Hold(t)
	redis := redistest.Start(t)
	host, _ := upstream(t)
	var gws []*runningGateway
	for i := range 3 {
		gws = append(gws, startFleetGateway(t, fmt.Sprintf("sz-%d", i+1), host, redis.Addr))
	}
	// 2× the limit, split 60/30/10.
	rates := []int{2 * fleetLimit * 6 / 10, 2 * fleetLimit * 3 / 10, 2 * fleetLimit / 10}
	const tolerance = 0.05

	perSecond, bad := fleetLoad(t, gws, rates, 5*time.Second)
	w := worst(perSecond, 2, fleetLimit)
	t.Logf("cluster mode: admitted per second %v; worst deviation %.1f %% (from the 3rd second)", perSecond, 100*w)
	if len(bad) > 0 || w > tolerance {
		t.Fatalf("cluster mode: %d bad answers %v; worst deviation %.1f %% > %.0f %%", len(bad), first(bad), 100*w, 100*tolerance)
	}

	redis.Kill() // mid-run: no request may fail because of it
	perSecond, bad = fleetLoad(t, gws, rates, 4*time.Second)
	// Each gateway falls back to limit/3 = 100/s; the third is offered only 60/s.
	wantDown := float64(fleetLimit/3 + fleetLimit/3 + rates[2])
	wDown := worst(perSecond, 1, wantDown)
	t.Logf("redis down: admitted per second %v (want about %.0f); worst deviation %.1f %%", perSecond, wantDown, 100*wDown)
	if len(bad) > 0 {
		t.Fatalf("redis down: %d requests failed: %v", len(bad), first(bad))
	}
	for _, n := range perSecond[1:] {
		if math.Abs(float64(n-fleetLimit)) > fleetLimit/3 {
			t.Fatalf("redis down: %d admitted in a second, outside %d ± %d", n, fleetLimit, fleetLimit/3)
		}
	}
	for _, gw := range gws {
		if !scrapeMetric(t, gw, `bulwark_fleet_redis_up 0`) || !scrapeMetric(t, gw, `bulwark_rate_limit_mode{mode="local",service="songs"} 1`) {
			t.Fatal("a gateway does not report the local mode")
		}
		if n := strings.Count(gw.out.String(), "redis is unreachable"); n != 1 {
			t.Fatalf("the outage was logged %d times by one gateway, want once", n)
		}
	}

	redis.Restart(t)
	for _, gw := range gws {
		waitFor(t, "the cluster mode after the restart", func() bool {
			return scrapeMetric(t, gw, `bulwark_rate_limit_mode{mode="cluster",service="songs"} 1`)
		})
	}
	perSecond, bad = fleetLoad(t, gws, rates, 4*time.Second)
	w = worst(perSecond, 1, fleetLimit)
	t.Logf("after the restart: admitted per second %v; worst deviation %.1f %%", perSecond, 100*w)
	if len(bad) > 0 || w > tolerance {
		t.Fatalf("after the restart: %d bad answers %v; worst deviation %.1f %%", len(bad), first(bad), 100*w)
	}
}

func first(s []string) []string { return s[:min(len(s), 5)] }
