package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPrometheusScrapesGateway is the end-to-end check of issue 7: the real gateway binary
// under bounded load (ok answers, upstream 5xx, failovers to a second center), scraped every
// second by a real Prometheus that loads bulwark-rules.yml. Through Prometheus's HTTP API:
// every rule group is healthy, every rule expression and every dashboard expression
// evaluates without an error, and the core series (request rate per service, p99, in
// flight) are not empty.
func TestPrometheusScrapesGateway(t *testing.T) {
	t.Parallel()
	prom := deployTool(t, "prometheus", "prometheus")
	start := time.Now()
	gw := deployStartGateway(t)
	p := deployStartPrometheus(t, prom, gw.admin)
	t.Logf("gateway and prometheus up after %v", time.Since(start).Round(100*time.Millisecond))

	// Load runs until the recorded series show it (rate() needs two scrapes that saw the
	// counters move), at most 8 x 400 requests. Prometheus's first scrape comes about 5 s
	// after it starts (service discovery hands targets over every 5 s).
	stop := make(chan struct{})
	sentc := make(chan map[string]int, 1)
	go func() { sentc <- gw.load(8, 400, 20*time.Millisecond, stop) }()
	stopped := false
	stopLoad := func() map[string]int {
		if !stopped {
			stopped = true
			close(stop)
		}
		return <-sentc
	}
	defer func() {
		if !stopped {
			stopLoad()
		}
	}()
	core := []string{
		`up{job="bulwark"} == 1`,
		`service_level:bulwark_requests:rate5m{service="songs"} > 0`,
		`service_level:bulwark_requests:rate5m{service="comments"} > 0`,
		`sum by (service) (rate(bulwark_requests_total{service="songs"}[1m])) > 0`,
		`service_level:bulwark_request_duration_seconds:p99_rate5m{service="songs"} > 0`,
		`service_level:bulwark_request_duration_seconds:p99_rate5m{service="comments"} > 0`,
		`service:bulwark_inflight:sum{service="songs"}`,
		`service:bulwark_inflight:sum{service="comments"}`,
		`service_level:bulwark_requests_errors:ratio_rate5m{service="songs"} > 0`,
		`service_to_result:bulwark_failovers:rate5m{service="songs", result="ok"} > 0`,
		`bulwark_retry_window{service="songs", center="sh"}`,
	}
	err := deployPoll(20*time.Second, func() error {
		for _, q := range core {
			if err := p.expectNonEmpty(q); err != nil {
				return err
			}
		}
		return nil
	})
	sent := stopLoad()
	t.Logf("load: %v; core series after %v", sent, time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("core series: %v\ngateway:\n%s\nprometheus:\n%s", err, gw.logs.String(), p.logs.String())
	}

	// Every rule group loaded and evaluated without an error.
	rules := deployLoadRules(t)
	want := 0
	for _, g := range rules.Groups {
		want += len(g.Rules)
	}
	err = deployPoll(10*time.Second, func() error {
		var resp struct {
			Data struct {
				Groups []struct {
					Name  string
					Rules []struct {
						Name, Health, LastError, Query string
					}
				}
			}
		}
		if err := deployGetJSON(p.base+"/api/v1/rules", &resp); err != nil {
			return err
		}
		n := 0
		for _, g := range resp.Data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" || r.LastError != "" {
					return fmt.Errorf("group %s rule %s: health %q, last error %q", g.Name, r.Name, r.Health, r.LastError)
				}
			}
		}
		if len(resp.Data.Groups) != len(rules.Groups) || n != want {
			return fmt.Errorf("prometheus loaded %d groups and %d rules, the file has %d and %d", len(resp.Data.Groups), n, len(rules.Groups), want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("/api/v1/rules: %v", err)
	}

	// Every rule expression and every dashboard expression evaluates now.
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if _, err := p.query(r.Expr); err != nil {
				t.Errorf("group %s rule %s%s: %v", g.Name, r.Record, r.Alert, err)
			}
		}
	}
	exprs := deployDashboardExprs(t, deployLoadDashboard(t), "1m")
	withData := map[string]bool{}
	for _, e := range exprs {
		res, err := p.query(e.Expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.Where, err, e.Expr)
		}
		if len(res) > 0 {
			withData[e.Panel] = true
		} else {
			t.Logf("no data (nothing here exports it, or it did not happen): %s", e.Where)
		}
	}
	// The panels of what this load exercises show it.
	for _, title := range []string{
		"Traffic: requests/s", "Errors: 5xx ratio", "Latency: p99 and p50", "Outcomes",
		"Saturation: in flight", "SLO burn rate (1h)", "Upstream attempt p99 by host",
		"Failovers by result", "Retry window f(i)", "Breaker state by host", "Hosts by state",
		"CPU and the BBR limit", "Rejections by reason",
	} {
		if !withData[title] {
			t.Errorf("dashboard panel %q shows no data under load", title)
		}
	}

	// The dashboard's variables find both services and both levels.
	for _, v := range []struct{ label, match string }{
		{"service", "bulwark_requests_total"}, {"level", `bulwark_requests_total{service=~".+"}`},
	} {
		var resp struct{ Data []string }
		u := p.base + "/api/v1/label/" + v.label + "/values?" + url.Values{"match[]": {v.match}}.Encode()
		if err := deployGetJSON(u, &resp); err != nil {
			t.Fatal(err)
		}
		wantVals := map[string][]string{"service": {"comments", "songs"}, "level": {"1", "2"}}[v.label]
		for _, w := range wantVals {
			if !slices.Contains(resp.Data, w) {
				t.Errorf("variable %s: values %v lack %s", v.label, resp.Data, w)
			}
		}
	}
	t.Logf("took %v", time.Since(start).Round(100*time.Millisecond))
}

