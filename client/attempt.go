package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// HeaderCenter is the response header every Bulwark gateway sets to its center's name. A
// response that carries it came from a live gateway, which already did the failover work, so
// the client never fails over from it.
const HeaderCenter = "Bulwark-Center"

// drainLimit is how much of a discarded body is read so that its connection can be reused.
const drainLimit = 4 << 10

// result is the metric result of one attempt; it also drives the failover decision.
type result int

const (
	resGateway  result = iota // a response carrying Bulwark-Center, any status: final
	resOK                     // a response without Bulwark-Center, status < 500: final
	res5xx                    // a 5xx without Bulwark-Center: fail over if replayable
	resTimeout                // no response headers within Timeout: fail over
	resError                  // connection error from the base transport: fail over
	resCanceled               // the caller's context ended: stop at once
	numResults
)

var resultNames = [numResults]string{"gateway", "ok", "5xx", "timeout", "error", "canceled"}

// final reports whether the call ends with this attempt's response.
func (r result) final() bool { return r == resGateway || r == resOK }

// failed reports whether the attempt got no response at all.
func (r result) failed() bool { return r == resTimeout || r == resError }

// deadline cancels a context when a timer fires, unless disarmed first. The state makes
// "fired" and "disarmed" mutually exclusive, so a response that arrives as the timer fires
// is either kept with a live context or treated as a timeout, never handed out dead.
//
// With the real clock the timer is a time.AfterFunc; with any other Clock a goroutine waits
// on the Clock's timer until it fires or disarm stops it, so never longer than the timeout.
type deadline struct {
	state  atomic.Int32 // armed, disarmed or fired
	cancel context.CancelCauseFunc
	after  *time.Timer // real clock
	timer  clock.Timer // other clocks, with stop
	stop   chan struct{}
	body   releasing // the response body wrapper, allocated with the deadline
}

const (
	armed int32 = iota
	disarmed
	fired
)

// arm returns a child of parent that is canceled with cause ErrTimeout after d.
func arm(clk clock.Clock, parent context.Context, d time.Duration) (context.Context, *deadline) {
	ctx, cancel := context.WithCancelCause(parent)
	dl := &deadline{cancel: cancel}
	if _, ok := clk.(clock.Real); ok {
		dl.after = time.AfterFunc(d, dl.fire)
		return ctx, dl
	}
	dl.stop = make(chan struct{})
	dl.timer = clk.NewTimer(d)
	go dl.watch()
	return ctx, dl
}

func (dl *deadline) fire() {
	if dl.state.CompareAndSwap(armed, fired) {
		dl.cancel(ErrTimeout)
	}
}

func (dl *deadline) watch() {
	select {
	case <-dl.timer.C():
		dl.fire()
	case <-dl.stop:
	}
}

// disarm stops the timer. It reports false if the timer had already fired.
func (dl *deadline) disarm() bool {
	if !dl.state.CompareAndSwap(armed, disarmed) {
		return false
	}
	if dl.after != nil {
		dl.after.Stop()
		return true
	}
	dl.timer.Stop()
	close(dl.stop)
	return true
}

// attempt sends req to ce with body as its body and classifies the outcome. On a response
// (resGateway, resOK, res5xx) resp is non-nil and its Body, when closed, releases the
// attempt's context; otherwise err is an *AttemptError.
func (c *Client) attempt(req *http.Request, ce *center, body io.ReadCloser) (*http.Response, result, error) {
	parent := req.Context()
	ctx, dl := arm(c.clk, parent, c.timeout)
	resp, err := c.base.RoundTrip(outbound(ctx, req, ce, body))
	inTime := dl.disarm()
	if err == nil && !inTime {
		// The headers came as the timer fired: the context is canceled, the body is dead.
		discard(resp)
		resp, err = nil, ErrTimeout
	}
	if err != nil {
		dl.cancel(nil)
		switch {
		case parent.Err() != nil:
			if cause := context.Cause(parent); !errors.Is(err, cause) {
				err = errors.Join(cause, err)
			}
			return nil, resCanceled, &AttemptError{Center: ce.name, Err: err}
		case !inTime:
			return nil, resTimeout, &AttemptError{Center: ce.name, Err: ErrTimeout}
		}
		return nil, resError, &AttemptError{Center: ce.name, Err: err}
	}
	resp.Body = dl.release(resp)
	switch {
	case resp.Header.Get(HeaderCenter) != "":
		return resp, resGateway, nil
	case resp.StatusCode >= 500:
		return resp, res5xx, nil
	}
	return resp, resOK, nil
}

// outbound clones req for one attempt at ce: the center's scheme and host, its path prefix
// before the request's path, the query kept. An explicitly set Host (one that differs from
// the URL's host) is kept as the Host header; otherwise the center's host is used.
func outbound(ctx context.Context, req *http.Request, ce *center, body io.ReadCloser) *http.Request {
	out := req.Clone(ctx)
	out.Body = body
	u := out.URL
	u.Scheme, u.Host = ce.scheme, ce.host
	if ce.prefix != "" {
		u.Path, u.RawPath = joinPath(ce, req.URL)
	}
	if req.Host == "" || req.Host == req.URL.Host {
		out.Host = ce.host
	}
	return out
}

// joinPath puts the center's prefix (no trailing slash) before the request's path, and
// keeps the request's own escaping when it has one.
func joinPath(ce *center, u *url.URL) (path, rawPath string) {
	path = ce.prefix + withSlash(u.Path)
	if u.RawPath == "" && ce.rawPref == ce.prefix {
		return path, ""
	}
	return path, ce.rawPref + withSlash(u.EscapedPath())
}

func withSlash(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

// release wraps resp.Body so that closing it releases the attempt's context. A 101
// Switching Protocols body is also the connection's writer, and stays one.
func (dl *deadline) release(resp *http.Response) io.ReadCloser {
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		return &releasingReadWriter{releasing: releasing{rwc, dl.cancel}, w: rwc}
	}
	dl.body = releasing{resp.Body, dl.cancel}
	return &dl.body
}

type releasing struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

// Close closes the body, then cancels the attempt's context.
func (b *releasing) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

type releasingReadWriter struct {
	releasing
	w io.Writer
}

func (b *releasingReadWriter) Write(p []byte) (int, error) { return b.w.Write(p) }

// discard reads a little of a response body that will not be returned, so that the
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	_ = resp.Body.Close()
}
