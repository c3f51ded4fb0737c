package twocenters_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
)

// topology is the README's setup: five backends and two gateways, on ports the test picked.
type topology struct {
	client   *http.Client
	sz, sh   string // gateway base URLs
	szAdmin  string // sz's admin base URL
	backends map[string]*proc
	addrs    map[string]string // backend name -> its address
	gateways map[string]*proc
}

// exampleAddrs maps each backend of the example to the address its config names.
var exampleAddrs = map[string]string{
	"sz-a": "127.0.0.1:7001", "sz-b": "127.0.0.1:7002", "sz-orders": "127.0.0.1:7003",
	"sh-a": "127.0.0.1:7101", "sh-b": "127.0.0.1:7102",
}

// startTopology starts the backends on free ports, writes copies of sz.yaml and sh.yaml with
// every address rewritten into a temp dir, and starts the real bulwark binary on each.
func startTopology(t *testing.T) *topology {
	t.Helper()
	bulwark, backend := binaries(t)
	tp := &topology{
		client:   &http.Client{Timeout: 5 * time.Second},
		backends: map[string]*proc{},
		addrs:    map[string]string{},
		gateways: map[string]*proc{},
	}
	t.Cleanup(tp.client.CloseIdleConnections)
	rewrite := map[string]string{}
	for name, old := range exampleAddrs {
		p := start(t, name, backend, "-name", name, "-listen", "127.0.0.1:0")
		tp.backends[name] = p
		tp.addrs[name] = p.backendAddr(t)
		rewrite[old] = tp.addrs[name]
	}
	gw := map[string]string{}
	for _, old := range []string{"127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:9901", "127.0.0.1:9902"} {
		gw[old] = freeAddr(t)
		rewrite[old] = gw[old]
	}
	tp.sz, tp.sh = "http://"+gw["127.0.0.1:8080"], "http://"+gw["127.0.0.1:8081"]
	tp.szAdmin = "http://" + gw["127.0.0.1:9901"]

	dir := t.TempDir()
	named := map[string]bool{} // example addresses found in the files
	for _, center := range []string{"sz", "sh"} {
		data, err := os.ReadFile(center + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for old, addr := range rewrite {
			named[old] = named[old] || strings.Contains(text, old)
			text = strings.ReplaceAll(text, old, addr)
		}
		file := filepath.Join(dir, center+".yaml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(file); err != nil {
			t.Fatalf("the rewritten %s.yaml is not valid: %v", center, err)
		}
		tp.gateways[center] = start(t, "gateway "+center, bulwark, "gateway", "-c", file)
	}
	for old := range rewrite {
		if !named[old] {
			t.Fatalf("neither sz.yaml nor sh.yaml names %s any more; update the test and README.md", old)
		}
	}
	tp.gateways["sz"].waitOK(t, tp.client, tp.sz+"/api/songs")
	tp.gateways["sh"].waitOK(t, tp.client, tp.sh+"/api/songs")
	return tp
}

// reply is what the test reads from one response.
type reply struct {
	status  int
	center  string // Bulwark-Center
	backend string // X-Backend
	header  http.Header
	body    string
}

func (tp *topology) do(t *testing.T, method, url, body string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := tp.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Bulwark-Center"), resp.Header.Get("X-Backend"), resp.Header, string(b)}
}

// TestTwoCenters checks the README's claims against the real binaries, in the README's order.
func TestTwoCenters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven processes; skipped with -short")
	}
	tp := startTopology(t)

	t.Run("reads are served in the center the client reached", func(t *testing.T) {
		for _, tc := range []struct{ name, url, center, backendPrefix string }{
			{"sz", tp.sz, "sz", "sz-"},
			{"sh", tp.sh, "sh", "sh-"},
		} {
			for range 4 {
				r := tp.do(t, "GET", tc.url+"/api/songs", "", nil)
				if r.status != 200 || r.center != tc.center || !strings.HasPrefix(r.backend, tc.backendPrefix) || r.backend == "sz-orders" {
					t.Fatalf("%s: GET /api/songs = %d center %q backend %q, want 200 %s %s*", tc.name, r.status, r.center, r.backend, tc.center, tc.backendPrefix)
				}
			}
		}
	})

	t.Run("a write that reaches sh is served by sz's orders backend", func(t *testing.T) {
		before := tp.orderCount(t)
		r := tp.do(t, "POST", tp.sh+"/api/orders", `{"song":2}`, map[string]string{"X-User-Id": "writer"})
		if r.status != 201 || r.center != "sh" || r.backend != "sz-orders" || !strings.Contains(r.body, `"received":10`) {
			t.Fatalf("POST sh /api/orders = %d center %q backend %q body %s, want 201 sh sz-orders", r.status, r.center, r.backend, r.body)
		}
		if after := tp.orderCount(t); after != before+1 {
			t.Fatalf("sz-orders recorded %d orders, want %d", after, before+1)
		}
	})

	t.Run("block rules refuse at the entry", func(t *testing.T) {
		r := tp.do(t, "GET", tp.sz+"/api/songs", "", map[string]string{"User-Agent": "BadBot/1.0"})
		if r.status != 403 || r.center != "sz" || r.backend != "" {
			t.Fatalf("BadBot: %d center %q backend %q, want 403 from sz with no backend", r.status, r.center, r.backend)
		}
	})

	t.Run("one user's sixth order in a second gets 429", func(t *testing.T) {
		limited := 0
		for i := range 10 {
			r := tp.do(t, "POST", tp.sz+"/api/orders", `{"n":1}`, map[string]string{"X-User-Id": "hasty"})
			switch {
			case r.status == 429:
				limited++
				if r.header.Get("Retry-After") == "" || r.header.Get("Bulwark-Reject") == "" || r.center != "sz" {
					t.Errorf("429 without Retry-After, Bulwark-Reject or Bulwark-Center: %v", r.header)
				}
			case r.status != 201:
				t.Fatalf("order %d: status %d, want 201 or 429", i, r.status)
			}
		}
		if limited == 0 {
			t.Fatal("10 orders in quick succession by one user were all accepted (limit 5/s)")
		}
	})

	t.Run("with sz's songs backends gone, reads through sz are served by sh", func(t *testing.T) {
		for _, name := range []string{"sz-a", "sz-b"} {
			if err := tp.backends[name].stop(); err != nil {
				t.Fatalf("%s did not stop gracefully on SIGTERM: %v", name, err)
			}
		}
		// The retry window starts a period at f = 1 failover (SEEDS.md A2), so in the first
		// second only one read fails over and the rest get sz's honest 502. sh answers each
		// failover with Bulwark-Credit, and from the next period on the window is that credit:
		// then every read must reach sh. Wait (up to 10 s) for 20 reads in a row to do so.
		deadline := time.Now().Add(10 * time.Second)
		var r reply
		firstOK, inRow := false, 0
		for inRow < 20 {
			if time.Now().After(deadline) {
				t.Fatalf("reads through sz did not settle on sh within 10 s (first failover ok: %v, %d in a row); last: %d center %q backend %q reject %q",
					firstOK, inRow, r.status, r.center, r.backend, r.header.Get("Bulwark-Reject"))
			}
			r = tp.do(t, "GET", tp.sz+"/api/songs", "", nil)
			if r.center != "sz" {
				t.Fatalf("a read through sz answered without Bulwark-Center: sz: %d %q", r.status, r.center)
			}
			if r.status == 200 && strings.HasPrefix(r.backend, "sh-") {
				firstOK = true
				inRow++
				continue
			}
			if r.status == 200 {
				t.Fatalf("a read through sz was served by %q after sz's songs backends stopped", r.backend)
			}
			inRow = 0
			time.Sleep(20 * time.Millisecond)
		}
		metrics := tp.do(t, "GET", tp.szAdmin+"/metrics", "", nil).body
		if !strings.Contains(metrics, "bulwark_failovers_total") || !strings.Contains(metrics, `result="ok"`) {
			t.Errorf("sz's /metrics does not count ok failovers:\n%s", grepLines(metrics, "bulwark_failovers_total"))
		}
	})

	t.Run("everything stops gracefully on SIGTERM", func(t *testing.T) {
		tp.client.CloseIdleConnections()
		for _, name := range []string{"sz", "sh"} {
			if err := tp.gateways[name].stop(); err != nil {
				t.Errorf("gateway %s: %v", name, err)
			}
		}
		for name, p := range tp.backends {
			if err := p.stop(); err != nil {
				t.Errorf("backend %s: %v", name, err)
			}
		}
	})
}

// orderCount asks sz-orders directly how many orders it has recorded.
func (tp *topology) orderCount(t *testing.T) int64 {
	t.Helper()
	r := tp.do(t, "GET", "http://"+tp.addrs["sz-orders"]+"/api/orders", "", nil)
	var v struct{ Orders int64 }
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != 200 {
		t.Fatalf("GET sz-orders /api/orders: %d %s (%v)", r.status, r.body, err)
	}
	return v.Orders
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
