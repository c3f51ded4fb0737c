package gateway

// The traffic recorder (SEEDS.md C4): it samples requests to JSONL files, from which the load
// engine builds load that looks like real traffic. One line per request:
//
//	{"time":"RFC3339Nano","method":"GET","path":"/api/songs","query":"a=1","headers":{"Accept":["*/*"]},"body_b64":"..."}
//
// Decisions where the issue is silent:
//   - Where: when the gateway prepares the request body for the upstream (after routing, the
//     entry rules, admission and the degrade switch, for local and for forwarded writes).
//     Requests refused before that are not recorded: the recording is the traffic that
//     reached the services.
//   - The body is recorded only when the gateway holds it anyway for replay (a body up to
//     retry.replay_buffer), so recording never reads the incoming body itself and never slows
//     or breaks a streamed one. A longer body is recorded without body_b64. A held body is cut
//     to max_body bytes.
//   - path is the decoded URL path, query the raw query string, time the recording time in
//     UTC. headers holds only the configured headers the request has, with their values in
//     order; headers is {} when it has none. body_b64 is standard base64 with padding.
//   - The request path never waits on the disk: it encodes the line and offers it to a
//     bounded channel (recorder.queue lines); when the channel is full the line is dropped and
//     counted. One writer goroutine per recording session writes through a buffer that it
//     flushes whenever the channel is empty.
//   - Files are traffic-<start>-<n>.jsonl: <start> is the session's start, UTC,
//     20060102T150405Z; <n> counts from 000001. A file rotates before a line would take it
//     past max_file (a line longer than max_file gets a file of its own). After each new file,
//     the oldest traffic-*.jsonl in the directory beyond max_files are deleted, earlier
//     sessions' included.
//   - A write error drops the line (counted), is shown in the status, and closes the file; the
//     next line opens a new one.
//   - Start overrides apply to that session only; the config (recorder.enabled included) is
//     read at each start, and a reload does not touch a running session.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/internal/clock"
)

// Errors of the recorder API.
var (
	ErrRecorderOn  = errors.New("recorder: already recording; stop it first")
	ErrBadRecorder = errors.New("recorder: bad settings")
)

// RecorderOverrides is the body of POST /recorder/start: settings for this session that
// replace the config's. Every field is optional; zero keeps the config's value.
type RecorderOverrides struct {
	Sample   float64  `json:"sample,omitempty"`    // in (0, 1]
	Dir      string   `json:"dir,omitempty"`       // created if missing
	MaxBody  int64    `json:"max_body,omitempty"`  // bytes
	MaxFile  int64    `json:"max_file,omitempty"`  // bytes, ≥ 1024
	MaxFiles int      `json:"max_files,omitempty"` // ≥ 1
	Headers  []string `json:"headers,omitempty"`   // replaces recorder.headers; redacted ones are refused
}

// RecorderStatus is the body of GET /recorder: the running session, or the last one when off.
type RecorderStatus struct {
	On        bool       `json:"on"`
	Dir       string     `json:"dir,omitempty"`
	File      string     `json:"file,omitempty"` // the file being written (the last one when off)
	Sample    float64    `json:"sample,omitempty"`
	MaxBody   int64      `json:"max_body,omitempty"`
	MaxFile   int64      `json:"max_file,omitempty"`
	MaxFiles  int        `json:"max_files,omitempty"`
	Headers   []string   `json:"headers,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	StoppedAt *time.Time `json:"stopped_at,omitempty"`
	Lines     int64      `json:"lines"`   // lines written
	Bytes     int64      `json:"bytes"`   // bytes written
	Dropped   int64      `json:"dropped"` // lines lost: queue full or write error
	Files     int64      `json:"files"`   // files opened
	Error     string     `json:"error,omitempty"`
}

// recordedLine is one JSONL line; the field order is the format's.
type recordedLine struct {
	Time    string              `json:"time"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	BodyB64 string              `json:"body_b64,omitempty"`
}

