// Package promcheck runs `promtool check metrics` on Prometheus text output in tests, so that
// every package that exports metrics checks them with the real tool the same way.
//
// promtool comes from the prometheus package (apt-get install prometheus). Under scripts/test
// (BULWARK_REQUIRE_DEPS=1) a missing promtool fails the test; under a plain go test it skips
// the test with a message that says what to install.
package promcheck

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Scrape registers cs in a fresh registry and returns what a Prometheus scrape of it reads.
func Scrape(t testing.TB, cs ...prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// Check fails t unless promtool accepts body without a complaint, and unless body declares
// every metric in names.
func Check(t testing.TB, body []byte, names ...string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/promtool"); serr == nil { // PATH may be trimmed in CI
			promtool, err = "/usr/bin/promtool", nil
		}
	}
	if err != nil {
		if os.Getenv("BULWARK_REQUIRE_DEPS") == "1" {
			t.Fatal("promtool not found and BULWARK_REQUIRE_DEPS=1: install prometheus (apt-get install prometheus) for promtool")
		}
		t.Skip("install prometheus (apt-get install prometheus) for promtool")
	}
	for _, name := range names {
		if !bytes.Contains(body, []byte("# TYPE "+name+" ")) {
			t.Errorf("the output lacks %s", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s\n--- output checked:\n%s", err, out, body)
	}
}
