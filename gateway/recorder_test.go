package gateway

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// recorderConfig is a validated recorder section writing to dir.
func recorderConfig(t testing.TB, dir string, change func(*config.Recorder)) config.Recorder {
	t.Helper()
	cfg := testConfig("sz", map[string]string{"sz": "127.0.0.1:1", "sh": "127.0.0.1:2"})
	addService(cfg, "songs", 2, map[string][]string{"sz": {"127.0.0.1:7001"}}, false)
	cfg.Recorder.Dir, cfg.Recorder.Sample = dir, 1
	cfg.Recorder.Redact = []string{"X-Api-Key"}
	if change != nil {
		change(&cfg.Recorder)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg.Recorder
}

func newTestRecorder(clk clock.Clock) *recorder {
	return newRecorder(clk, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

// recordRequest records one request with an optional body held as the gateway holds it.
func recordRequest(t testing.TB, rc *recorder, method, target string, header http.Header, body string) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	var fb *forward.Body
	if body != "" {
		var err error
		if fb, err = forward.NewBody(req.Body, req.ContentLength, 1<<20, 0); err != nil {
			t.Fatal(err)
		}
		defer fb.Release()
	}
	if s := rc.cur.Load(); s != nil {
		rc.record(s, req, fb)
	}
}

// readLines parses every traffic file in dir, in name order.
func readLines(t testing.TB, dir string) (files []string, lines []recordedLine) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "traffic-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ln recordedLine
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ln); err != nil {
				t.Fatalf("%s: %q: %v", name, sc.Text(), err)
			}
			lines = append(lines, ln)
		}
		f.Close()
	}
	return files, lines
}

