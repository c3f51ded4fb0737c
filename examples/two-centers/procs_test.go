package twocenters_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the binaries that TestMain's callers build once per test process.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "two-centers-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binaries builds the real bulwark binary and the example backend (once per process) and
// returns their paths.
func binaries(t *testing.T) (bulwark, backend string) {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go") // go test puts $GOROOT/bin first on PATH
		if err != nil {
			buildErr = err
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"bulwark", "github.com/bulwark-go/bulwark/cmd/bulwark"},
			{"backend", "github.com/bulwark-go/bulwark/examples/two-centers/backend"},
		} {
			cmd := exec.Command(goBin, "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "bulwark"), filepath.Join(binDir, "backend")
}

// output is a process's combined output, safe to read while the process writes it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// proc is a child process the test started. Stop ends it; a test cleanup stops it too.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *output
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid after exited is closed
}

// start runs bin with args and registers a cleanup that stops it (SIGTERM, then SIGKILL after
// 5 s) and, if the test failed, logs the tail of its output.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &output{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s output (tail) ---\n%s", name, tail(p.out.String(), 3000))
		}
	})
	return p
}

// stop sends SIGTERM and waits up to 5 s for the process to exit, then kills it. It returns
// Wait's error (nil for exit status 0); calling it again returns the same result.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New(p.name + " did not stop within 5 s of SIGTERM; killed")
	}
}

var listeningOn = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// backendAddr waits (up to 5 s) for a backend's "listening on ADDR" line and returns ADDR.
func (p *proc) backendAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningOn.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before listening: %v\n%s", p.name, p.err, p.out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not report its address within 5 s", p.name)
	return ""
}

// waitOK polls url until it answers 200, for up to 10 s, failing early if p exits.
func (p *proc) waitOK(t *testing.T, client *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before %s answered 200: %v", p.name, url, p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s: %s did not answer 200 within 10 s", p.name, url)
}

// freeAddr returns a loopback address with a port that was free a moment ago. The gateways
// need their ports before they start (each config names the other's URL), so the test picks
// them; the window in which another process could take one is tiny.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
