package demo

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestTopology starts the demo topology and checks what the demo's story relies on: reads are
// served in each center, writes reach the primary's orders hosts from either center, a service
// whose local hosts are down is served by the other center, and the description names every
// address.
func TestTopology(t *testing.T) {
	top, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	for _, c := range []string{Primary, Secondary} {
		for _, s := range top.Services {
			if s.Write {
				continue
			}
			resp := get(t, top.Centers[c].URL+s.Path)
			if resp.StatusCode != 200 || resp.Header.Get("Bulwark-Center") != c || !strings.HasPrefix(resp.Header.Get("X-Backend"), c+"-"+s.Name) {
				t.Fatalf("%s%s: %d, center %q, backend %q", c, s.Path, resp.StatusCode, resp.Header.Get("Bulwark-Center"), resp.Header.Get("X-Backend"))
			}
		}
		resp, err := http.Post(top.Centers[c].URL+"/api/orders", "application/json", strings.NewReader(`{"id":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("X-Backend"), Primary+"-orders") {
			t.Fatalf("POST via %s: %d from %q", c, resp.StatusCode, resp.Header.Get("X-Backend"))
		}
	}

	// songs fails in sz: the sz gateway fails over to sh.
	if err := top.SetService(Primary, "songs", Behavior{Workers: 16, Down: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := get(t, top.Centers[Primary].URL+"/api/songs")
		if resp.StatusCode == 200 && strings.HasPrefix(resp.Header.Get("X-Backend"), Secondary+"-songs") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("songs through sz not served by sh within 5s: %d %q", resp.StatusCode, resp.Header.Get("X-Backend"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := top.SetService(Primary, "songs", DefaultServices()[0].Behavior); err != nil {
		t.Fatal(err)
	}

	var b strings.Builder
	top.Describe(&b)
	for _, want := range []string{top.Centers[Primary].URL, top.Centers[Secondary].AdminURL, top.Host(Secondary, "badges", 2).Addr(), "/api/orders"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, b.String())
		}
	}
}

// TestHostReportsOverload: a host with one worker under concurrent load answers with
// Bulwark-Overload once its detector leaves the normal phase.
func TestHostReportsOverload(t *testing.T) {
	h, err := NewHost("svc", "sz", "h1", Behavior{Workers: 1, Latency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	stop := time.Now().Add(3 * time.Second)
	done := make(chan struct{})
	for range 4 { // 4 clients on 1 worker: active/workers = 4
		go func() {
			defer func() { done <- struct{}{} }()
			for time.Now().Before(stop) {
				if _, _, o := h.Stats(); o > 0 {
					return
				}
				resp, err := http.Get("http://" + h.Addr() + "/work")
				if err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if _, _, o := h.Stats(); o == 0 {
		t.Fatal("no overload report from a host with 4× its workers of load")
	}
	if err := h.SetBehavior(Behavior{Workers: 2, ErrorRate: 2}); err == nil {
		t.Fatal("an error rate of 2 was accepted")
	}
}
