package forward

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
func (c *countingReader) Close() error { return nil }

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("client reset") }
func (failingReader) Close() error             { return nil }

func TestNewBody(t *testing.T) {
	const limit = 40 << 10 // more than two chunks
	payload := func(n int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n] }
	tests := []struct {
		name           string
		size           int   // bytes the client sends
		contentLength  int64 // as declared; -1 unknown
		maxBytes       int64
		wantErr        error
		wantReplayable bool
		wantRead       int64 // bytes NewBody reads from the client
		wantLen        int64
	}{
		{"empty", 0, 0, 0, nil, true, 0, 0},
		{"known, within limit", 1000, 1000, 0, nil, true, 1000, 1000},
		{"known, exactly the limit", limit, limit, 0, nil, true, limit, limit},
		{"known, over the limit: streamed, nothing read", limit + 1, limit + 1, 0, nil, false, 0, limit + 1},
		{"known, over maxBytes: refused, nothing read", 5000, 5000, 4096, ErrBodyTooLarge, false, 0, 0},
		{"known, shorter than declared", 10, 20, 0, io.ErrUnexpectedEOF, false, 10, 0},
		{"unknown, within limit", 3000, -1, 0, nil, true, 3000, 3000},
		{"unknown, exactly the limit", limit, -1, 0, nil, true, limit, limit},
		{"unknown, over the limit: prefix read", 3 * limit, -1, 0, nil, false, limit + 1, -1},
		{"unknown, over maxBytes within the limit", 5000, -1, 4096, ErrBodyTooLarge, false, 4097, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(tt.size)
			src := &countingReader{r: bytes.NewReader(data)}
			b, err := NewBody(src, tt.contentLength, limit, tt.maxBytes)
			if src.n != tt.wantRead {
				t.Errorf("NewBody read %d bytes, want %d", src.n, tt.wantRead)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer b.Release()
			if b.Replayable() != tt.wantReplayable || b.Len() != tt.wantLen || b.Sent() {
				t.Fatalf("replayable %v len %d sent %v", b.Replayable(), b.Len(), b.Sent())
			}
			var br bodyReader
			if err := b.open(&br); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(&br)
			br.Close()
			if err != nil || !bytes.Equal(got, data) || (tt.size > 0 && !b.Sent()) {
				t.Fatalf("attempt read %d bytes (%v), sent %v, want the %d sent", len(got), err, b.Sent(), len(data))
			}
		})
	}
	t.Run("nil and NoBody", func(t *testing.T) {
		for _, r := range []io.ReadCloser{nil, http.NoBody} {
			b, err := NewBody(r, -1, limit, 0)
			if err != nil || !b.Replayable() || b.Len() != 0 {
				t.Fatalf("NewBody(%v) = %v, %v", r, b, err)
			}
		}
	})
	t.Run("read error", func(t *testing.T) {
		if _, err := NewBody(failingReader{}, -1, limit, 0); err == nil || err.Error() != "client reset" {
			t.Fatalf("err %v", err)
		}
	})
}

// recordingBackend answers status and keeps the bodies it received.
type recordingBackend struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (rb *recordingBackend) handler(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rb.mu.Lock()
		rb.bodies = append(rb.bodies, b)
		rb.mu.Unlock()
		w.WriteHeader(status)
	}
}

