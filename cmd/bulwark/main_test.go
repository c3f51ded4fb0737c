package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/cpulock"
)

// These tests build and run the real binary, as users do.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func bulwarkBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "bulwark")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// runBin runs the built binary with args and extra environment, and returns its output and
// exit status; a failure to start it fails the test.
func runBin(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bulwarkBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// upstream is a tiny backend that counts requests.
func upstream(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, "hello from upstream\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &hits
}

func gatewayConfig(listen, admin, host string, extra string) string {
	return fmt.Sprintf(`center: sz
instance: sz-test
listen: %s
admin: {listen: %s}
shutdown_grace: 5s
centers:
  sz: {gateway: http://%s, primary: true}
services:
  songs:
    level: 1
    upstreams: {sz: [%s]}
    timeout: {tavg: 500ms, thwm: 1s, tmax: 2s}
routes:
  - {path: /api/songs, service: songs}
  - {path: /slow, service: songs}
%s`, listen, admin, listen, host, extra)
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(bulwarkBin(t), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "bulwark ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(gatewayConfig("127.0.0.1:18080", "127.0.0.1:19901", "127.0.0.1:7001", "")), 0o600)
	out, err := exec.Command(bulwarkBin(t), "check", "-c", good).CombinedOutput()
	if err != nil {
		t.Fatalf("check good: %v\n%s", err, out)
	}
	for _, want := range []string{"songs", "/api/songs", "config is valid"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check summary lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(gatewayConfig("127.0.0.1:18080", "127.0.0.1:19901", "127.0.0.1:7001", ""),
		"tavg: 500ms", "tavg: 500", 1)), 0o600)
	cmd := exec.Command(bulwarkBin(t), "check", "-c", bad)
	out, err = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("check bad: exit %d, want 1 (%v)\n%s", cmd.ProcessState.ExitCode(), err, out)
	}
	if !strings.Contains(string(out), "bad.yaml:12: services.songs.timeout.tavg") {
		t.Errorf("check bad: error does not name file, line and key:\n%s", out)
	}
}

