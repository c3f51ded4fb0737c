package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// start builds and runs the example as a user would, with args, and returns its base URL and
// a function that stops it with SIGINT and returns what it printed.
func start(t *testing.T, args ...string) (string, func() string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "service listening on ") {
		_ = cmd.Process.Kill()
		t.Fatalf("first line %q", lines.Text())
	}
	url := strings.Fields(strings.TrimPrefix(lines.Text(), "service listening on "))[0]
	stopped := false
	stop := func() string {
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		var rest strings.Builder
		for lines.Scan() {
			rest.WriteString(lines.Text() + "\n")
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the service did not stop on SIGINT")
		}
		return rest.String()
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return url, stop
}

func getJSON(t *testing.T, url string, hdr map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %d %q is not JSON", url, resp.StatusCode, body)
	}
	return resp.StatusCode, v, resp.Header
}

func TestServiceRuns(t *testing.T) {
	url, stop := start(t)
	code, v, _ := getJSON(t, url+"/products/7", nil)
	st, _ := v["stock"].(map[string]any)
	if code != http.StatusOK || v["storage"] != "production" || st["in_stock"] != 3.0 {
		t.Fatalf("/products/7: %d %v", code, v)
	}
	if _, v, _ := getJSON(t, url+"/products/7", map[string]string{"Bulwark-Color": "stress"}); v["storage"] != "shadow" {
		t.Fatalf("a colored request used %v storage", v["storage"])
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`bulwark_httpmw_requests_total{handler="service"} 2`,
		`bulwark_httpmw_client_requests_total{client="inventory",host=`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if out := stop(); !strings.Contains(out, "service stopped") {
		t.Fatalf("no clean stop: %q", out)
	}
}

// TestServiceDegradesWithoutItsDependency: with the inventory unreachable, the product page
// still answers, from the fallback.
func TestServiceDegradesWithoutItsDependency(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	url, _ := start(t, "-dependency", dead)
	code, v, _ := getJSON(t, url+"/products/42", nil)
	st, _ := v["stock"].(map[string]any)
	if code != http.StatusOK || st["degraded"] != true || st["in_stock"] != nil {
		t.Fatalf("/products/42 without inventory: %d %v", code, v)
	}
}
