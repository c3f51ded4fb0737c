package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// benchJSON is the part of `bench --json` these tests read.
type benchJSON struct {
	Runs       int              `json:"runs"`
	Scheduled  int64            `json:"scheduled"`
	Sent       int64            `json:"sent"`
	Completed  int64            `json:"completed"`
	Status     map[string]int64 `json:"status"`
	Rejects    map[string]int64 `json:"rejects"`
	StoppedBy  string           `json:"stopped_by"`
	LatencyHDR string           `json:"latency_hdr"`
}

func runBenchBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBin(t, nil, append([]string{"bench"}, args...)...)
}

func TestBenchCLI(t *testing.T) {
	var hits, colored, weighted, replayed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Bulwark-Color") == "stress" {
			colored.Add(1)
		}
		switch r.URL.Path {
		case "/heavy":
			weighted.Add(1)
		case "/replayed":
			if r.Method == http.MethodPost && r.URL.RawQuery == "a=1" && r.Header.Get("X-Rec") == "yes" {
				replayed.Add(1)
			}
		case "/fail":
			w.Header().Set("Bulwark-Reject", "shed")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	dir := t.TempDir()

	t.Run("json, weights, color and hdr", func(t *testing.T) {
		hits.Store(0)
		hdr := filepath.Join(dir, "run.hdr")
		out, errs, code := runBenchBin(t, "--rate", "200", "--duration", "1s", "--color", "stress", "--json", "--hdr", hdr,
			"1@"+srv.URL+"/light", "3@"+srv.URL+"/heavy")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var r benchJSON
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if r.Sent != 200 || r.Status["200"] != 200 || hits.Load() != 200 || colored.Load() != 200 || !strings.HasPrefix(r.LatencyHDR, "HIST") {
			t.Fatalf("report %+v, server saw %d (%d colored)", r, hits.Load(), colored.Load())
		}
		if w := weighted.Load(); w < 120 || w > 180 {
			t.Fatalf("weight 3 of 4 got %d of 200", w)
		}
		os.WriteFile(filepath.Join(dir, "a.json"), []byte(out), 0o600)
		h, err := os.ReadFile(hdr)
		if err != nil || !strings.Contains(string(h), "Percentile") || !strings.Contains(string(h), "Total count    =          200") {
			t.Fatalf("hdr file: %v\n%s", err, h)
		}
	})

	t.Run("text report and replay", func(t *testing.T) {
		rec := filepath.Join(dir, "traffic.jsonl")
		os.WriteFile(rec, []byte(`{"time":"2025-01-02T15:04:05Z","method":"POST","path":"/replayed","query":"a=1","headers":{"X-Rec":["yes"]},"body_b64":"aGk="}`+"\n"), 0o600)
		out, errs, code := runBenchBin(t, "--rate", "100", "--duration", "1500ms", "--replay", rec, "--target", srv.URL, "--progress")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for _, want := range []string{"bulwark bench: 150 requests in 1.50s", "p99.99", "200: 150 (100.00%)"} {
			if !strings.Contains(out, want) {
				t.Fatalf("text report lacks %q:\n%s", want, out)
			}
		}
		if replayed.Load() != 150 {
			t.Fatalf("replayed %d of 150", replayed.Load())
		}
		if !strings.Contains(errs, "/s (target 100)") {
			t.Fatalf("--progress printed no line: %q", errs)
		}
	})

	t.Run("stop rule exits 3", func(t *testing.T) {
		out, errs, code := runBenchBin(t, "--rate", "100", "--duration", "30s", "--json",
			"--stop-if", "error_rate>5% over 1s", srv.URL+"/fail")
		if code != 3 || !strings.Contains(errs, `stopped by rule "error_rate>5% over 1s"`) {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		var r benchJSON
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.StoppedBy != "error_rate>5% over 1s" || r.Rejects["shed"] == 0 {
			t.Fatalf("%v %+v", err, r)
		}
		os.WriteFile(filepath.Join(dir, "b.json"), []byte(out), 0o600)
	})

	t.Run("report merges runs", func(t *testing.T) {
		cmd := exec.Command(bulwarkBin(t), "bench", "report", "--json", filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		var a, b, m benchJSON
		for name, p := range map[string]*benchJSON{"a.json": &a, "b.json": &b} {
			data, _ := os.ReadFile(filepath.Join(dir, name))
			json.Unmarshal(data, p)
		}
		if err := json.Unmarshal(out, &m); err != nil || m.Runs != 2 || m.Sent != a.Sent+b.Sent || m.Status["200"] != 200 || m.Status["503"] != b.Completed {
			t.Fatalf("merged %+v (%v)", m, err)
		}
		text, err := exec.Command(bulwarkBin(t), "bench", "report", filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")).Output()
		if err != nil || !strings.Contains(string(text), "(2 runs merged)") {
			t.Fatalf("%v\n%s", err, text)
		}
	})

	t.Run("setup errors exit 1", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--stop-if", "p99>200", srv.URL}, `bad stop rule "p99>200"`},
			{[]string{"--rate", "fast", srv.URL}, `rate "fast"`},
			{[]string{"x@" + srv.URL}, "weight before @"},
			{[]string{}, "no target"},
			{[]string{"--replay", "/nonexistent.jsonl", "--target", srv.URL}, "nonexistent"},
			{[]string{"--warmup", "20s", srv.URL}, "--warmup"},
			{[]string{"--steps", "1x1s", "--rate", "5", srv.URL}, "--steps cannot"},
		} {
			_, errs, code := runBenchBin(t, tc.args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("bench %v: exit %d, stderr %q; want 1 and %q", tc.args, code, errs, tc.want)
			}
		}
		if out, err := exec.Command(bulwarkBin(t), "bench", "report", "/nonexistent.json").CombinedOutput(); err == nil || !strings.Contains(string(out), "nonexistent") {
			t.Errorf("report of a missing file: %v %s", err, out)
		}
	})
}