// TestRecorderLineFormat: sample 1 records every request, in the agreed format, with the
// chosen headers only, sensitive ones never, and the body cut to max_body.
func TestRecorderLineFormat(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 500, time.UTC))
	rc := newTestRecorder(clk)
	cfg := recorderConfig(t, dir, func(r *config.Recorder) {
		r.MaxBody = 4
		r.Headers = []string{"Accept", "User-Agent", "X-Tenant"}
	})
	if _, err := rc.start(cfg, RecorderOverrides{}); err != nil {
		t.Fatal(err)
	}
	secret := http.Header{"Accept": {"*/*", "text/html"}, "Authorization": {"Bearer x"}, "Cookie": {"a=b"},
		"Proxy-Authorization": {"x"}, "X-Api-Key": {"k"}, "X-Tenant": {"t1"}}
	recordRequest(t, rc, http.MethodGet, "http://h/api/songs?a=1&b=%20", secret, "")
	recordRequest(t, rc, http.MethodPost, "http://h/api/songs", nil, "hello world")
	st, on := rc.stop()
	if !on || st.On || st.Lines != 2 || st.Dropped != 0 || st.Files != 1 {
		t.Fatalf("status %+v", st)
	}
	raw, err := os.ReadFile(st.File)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2025-03-01T12:00:00.0000005Z","method":"GET","path":"/api/songs","query":"a=1\u0026b=%20","headers":{"Accept":["*/*","text/html"],"X-Tenant":["t1"]}}
{"time":"2025-03-01T12:00:00.0000005Z","method":"POST","path":"/api/songs","query":"","headers":{},"body_b64":"` +
		base64.StdEncoding.EncodeToString([]byte("hell")) + "\"}\n"
	if string(raw) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", raw, want)
	}
	if filepath.Base(st.File) != "traffic-20250301T120000Z-000001.jsonl" || st.Bytes != int64(len(raw)) {
		t.Errorf("file %s, %d bytes", st.File, st.Bytes)
	}
}

// TestRecorderSampling: with an injected rand source, sample s records exactly the rolls under s.
func TestRecorderSampling(t *testing.T) {
	rc := newTestRecorder(clock.NewFake(time.Time{}))
	rolls := []float64{0.1, 0.25, 0.2499, 0.9}
	var i atomic.Int64
	rc.rnd = func() float64 { return rolls[int(i.Add(1)-1)%len(rolls)] }
	if _, err := rc.start(recorderConfig(t, t.TempDir(), nil), RecorderOverrides{Sample: 0.25}); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		recordRequest(t, rc, http.MethodGet, "http://h/api/songs", nil, "")
	}
	if st, _ := rc.stop(); st.Lines != 4 || st.Sample != 0.25 {
		t.Fatalf("status %+v, want 4 lines at sample 0.25", st)
	}
}

// TestRecorderRotation: files rotate before max_file, and only the newest max_files stay,
// files of an earlier session included.
func TestRecorderRotation(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Time{})
	rc := newTestRecorder(clk)
	cfg := recorderConfig(t, dir, func(r *config.Recorder) { r.MaxFile, r.MaxFiles = 1024, 3 })
	// An earlier session's file, oldest by name.
	if err := os.WriteFile(filepath.Join(dir, "traffic-20000101T000000Z-000001.jsonl"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.start(cfg, RecorderOverrides{}); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 300) // a line of about 510 bytes: two per file
	const n = 10
	for i := range n {
		recordRequest(t, rc, http.MethodPost, "http://h/api/songs?i="+string(rune('a'+i)), nil, body)
		// Wait for the writer, so that no line is dropped for a full queue.
		eventually(t, 5*time.Second, "the line to be written", func() bool { return rc.status().Lines == int64(i+1) })
	}
	st, _ := rc.stop()
	files, lines := readLines(t, dir)
	if st.Files != 5 || len(files) != 3 || files[2] != st.File {
		t.Fatalf("%d files opened, %v kept, current %s", st.Files, files, st.File)
	}
	// Two lines of about 510 bytes fit in a file: the newest 3 files hold the last 6 lines.
	if len(lines) != 6 || lines[5].Query != "i=j" || lines[0].Query != "i=e" {
		t.Fatalf("kept %d lines, first %q last %q", len(lines), lines[0].Query, lines[len(lines)-1].Query)
	}
	for _, name := range files {
		if fi, err := os.Stat(name); err != nil || fi.Size() > 1024 {
			t.Errorf("%s: %v, size over max_file", name, err)
		}
	}
}

// blockingFile is a file whose writes wait until release is closed.
type blockingFile struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	buf     bytes.Buffer
	mu      sync.Mutex
}

func (f *blockingFile) Write(p []byte) (int, error) {
	f.once.Do(func() { close(f.entered) })
	<-f.release
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

func (f *blockingFile) Close() error { return nil }

// TestRecorderDropsWhenTheQueueIsFull: a writer stuck on the disk never blocks the request
// path; lines past the queue are dropped and counted exactly.
func TestRecorderDropsWhenTheQueueIsFull(t *testing.T) {
	rc := newTestRecorder(clock.NewFake(time.Time{}))
	bf := &blockingFile{entered: make(chan struct{}), release: make(chan struct{})}
	rc.create = func(string) (io.WriteCloser, error) { return bf, nil }
	const queue, extra = 4, 7
	if _, err := rc.start(recorderConfig(t, t.TempDir(), func(r *config.Recorder) { r.Queue = queue }), RecorderOverrides{}); err != nil {
		t.Fatal(err)
	}
	recordRequest(t, rc, http.MethodGet, "http://h/api/songs", nil, "")
	receive(t, bf.entered, "the writer to block")
	for range queue + extra {
		recordRequest(t, rc, http.MethodGet, "http://h/api/songs", nil, "")
	}
	if st := rc.status(); st.Dropped != extra {
		t.Fatalf("dropped %d, want %d", st.Dropped, extra)
	}
	close(bf.release)
	st, _ := rc.stop()
	if st.Lines != 1+queue || st.Dropped != extra || strings.Count(bf.buf.String(), "\n") != 1+queue {
		t.Fatalf("status %+v, %d lines in the file", st, strings.Count(bf.buf.String(), "\n"))
	}
}

// TestRecorderConcurrent: many goroutines record while the writer runs; every line offered is
// either written or counted as dropped, and the file holds exactly the written ones.
func TestRecorderConcurrent(t *testing.T) {
	dir := t.TempDir()
	rc := newTestRecorder(nil)
	if _, err := rc.start(recorderConfig(t, dir, func(r *config.Recorder) { r.Queue = 16 }), RecorderOverrides{}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 250
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				recordRequest(t, rc, http.MethodPost, "http://h/api/songs", nil, "body")
				_ = rc.status()
			}
		}()
	}
	wg.Wait()
	st, _ := rc.stop()
	_, lines := readLines(t, dir)
	if st.Lines+st.Dropped != workers*each || int64(len(lines)) != st.Lines {
		t.Fatalf("written %d + dropped %d != %d, or %d lines in files", st.Lines, st.Dropped, workers*each, len(lines))
	}
}

func TestRecorderStartErrors(t *testing.T) {
	dir := t.TempDir()
	rc := newTestRecorder(nil)
	cfg := recorderConfig(t, dir, nil)
	tests := []struct {
		name string
		o    RecorderOverrides
		want error
	}{
		{"sample over 1", RecorderOverrides{Sample: 1.5}, ErrBadRecorder},
		{"max_file under 1KiB", RecorderOverrides{MaxFile: 10}, ErrBadRecorder},
		{"redacted header", RecorderOverrides{Headers: []string{"cookie"}}, ErrBadRecorder},
		{"config redacted header", RecorderOverrides{Headers: []string{"x-api-key"}}, ErrBadRecorder},
		{"bad header", RecorderOverrides{Headers: []string{"a b"}}, ErrBadRecorder},
		{"negative", RecorderOverrides{MaxFiles: -1}, ErrBadRecorder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rc.start(cfg, tt.o); !errors.Is(err, tt.want) {
				t.Fatalf("start(%+v) = %v, want %v", tt.o, err, tt.want)
			}
		})
	}
	if _, err := rc.start(cfg, RecorderOverrides{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.start(cfg, RecorderOverrides{}); !errors.Is(err, ErrRecorderOn) {
		t.Fatalf("second start: %v", err)
	}
	rc.stop()
	if _, on := rc.stop(); on {
		t.Fatal("second stop reported a running session")
	}
	file := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.start(cfg, RecorderOverrides{Dir: filepath.Join(file, "sub")}); err == nil || errors.Is(err, ErrBadRecorder) {
		t.Fatalf("start in an impossible directory: %v", err)
	}
}

// TestRecorderAdminAPI records real traffic through a real gateway, started and stopped
// through the admin API.
func TestRecorderAdminAPI(t *testing.T) {
	host := newBackend(t, "sz-a")
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String(), "sh": "127.0.0.1:2"})
	addService(cfg, "songs", 2, map[string][]string{"sz": {host.addr}}, false)
	cfg.Routes = append(cfg.Routes, &config.Route{Path: "/api/upload", Methods: []string{"POST"}, Service: "songs"})
	cfg.Retry.ReplayBuffer = 64
	cfg.Recorder.MaxBody = 8
	g, _ := startGateway(t, cfg, ln)
	url := "http://" + ln.Addr().String()

	if status, _, b := adminCall(t, g, http.MethodGet, "/recorder", "", ""); status != 200 || !strings.Contains(string(b), `"on": false`) {
		t.Fatalf("GET /recorder before start: %d %s", status, b)
	}
	dir := t.TempDir()
	if status, _, b := adminCall(t, g, http.MethodPost, "/recorder/start", "", `{"sample":2}`); status != 400 {
		t.Fatalf("start with sample 2: %d %s", status, b)
	}
	status, _, b := adminCall(t, g, http.MethodPost, "/recorder/start", "", `{"sample":1,"dir":"`+dir+`"}`)
	if status != 200 || !strings.Contains(string(b), `"on": true`) {
		t.Fatalf("start: %d %s", status, b)
	}
	if status, _, _ := adminCall(t, g, http.MethodPost, "/recorder/start", "", ""); status != http.StatusConflict {
		t.Fatalf("second start: %d, want 409", status)
	}
	fetch(t, http.MethodGet, url+"/api/songs?q=1", http.Header{"Authorization": {"Bearer s"}, "Cookie": {"c=1"}, "Accept": {"text/plain"}})
	for _, body := range []string{"small body", strings.Repeat("L", 100)} { // held for replay, and streamed
		resp, err := http.Post(url+"/api/upload", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	fetch(t, http.MethodGet, url+"/nowhere", nil) // no route: not recorded
	status, _, b = adminCall(t, g, http.MethodPost, "/recorder/stop", "", "")
	var st RecorderStatus
	if err := json.Unmarshal(b, &st); status != 200 || err != nil || st.On || st.Lines != 3 {
		t.Fatalf("stop: %d %s", status, b)
	}
	_, lines := readLines(t, dir)
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	get, small, large := lines[0], lines[1], lines[2]
	if get.Method != "GET" || get.Query != "q=1" || get.Headers["Accept"][0] != "text/plain" ||
		get.Headers["Authorization"] != nil || get.Headers["Cookie"] != nil || len(get.Headers["User-Agent"]) != 1 {
		t.Errorf("GET line %+v", get)
	}
	if b, _ := base64.StdEncoding.DecodeString(small.BodyB64); string(b) != "small bo" || small.Headers["Content-Type"][0] != "text/plain" {
		t.Errorf("small POST line %+v (body %q)", small, b)
	}
	if large.Path != "/api/upload" || large.BodyB64 != "" {
		t.Errorf("a streamed body was recorded: %+v", large)
	}
	if status, _, b := adminCall(t, g, http.MethodGet, "/recorder", "", ""); status != 200 || !strings.Contains(string(b), `"lines": 3`) {
		t.Fatalf("GET /recorder after stop: %d %s", status, b)
	}
}

// TestRecorderEnabledStopsOnShutdown: recorder.enabled starts recording with the gateway, and
// Shutdown writes and flushes every line and ends the writer.
func TestRecorderEnabledStopsOnShutdown(t *testing.T) {
	host := newBackend(t, "sz-a")
	ln := listen(t)
	cfg := testConfig("sz", map[string]string{"sz": ln.Addr().String(), "sh": "127.0.0.1:2"})
	addService(cfg, "songs", 2, map[string][]string{"sz": {host.addr}}, false)
	dir := t.TempDir()
	cfg.Recorder = config.Recorder{Enabled: true, Dir: dir, Sample: 1}
	g, _ := startGateway(t, cfg, ln)
	for range 5 {
		fetch(t, http.MethodGet, "http://"+ln.Addr().String()+"/api/songs", nil)
	}
	s := g.rec.cur.Load()
	if s == nil {
		t.Fatal("recorder.enabled did not start the recorder")
	}
	if err := g.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	receive(t, s.done, "the writer to end")
	if _, lines := readLines(t, dir); len(lines) != 5 || g.RecorderStatus().On {
		t.Fatalf("%d lines after shutdown, status %+v", len(lines), g.RecorderStatus())
	}
}