// recorder starts and stops recording sessions. The request path reads cur: one atomic load,
// nil while not recording.
type recorder struct {
	clk    clock.Clock
	log    *slog.Logger
	rnd    func() float64                            // in [0, 1); safe for concurrent use
	create func(path string) (io.WriteCloser, error) // opens a new file; fails if it exists

	mu   sync.Mutex // serializes start and stop
	cur  atomic.Pointer[recSession]
	last *recSession // the last stopped session; under mu
}

func newRecorder(clk clock.Clock, log *slog.Logger) *recorder {
	return &recorder{clk: clock.OrReal(clk), log: log, rnd: mrand.Float64, create: func(path string) (io.WriteCloser, error) {
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	}}
}

// recSettings are a session's resolved settings.
type recSettings struct {
	dir      string
	sample   float64
	maxBody  int64
	maxFile  int64
	maxFiles int
	queue    int
	headers  []string // canonical
}

// resolveRecorder merges the config and the overrides, and checks the result.
func resolveRecorder(c config.Recorder, o RecorderOverrides) (recSettings, error) {
	s := recSettings{dir: c.Dir, sample: c.Sample, maxBody: int64(c.MaxBody), maxFile: int64(c.MaxFile),
		maxFiles: c.MaxFiles, queue: c.Queue, headers: c.Headers}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRecorder, fmt.Sprintf(format, args...))
	}
	if o.Sample != 0 {
		if !(o.Sample > 0 && o.Sample <= 1) {
			return s, bad("sample: %v is outside (0, 1]", o.Sample)
		}
		s.sample = o.Sample
	}
	if o.Dir != "" {
		s.dir = o.Dir
	}
	if o.MaxBody < 0 || o.MaxFile < 0 || o.MaxFiles < 0 {
		return s, bad("max_body, max_file and max_files must not be negative")
	}
	if o.MaxBody > 0 {
		s.maxBody = o.MaxBody
	}
	if o.MaxFile > 0 {
		if o.MaxFile < config.MinRecorderMaxFile {
			return s, bad("max_file: %d is under the minimum of %d bytes", o.MaxFile, config.MinRecorderMaxFile)
		}
		s.maxFile = o.MaxFile
	}
	if o.MaxFiles > 0 {
		s.maxFiles = o.MaxFiles
	}
	if len(o.Headers) > 0 {
		s.headers = o.Headers
	}
	redacted := config.RedactedHeaders(c.Redact)
	canon := make([]string, 0, len(s.headers))
	for _, h := range s.headers {
		if h == "" || strings.IndexFunc(h, func(r rune) bool { return !isTokenRune(r) }) >= 0 {
			return s, bad("headers: %q is not a header name", h)
		}
		h = http.CanonicalHeaderKey(h)
		if redacted[h] {
			return s, bad("headers: %s is redacted and is never recorded", h)
		}
		canon = append(canon, h)
	}
	s.headers = canon
	if s.dir == "" || s.sample <= 0 || s.maxFile <= 0 || s.maxFiles <= 0 || s.queue <= 0 {
		return s, bad("the config is not validated (recorder section has zero values)")
	}
	return s, nil
}

// recSession is one recording, from start to stop.
type recSession struct {
	set     recSettings
	stamp   string
	started time.Time
	ch      chan []byte
	done    chan struct{} // closed when the writer has flushed and closed its file

	mu     sync.RWMutex // closed and close(ch) vs. sends
	closed bool

	lines, bytes, dropped, files atomic.Int64

	smu     sync.Mutex // file, err, stopped
	file    string
	err     string
	stopped time.Time

	// The writer goroutine's own.
	create func(string) (io.WriteCloser, error)
	log    *slog.Logger
	f      io.WriteCloser
	w      *bufio.Writer
	size   int64
	seq    int
}

