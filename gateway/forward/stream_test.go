package forward

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

const bigBody = 20 << 20

// patternReader yields n deterministic pseudo-random bytes.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newPattern(seed byte, n int64) *patternReader {
	return &patternReader{rng: rand.NewChaCha8([32]byte{seed}), n: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n == 0 {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n)]
	p.rng.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

func patternSum(seed byte, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newPattern(seed, n))
	return [32]byte(h.Sum(nil))
}

// TestLargeRequestBodyStreams sends 20 MiB through the engine and checks that the upstream
// receives its first mebibyte before the client has sent its second: the body is streamed, not
// buffered whole. It runs with the body given as In.Body and as a non-replayable Body.
func TestLargeRequestBodyStreams(t *testing.T) {
	for _, useBody := range []bool{false, true} {
		t.Run("useBody="+strconv.FormatBool(useBody), func(t *testing.T) {
			started := newSignal()
			backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				if _, err := io.CopyN(h, r.Body, 1<<20); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				started.fire()
				n, err := io.Copy(h, r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				w.Header().Set("X-Len", strconv.FormatInt(n+1<<20, 10))
				w.Write(h.Sum(nil))
			})
			p := newProxy(t, newEngine(t, Options{}), hostOf(backend),
				proxyConfig{useBody: useBody, replay: 64 << 10, maxBytes: 64 << 20})

			pr, pw := io.Pipe()
			go func() {
				src := newPattern(1, bigBody)
				if _, err := io.CopyN(pw, src, 2<<20); err != nil {
					pw.CloseWithError(err)
					return
				}
				if !started.wait() {
					pw.CloseWithError(errors.New("upstream did not start receiving while the client was still sending"))
					return
				}
				_, err := io.Copy(pw, src)
				pw.CloseWithError(err)
			}()
			req, _ := http.NewRequest(http.MethodPost, p.URL+"/upload", pr)
			req.ContentLength = -1 // chunked, unknown length
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			want := patternSum(1, bigBody)
			if resp.StatusCode != http.StatusOK || string(got) != string(want[:]) {
				t.Fatalf("status %d, len %s, sum mismatch (%q)", resp.StatusCode, resp.Header.Get("X-Len"), got)
			}
		})
	}
}

// TestLargeResponseBodyStreams sends 20 MiB from the upstream and checks that the client gets
// its first mebibyte before the upstream writes the rest.
func TestLargeResponseBodyStreams(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run("contentLength="+strconv.FormatBool(known), func(t *testing.T) {
			clientGotFirst := newSignal()
			backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				if known {
					w.Header().Set("Content-Length", strconv.Itoa(bigBody))
				}
				src := newPattern(2, bigBody)
				io.CopyN(w, src, 2<<20)
				http.NewResponseController(w).Flush()
				if !clientGotFirst.wait() {
					panic(http.ErrAbortHandler)
				}
				io.Copy(w, src)
			})
			p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{})
			resp, err := newClient(t).Get(p.URL + "/download")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := sha256.New()
			if _, err := io.CopyN(h, resp.Body, 1<<20); err != nil {
				t.Fatal(err)
			}
			clientGotFirst.fire()
			n, err := io.Copy(h, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := patternSum(2, bigBody)
			if n+1<<20 != bigBody || [32]byte(h.Sum(nil)) != want {
				t.Fatalf("got %d bytes, checksum mismatch", n+1<<20)
			}
			if err := p.result(t); err != nil {
				t.Fatalf("WriteResponse: %v", err)
			}
		})
	}
}

// TestStreamsFlushEachWrite checks that an event stream, and a response without
// Content-Length, reach the client write by write: the client reads event 1 before the upstream
// sends event 2 (which waits for the client).
func TestStreamsFlushEachWrite(t *testing.T) {
	tests := []struct {
		name, contentType string
	}{
		{"server-sent events", "text/event-stream; charset=utf-8"},
		{"chunked json lines", "application/x-ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got1 := newSignal()
			backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				io.WriteString(w, "data: 1\n\n")
				http.NewResponseController(w).Flush()
				got1.waitCtx(r.Context())
				io.WriteString(w, "data: 2\n\n")
			})
			p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{timeout: waitLimit})
			resp, err := newClient(t).Get(p.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			if err != nil || line != "data: 1\n" {
				t.Fatalf("first event %q, %v", line, err)
			}
			got1.fire()
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: 2\n\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

func TestTrailersForwarded(t *testing.T) {
	tests := []struct {
		name      string
		announced bool
	}{
		{"announced", true},
		{"unannounced", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqTrailer atomic.Value
			backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				reqTrailer.Store(r.Trailer.Get("X-Req-Sum"))
				if tt.announced {
					w.Header().Set("Trailer", "X-Sum")
				}
				io.WriteString(w, "body")
				if tt.announced {
					w.Header().Set("X-Sum", "42")
				} else {
					// A flush makes the response chunked; else net/http would send a
					// Content-Length and drop the trailer.
					http.NewResponseController(w).Flush()
					w.Header().Set(http.TrailerPrefix+"X-Sum", "42")
				}
			})
			p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{})
			req, _ := http.NewRequest(http.MethodPost, p.URL, strings.NewReader("payload"))
			req.ContentLength = -1
			req.Trailer = http.Header{"X-Req-Sum": {"7"}}
			req.Header.Set("Te", "trailers")
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "body" || resp.Trailer.Get("X-Sum") != "42" {
				t.Fatalf("body %q trailer %v", body, resp.Trailer)
			}
			if got := reqTrailer.Load(); got != "7" {
				t.Fatalf("upstream got request trailer %q", got)
			}
		})
	}
}

// TestUpstreamBodyBreaks: the upstream promises 100 bytes and hangs up after 10. WriteResponse
// reports ErrUpstreamBody, and the handler's abort makes the client see an error, not a short
// body that looks complete.
func TestUpstreamBodyBreaks(t *testing.T) {
	backend := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "0123456789")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	})
	p := newProxy(t, newEngine(t, Options{}), hostOf(backend), proxyConfig{abortOnUp: true})
	// The client sees an error: at once (nothing was flushed before the abort) or while
	// reading the body.
	resp, err := newClient(t).Get(p.URL)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("client read a broken response without error")
	}
	if err := p.result(t); !errors.Is(err, ErrUpstreamBody) {
		t.Fatalf("WriteResponse error %v, want ErrUpstreamBody", err)
	}
}