func TestBodyReplayedOnSecondAttempt(t *testing.T) {
	var rec recordingBackend
	failing := newBackend(t, rec.handler(http.StatusServiceUnavailable))
	healthy := newBackend(t, rec.handler(http.StatusOK))
	eng := newEngine(t, Options{})
	data := bytes.Repeat([]byte("replay me "), 10<<10) // 100 KiB: several chunks
	in := inbound(t.Context(), http.MethodPost, string(data))
	b, err := NewBody(in.Body, in.ContentLength, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	targets := []string{closedPort(t), hostOf(failing), hostOf(healthy)}
	for i, target := range targets {
		resp, err := eng.RoundTrip(&Request{In: in, Target: target, Body: b})
		if i == 0 {
			if Classify(err) != KindConnect {
				t.Fatalf("attempt to a closed port: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			resp.Discard()
			continue
		}
		if err := eng.WriteResponse(httptest.NewRecorder(), resp, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.bodies) != 2 || !bytes.Equal(rec.bodies[0], data) || !bytes.Equal(rec.bodies[1], data) {
		t.Fatalf("upstreams got %d bodies; want the same %d bytes twice", len(rec.bodies), len(data))
	}
}

// TestNonReplayableBody: a body over the replay limit may follow a failed dial (nothing was
// read), but once an attempt has read it, no other attempt may send it.
func TestNonReplayableBody(t *testing.T) {
	var rec recordingBackend
	backend := newBackend(t, rec.handler(http.StatusServiceUnavailable))
	eng := newEngine(t, Options{})
	const size = 3 << 20
	in := inbound(t.Context(), http.MethodPut, "")
	in.Body, in.ContentLength = io.NopCloser(newPattern(3, size)), -1
	b, err := NewBody(in.Body, -1, 64<<10, 0)
	if err != nil || b.Replayable() {
		t.Fatalf("NewBody: %v, replayable %v", err, b.Replayable())
	}
	defer b.Release()

	_, err = eng.RoundTrip(&Request{In: in, Target: closedPort(t), Body: b})
	if Classify(err) != KindConnect || b.Sent() {
		t.Fatalf("dial refused: %v, sent %v", err, b.Sent())
	}
	resp, err := eng.RoundTrip(&Request{In: in, Target: hostOf(backend), Body: b})
	if err != nil {
		t.Fatal(err)
	}
	resp.Discard()
	if !b.Sent() || len(rec.bodies) != 1 || sha256.Sum256(rec.bodies[0]) != patternSum(3, size) {
		t.Fatalf("sent %v; upstream got %d bodies", b.Sent(), len(rec.bodies))
	}
	_, err = eng.RoundTrip(&Request{In: in, Target: hostOf(backend), Body: b})
	if !errors.Is(err, ErrNotReplayable) || len(rec.bodies) != 1 {
		t.Fatalf("third attempt: %v, want ErrNotReplayable and nothing sent", err)
	}
}

func TestStreamedBodyOverMaxBytes(t *testing.T) {
	var rec recordingBackend
	backend := newBackend(t, rec.handler(http.StatusOK))
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend),
		proxyConfig{useBody: true, replay: 16 << 10, maxBytes: 1 << 20})
	req, _ := http.NewRequest(http.MethodPost, p.URL, io.LimitReader(newPattern(4, 2<<20), 2<<20))
	req.ContentLength = -1
	resp, err := newClient(t).Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if err := p.result(t); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("RoundTrip error %v, want ErrBodyTooLarge", err)
	}
}

// TestBodyConcurrentReaders hammers one replayable body with many attempt readers at once
// (what GetBody and a slow abandoned attempt can do) and checks every reader gets every byte.
func TestBodyConcurrentReaders(t *testing.T) {
	data := bytes.Repeat([]byte("concurrent "), 8<<10)
	b, err := NewBody(io.NopCloser(bytes.NewReader(data)), int64(len(data)), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	const readers = 32
	var wg sync.WaitGroup
	var good, total atomic.Int64
	for range readers {
		rc, err := b.getBody()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer rc.Close()
			got, _ := io.ReadAll(rc)
			total.Add(int64(len(got)))
			if bytes.Equal(got, data) {
				good.Add(1)
			}
		})
	}
	b.Release() // while readers are open: the chunks stay until the last one closes
	wg.Wait()
	if good.Load() != readers || total.Load() != readers*int64(len(data)) {
		t.Fatalf("%d of %d readers got the body, %d bytes in all", good.Load(), readers, total.Load())
	}
	if _, err := b.getBody(); err == nil {
		t.Fatal("a body opened after Release")
	}
}

func TestBodyReaderAllocs(t *testing.T) {
	data := strings.Repeat("x", 50<<10)
	b, err := NewBody(io.NopCloser(strings.NewReader(data)), int64(len(data)), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	buf := make([]byte, 32<<10)
	br := new(bodyReader)
	allocs := testing.AllocsPerRun(100, func() {
		*br = bodyReader{}
		b.open(br)
		for {
			if _, err := br.Read(buf); err != nil {
				break
			}
		}
		br.Close()
	})
	if allocs != 0 {
		t.Fatalf("reading a held body: %v allocs, want 0", allocs)
	}
}
