package forward

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEngineConcurrent hammers one Engine from many goroutines, with replayable bodies, header
// timeouts and a streamed and a sized response mixed, and checks that every request and every
// byte arrives exactly once, and that the engine's goroutines end.
func TestEngineConcurrent(t *testing.T) {
	checkGoroutines(t)
	const (
		workers = 16
		each    = 40
	)
	var upstreamCount, upstreamBytes atomic.Int64
	backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		upstreamCount.Add(1)
		upstreamBytes.Add(int64(len(b)))
		if r.URL.Query().Get("stream") == "1" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		fmt.Fprintf(w, "%s=%d", r.URL.Query().Get("id"), len(b))
	})
	p := newProxy(t, newEngine(t, Options{MaxIdlePerHost: 4}), hostOf(backend),
		proxyConfig{useBody: true, replay: 1 << 10, maxBytes: 1 << 20, timeout: waitLimit})
	client := newClient(t)
	var ok, sent atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("%d-%d", w, i)
				body := strings.Repeat("b", (w*each+i)%2000) // some over the replay limit
				url := fmt.Sprintf("%s/c?id=%s&stream=%d", p.URL, id, i%2)
				resp, err := client.Post(url, "text/plain", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				sent.Add(int64(len(body)))
				if err == nil && resp.StatusCode == http.StatusOK && string(got) == fmt.Sprintf("%s=%d", id, len(body)) {
					ok.Add(1)
				} else {
					t.Errorf("%s: status %d body %q err %v", id, resp.StatusCode, got, err)
				}
			}
		})
	}
	wg.Wait()
	const total = workers * each
	if ok.Load() != total || upstreamCount.Load() != total || upstreamBytes.Load() != sent.Load() {
		t.Fatalf("ok %d, upstream %d requests and %d of %d bytes; want %d requests", ok.Load(),
			upstreamCount.Load(), upstreamBytes.Load(), sent.Load(), total)
	}
	// A handler reports just after its response reached the client: wait for the last ones.
	for deadline := time.Now().Add(waitLimit); p.handled.Load() < total && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if h, f := p.handled.Load(), p.failed.Load(); h != total || f != 0 {
		t.Fatalf("proxy handled %d requests, %d failed; want %d, 0", h, f, total)
	}
}