// runningGateway is the real binary serving a config file.
type runningGateway struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	listen string
	admin  string
	file   string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startBinary(t *testing.T, host string) *runningGateway {
	t.Helper()
	rg := &runningGateway{out: &syncBuffer{}, listen: freePort(t), admin: freePort(t)}
	rg.file = filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(rg.file, []byte(gatewayConfig(rg.listen, rg.admin, host, "")), 0o600)
	rg.cmd = exec.Command(bulwarkBin(t), "gateway", "-c", rg.file)
	rg.cmd.Stdout, rg.cmd.Stderr = rg.out, rg.out
	if err := rg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if rg.cmd.ProcessState == nil {
			rg.cmd.Process.Kill()
			rg.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", rg.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + rg.admin + "/status")
		if err == nil {
			resp.Body.Close()
			return rg
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not start: %v\n%s", err, rg.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGatewayReloadAndShutdown(t *testing.T) {
	host, hits := upstream(t)
	rg := startBinary(t, host)
	resp, err := http.Get("http://" + rg.listen + "/api/songs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Bulwark-Center") != "sz" || hits.Load() != 1 {
		t.Fatalf("status %d center %q hits %d", resp.StatusCode, resp.Header.Get("Bulwark-Center"), hits.Load())
	}

	// A bad config on SIGHUP is refused and the old one keeps serving.
	os.WriteFile(rg.file, []byte("center: [\n"), 0o600)
	rg.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refused reload to be logged", func() bool { return strings.Contains(rg.out.String(), "reload refused") })
	resp, err = http.Get("http://" + rg.listen + "/api/songs")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a bad reload: %v %v", err, resp)
	}
	resp.Body.Close()

	// A good config through POST /reload adds a route.
	os.WriteFile(rg.file, []byte(gatewayConfig(rg.listen, rg.admin, host, "  - {path: /api/new, service: songs}\n")), 0o600)
	resp, err = http.Post("http://"+rg.admin+"/reload", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /reload: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + rg.listen + "/api/new")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("new route after reload: %v %v", err, resp)
	}
	resp.Body.Close()

	// SIGTERM drains: a slow request in flight completes.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + rg.listen + "/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "the slow request to reach the upstream", func() bool { return hits.Load() >= 4 })
	rg.cmd.Process.Signal(syscall.SIGTERM)
	if code := <-done; code != 200 {
		t.Fatalf("in-flight request during shutdown: status %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); rg.cmd.Process.Kill() }()
	if err := rg.cmd.Wait(); err != nil {
		t.Fatalf("gateway exit: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShedsByLevelUnderCPUPressure pins the real gateway to one core and floods four routes
// of levels 1..4 against a fast backend. The gateway's CPU saturates, BBR engages, level 4 is
// shed first and level 1 keeps ≥ 99 % success.
func TestShedsByLevelUnderCPUPressure(t *testing.T) {
	cpulock.Hold(t)
	flood := filepath.Join(filepath.Dir(bulwarkBin(t)), "flood")
	if out, err := exec.Command("go", "build", "-o", flood, "./testdata/flood").CombinedOutput(); err != nil {
		t.Fatalf("build flood: %v\n%s", err, out)
	}
	pin := func(cpu string, args ...string) []string {
		if tp, err := exec.LookPath("taskset"); err == nil {
			return append([]string{tp, "-c", cpu}, args...)
		}
		return args
	}
	host := freePort(t)
	bargs := pin("1", flood, "-serve", host)
	backend := exec.Command(bargs[0], bargs[1:]...)
	if err := backend.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Process.Kill(); backend.Wait() })
	listen, admin := freePort(t), freePort(t)
	routes := ""
	for l := 1; l <= 4; l++ {
		routes += fmt.Sprintf("  - {path: /l%d, service: songs, level: %d}\n", l, l)
	}
	file := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(file, []byte(strings.Replace(gatewayConfig(listen, admin, host, routes),
		"shutdown_grace: 5s", "shutdown_grace: 5s\nlog: {access: false}\nprotection: {adaptive: {window: 5s, buckets: 50, sample_interval: 100ms, sample_decay: 0.7}}", 1)), 0o600)
	args := pin("0", bulwarkBin(t), "gateway", "-c", file)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("gateway output:\n%s", out.String())
		}
	})
	waitFor(t, "the gateway", func() bool {
		resp, err := http.Get("http://" + admin + "/status")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	// Closed-loop clients, from a process built without -race and pinned, like the backend,
	// to the other core: level 1 has few (its load alone fits), levels 2..4 flood.
	var urls []string
	for l := 1; l <= 4; l++ {
		urls = append(urls, fmt.Sprintf("http://%s/l%d", listen, l))
	}
	fargs := pin("1", flood, "-urls", strings.Join(urls, ","), "-workers", "4,24,24,24", "-d", "6s", "-warmup", "2s")
	fout, err := exec.Command(fargs[0], fargs[1:]...).Output()
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	var tallies [4][2]int64 // requests after warm-up, 200s
	if err := json.Unmarshal(fout, &tallies); err != nil {
		t.Fatalf("flood output %q: %v", fout, err)
	}
	var ok, total [4]int64
	for l := range tallies {
		total[l], ok[l] = tallies[l][0], tallies[l][1]
	}
	var shed [4]float64
	for l := 0; l < 4; l++ {
		shed[l] = 1 - float64(ok[l])/float64(max(1, total[l]))
		t.Logf("level %d: %d requests after warm-up, %.4f refused", l+1, total[l], shed[l])
	}
	if shed[0] > 0.01 {
		t.Errorf("level 1 lost %.4f of its requests, want ≤ 1%%", shed[0])
	}
	if shed[3] == 0 {
		t.Error("BBR never shed level 4 with the gateway's only core saturated")
	}
	for l := 3; l > 0; l-- {
		if shed[l] < shed[l-1] {
			t.Errorf("level %d refused %.4f, level %d %.4f: lower levels must go first", l+1, shed[l], l, shed[l-1])
		}
	}
}