// deployGateway is the gateway binary running on loopback.
type deployGateway struct {
	listen, admin string
	logs          *deployTail
}

// deployStartGateway builds cmd/bulwark and runs it with two services: songs (level 1),
// whose /fail paths answer 500 and fail over to center sh, and comments (level 2). Center
// sh's "gateway" is a loopback server that answers like a live gateway. The process is
// killed when the test ends.
func deployStartGateway(t *testing.T) *deployGateway {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bulwark")
	began := time.Now()
	if out, err := deployRun(3*time.Minute, "go", "build", "-o", bin, "../cmd/bulwark"); err != nil {
		t.Fatalf("go build ../cmd/bulwark: %v\n%s", err, out)
	}
	t.Logf("go build ../cmd/bulwark: %v", time.Since(began).Round(100*time.Millisecond))
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			http.Error(w, "backend failure", http.StatusInternalServerError)
		case strings.HasSuffix(r.URL.Path, "/slow"):
			time.Sleep(30 * time.Millisecond)
			io.WriteString(w, "slow ok\n")
		default:
			io.WriteString(w, "ok\n")
		}
	}))
	t.Cleanup(backend.Close)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Bulwark-Center", "sh")
		io.WriteString(w, "served by sh\n")
	}))
	t.Cleanup(remote.Close)

	gw := &deployGateway{listen: deployFreeAddr(t), admin: deployFreeAddr(t), logs: &deployTail{}}
	be := strings.TrimPrefix(backend.URL, "http://")
	cfg := fmt.Sprintf(`center: sz
instance: sz-deploy-test
listen: %s
admin: {listen: %s}
shutdown_grace: 1s
log: {level: warn, access: false}
centers:
  sz: {gateway: http://%s, primary: true}
  sh: {gateway: %s}
services:
  songs:
    level: 1
    upstreams: {sz: [%s]}
    timeout: {tavg: 500ms, thwm: 1s, tmax: 2s}
    passive: {consecutive_failures: 1000000, error_ratio: 1, min_requests: 1000000}
  comments:
    level: 2
    upstreams: {sz: [%s]}
    timeout: {tavg: 500ms, thwm: 1s, tmax: 2s}
routes:
  - {path: /api/songs, service: songs}
  - {path: /api/comments, service: comments}
`, gw.listen, gw.admin, gw.listen, remote.URL, be, be)
	file := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "gateway", "-c", file)
	cmd.Stdout, cmd.Stderr = gw.logs, gw.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := deployPoll(10*time.Second, func() error { return deployGetJSON("http://"+gw.admin+"/metrics", nil) }); err != nil {
		t.Fatalf("gateway admin not up: %v\n%s", err, gw.logs.String())
	}
	return gw
}

// load sends up to n requests from each of workers, each pausing pause after a request,
// until stop is closed, and returns the count of answers by path and status. A quarter fail
// locally and fail over to center sh.
func (gw *deployGateway) load(workers, n int, pause time.Duration, stop <-chan struct{}) map[string]int {
	paths := []string{"/api/songs/fail", "/api/songs/ok", "/api/comments/slow", "/api/comments/ok"}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				select {
				case <-stop:
					return
				default:
				}
				path := paths[(w+i)%len(paths)]
				key := path + " error"
				if resp, err := deployHTTP.Get("http://" + gw.listen + path); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					key = fmt.Sprintf("%s %d", path, resp.StatusCode)
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
				time.Sleep(pause)
			}
		})
	}
	wg.Wait()
	return counts
}

// deployPrometheus is a prometheus server on loopback.
type deployPrometheus struct {
	base string
	logs *deployTail
}

// deployStartPrometheus runs prometheus scraping the gateway's admin /metrics every second,
// evaluating bulwark-rules.yml every second, with its TSDB in a temporary directory. The
// process is killed when the test ends.
func deployStartPrometheus(t *testing.T, bin, target string) *deployPrometheus {
	t.Helper()
	rules, err := filepath.Abs(deployRulesPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: bulwark
    static_configs:
      - targets: [%q]
`, rules, target)
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := deployFreeAddr(t)
	p := &deployPrometheus{base: "http://" + addr, logs: &deployTail{}}
	cmd := exec.Command(bin, "--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := deployPoll(15*time.Second, func() error { return deployGetJSON(p.base+"/-/ready", nil) }); err != nil {
		t.Fatalf("prometheus not ready: %v\n%s", err, p.logs.String())
	}
	return p
}

// query evaluates expr now through /api/v1/query and returns the result's series (a vector
// or matrix; a scalar or string is one element). An error status or a warning is an error.
func (p *deployPrometheus) query(expr string) ([]json.RawMessage, error) {
	resp, err := deployHTTP.PostForm(p.base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string
		Error     string
		ErrorType string
		Warnings  []string
		Data      struct {
			ResultType string
			Result     json.RawMessage
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %v", resp.Status, err)
	}
	if body.Status != "success" || len(body.Warnings) > 0 {
		return nil, fmt.Errorf("%s: status %q %s: %s; warnings %v", resp.Status, body.Status, body.ErrorType, body.Error, body.Warnings)
	}
	if body.Data.ResultType == "scalar" || body.Data.ResultType == "string" {
		return []json.RawMessage{body.Data.Result}, nil
	}
	var series []json.RawMessage
	if err := json.Unmarshal(body.Data.Result, &series); err != nil {
		return nil, err
	}
	return series, nil
}

// expectNonEmpty returns an error unless expr evaluates to at least one series.
func (p *deployPrometheus) expectNonEmpty(expr string) error {
	res, err := p.query(expr)
	if err != nil {
		return fmt.Errorf("%s: %v", expr, err)
	}
	if len(res) == 0 {
		return fmt.Errorf("%s: empty", expr)
	}
	return nil
}
