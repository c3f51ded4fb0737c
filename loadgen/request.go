package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"syscall"
)

// bytesReader is a rewindable body over a shared, read-only slice.
type bytesReader struct {
	b []byte
	i int
}

func (r *bytesReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func (r *bytesReader) Close() error { return nil }

func newRequest(ctx context.Context, t *preparedTarget, body *bytesReader) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = body
	}
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = int64(len(t.body))
		req.GetBody = func() (io.ReadCloser, error) { return &bytesReader{b: t.body}, nil }
	}
	// Shared and never written: net/http only reads a request's header.
	req.Header = t.header
	return req, nil
}

// maxDrain bounds how much of a response body is read; the rest is dropped with the
// connection, so a huge body cannot stall a worker.
const maxDrain = 64 << 20

// drain reads the body to its end, so the connection is reused and the latency covers the
// whole answer.
func drain(resp *http.Response) error {
	_, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	cerr := resp.Body.Close()
	if err == nil {
		err = cerr
	}
	return err
}

// Error kinds, as the report counts them.
const (
	kindTimeout   = "timeout"
	kindRefused   = "connection_refused"
	kindReset     = "connection_reset"
	kindEOF       = "eof"
	kindOther     = "other"
	kindCancelled = "cancelled"
)

func errorKind(err error, runCtx context.Context) string {
	switch {
	case runCtx.Err() != nil && errors.Is(err, context.Canceled):
		return kindCancelled
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return kindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return kindReset
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return kindEOF
	}
	return kindOther
}