// start begins a session with the config's settings and o. It opens the first file before it
// returns, so a directory that cannot be written is an error here.
func (rc *recorder) start(c config.Recorder, o RecorderOverrides) (RecorderStatus, error) {
	set, err := resolveRecorder(c, o)
	if err != nil {
		return RecorderStatus{}, err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.cur.Load() != nil {
		return RecorderStatus{}, ErrRecorderOn
	}
	if err := os.MkdirAll(set.dir, 0o750); err != nil {
		return RecorderStatus{}, fmt.Errorf("recorder: %w", err)
	}
	now := rc.clk.Now()
	s := &recSession{set: set, stamp: now.UTC().Format("20060102T150405Z"), started: now,
		ch: make(chan []byte, set.queue), done: make(chan struct{}), create: rc.create, log: rc.log}
	if err := s.open(); err != nil {
		return RecorderStatus{}, fmt.Errorf("recorder: %w", err)
	}
	go s.run()
	rc.cur.Store(s)
	rc.log.Info("recorder started", "dir", set.dir, "sample", set.sample, "file", s.status().File)
	return s.status(), nil
}

// stop ends the running session: later lines are not taken, the queued ones are written, and
// the file is flushed and closed before stop returns. It reports false when nothing was
// recording.
func (rc *recorder) stop() (RecorderStatus, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	s := rc.cur.Swap(nil)
	if s == nil {
		return rc.statusLocked(), false
	}
	s.mu.Lock()
	s.closed = true
	close(s.ch)
	s.mu.Unlock()
	<-s.done
	s.smu.Lock()
	s.stopped = rc.clk.Now()
	s.smu.Unlock()
	rc.last = s
	st := s.status()
	rc.log.Info("recorder stopped", "lines", st.Lines, "bytes", st.Bytes, "dropped", st.Dropped)
	return st, true
}

// status is the running session's status, or the last one's.
func (rc *recorder) status() RecorderStatus {
	if s := rc.cur.Load(); s != nil {
		return s.status()
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.statusLocked()
}

func (rc *recorder) statusLocked() RecorderStatus {
	if s := rc.cur.Load(); s != nil {
		return s.status()
	}
	if rc.last == nil {
		return RecorderStatus{}
	}
	return rc.last.status()
}

func (s *recSession) status() RecorderStatus {
	s.smu.Lock()
	defer s.smu.Unlock()
	started := s.started
	st := RecorderStatus{On: s.stopped.IsZero(), Dir: s.set.dir, File: s.file, Sample: s.set.sample,
		MaxBody: s.set.maxBody, MaxFile: s.set.maxFile, MaxFiles: s.set.maxFiles, Headers: s.set.headers,
		StartedAt: &started, Lines: s.lines.Load(), Bytes: s.bytes.Load(), Dropped: s.dropped.Load(),
		Files: s.files.Load(), Error: s.err}
	if !s.stopped.IsZero() {
		stopped := s.stopped
		st.StoppedAt = &stopped
	}
	return st
}

// record samples r and, when it is picked, offers its line to the writer. body is the
// gateway's replay buffer of the request (nil without a body).
func (rc *recorder) record(s *recSession, r *http.Request, body *forward.Body) {
	if s.set.sample < 1 && rc.rnd() >= s.set.sample {
		return
	}
	s.offer(s.encode(r, body, rc.clk.Now()))
}

// encode builds the JSONL line of r, newline included.
func (s *recSession) encode(r *http.Request, body *forward.Body, now time.Time) []byte {
	ln := recordedLine{Time: now.UTC().Format(time.RFC3339Nano), Method: r.Method, Path: r.URL.Path,
		Query: r.URL.RawQuery, Headers: make(map[string][]string, len(s.set.headers))}
	for _, h := range s.set.headers {
		if v := r.Header[h]; len(v) > 0 {
			ln.Headers[h] = v
		}
	}
	if body != nil {
		if b, ok := body.AppendHead(nil, s.set.maxBody); ok && len(b) > 0 {
			ln.BodyB64 = base64.StdEncoding.EncodeToString(b)
		}
	}
	out, err := json.Marshal(ln)
	if err != nil { // cannot happen: strings and string slices only
		return nil
	}
	return append(out, '\n')
}

// offer queues line for the writer without waiting; a full queue drops it.
func (s *recSession) offer(line []byte) {
	if line == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- line:
	default:
		s.dropped.Add(1)
	}
}

// run is the writer goroutine: it ends when ch is closed and drained.
func (s *recSession) run() {
	defer close(s.done)
	for line := range s.ch {
		s.write(line)
		if len(s.ch) == 0 {
			s.flush()
		}
	}
	s.flush()
	s.closeFile()
}

func (s *recSession) write(line []byte) {
	if s.f != nil && s.size > 0 && s.size+int64(len(line)) > s.set.maxFile {
		s.closeFile()
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			s.fail(err)
			s.dropped.Add(1)
			return
		}
	}
	if _, err := s.w.Write(line); err != nil {
		s.fail(err)
		s.dropped.Add(1)
		s.closeFile()
		return
	}
	s.size += int64(len(line))
	s.lines.Add(1)
	s.bytes.Add(int64(len(line)))
}

func (s *recSession) flush() {
	if s.w == nil {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.fail(err)
		s.closeFile()
	}
}

func (s *recSession) fail(err error) {
	s.smu.Lock()
	first := s.err == ""
	s.err = err.Error()
	s.smu.Unlock()
	if first {
		s.log.Error("recorder write failed; the line is dropped", "error", err.Error())
	}
}

// open opens the session's next file and deletes the oldest files beyond maxFiles.
func (s *recSession) open() error {
	var f io.WriteCloser
	var path string
	var err error
	for range 1000 { // skip names an earlier session with the same start second took
		s.seq++
		path = filepath.Join(s.set.dir, fmt.Sprintf("traffic-%s-%06d.jsonl", s.stamp, s.seq))
		if f, err = s.create(path); !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	s.f, s.size = f, 0
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.w.Reset(f)
	}
	s.files.Add(1)
	s.smu.Lock()
	s.file = path
	s.smu.Unlock()
	s.trim(path)
	return nil
}

// trim deletes the oldest traffic files in the directory beyond maxFiles, never current.
func (s *recSession) trim(current string) {
	names, err := filepath.Glob(filepath.Join(s.set.dir, "traffic-*.jsonl"))
	if err != nil {
		return
	}
	sort.Strings(names)
	for i := 0; len(names)-i > s.set.maxFiles; i++ {
		if names[i] != current {
			_ = os.Remove(names[i])
		}
	}
}

func (s *recSession) closeFile() {
	if s.f == nil {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.fail(err)
	}
	if err := s.f.Close(); err != nil {
		s.fail(err)
	}
	s.f = nil
	s.w.Reset(io.Discard)
}

// StartRecorder starts recording with the config's recorder settings and o's overrides.
// Errors match ErrRecorderOn, ErrBadRecorder, or are the file system's.
func (g *Gateway) StartRecorder(o RecorderOverrides) (RecorderStatus, error) {
	return g.rec.start(g.Config().Recorder, o)
}

// StopRecorder stops recording, after the queued lines are written and the file is flushed
// and closed. It reports false when the recorder was not on.
func (g *Gateway) StopRecorder() (RecorderStatus, bool) { return g.rec.stop() }

// RecorderStatus returns the running recording's status, or the last one's when off.
func (g *Gateway) RecorderStatus() RecorderStatus { return g.rec.status() }

func (g *Gateway) handleRecorderStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, g.RecorderStatus())
}

func (g *Gateway) handleRecorderStart(w http.ResponseWriter, r *http.Request) {
	var o RecorderOverrides
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) { // an empty body is no overrides
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad recorder body: " + err.Error()})
		return
	}
	st, err := g.StartRecorder(o)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, st)
	case errors.Is(err, ErrRecorderOn):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrBadRecorder):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}
}

func (g *Gateway) handleRecorderStop(w http.ResponseWriter, _ *http.Request) {
	st, _ := g.StopRecorder()
	writeJSON(w, http.StatusOK, st)
}
