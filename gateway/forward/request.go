package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Request is one attempt: the incoming request, and where to send it.
type Request struct {
	// In is the incoming request. RoundTrip does not modify it; the outgoing request shares its
	// header values (read only), its Host and its request-target.
	In *http.Request
	// Scheme of the target: "http" (default, also for "") or "https".
	Scheme string
	// Target is the upstream's host:port.
	Target string
	// Body is the replayable form of In.Body (see NewBody). Nil means In.Body is sent as it
	// streams, which only one attempt can do: use a Body for any request that may be retried.
	Body *Body
	// SetHeader are headers set on the outgoing request after everything else (so they may
	// override X-Forwarded-*), e.g. {"Bulwark-Failover", "p"}.
	SetHeader [][2]string
	// Timeout bounds the wait for the response headers, from the start of RoundTrip (dial
	// included); 0 means no bound. Once headers arrive the body may stream for as long as it
	// takes. The incoming request's context bounds the whole attempt.
	Timeout time.Duration
}

// Response is an upstream's response: headers read, body not yet. The embedded *http.Response
// may be inspected (status, headers) but its Body must be left to WriteResponse or Discard.
// Every Response must be released exactly once, by Engine.WriteResponse or Response.Discard;
// until then it holds an upstream connection.
type Response struct {
	*http.Response

	e      *Engine
	in     *http.Request
	target string
	upType string // protocol the client asked to switch to, "" for none
	cancel context.CancelCauseFunc
	done   bool

	out      http.Request // the outgoing request, in the same allocation
	url      url.URL
	hdrSlots [2]string // X-Forwarded-For, X-Forwarded-Host values
	setSlots [4]string // WriteResponse's set values
	inBody   incomingBody
	br       bodyReader
	usesBR   bool // br is open
}

// RoundTrip sends req and returns the response once its headers have arrived, or an *Error
// (see Classify) and no response.
//
// The outgoing request keeps the incoming method, request-target (byte for byte when it is in
// origin form), Host header and headers, minus the hop-by-hop headers (Connection and the
// headers it lists, Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, Te
// except "trailers", Trailer, Transfer-Encoding, Upgrade), plus X-Forwarded-For (the client IP
// appended to any prior value), X-Forwarded-Proto (http or https, from In.TLS) and
// X-Forwarded-Host (In.Host), then SetHeader. A request that asks for a protocol switch
// (Connection: upgrade) keeps Connection: Upgrade and its Upgrade header. Request trailers are
// forwarded. A replayable Body is also given to the transport as GetBody, so that net/http can
// itself resend the request on a fresh connection when a reused keep-alive connection turned
// out to be closed before anything was written.
//
// RoundTrip keeps no reference to req or its SetHeader slice after it returns, so the caller may
// reuse them (req.In and req.Body, of course, stay in use until the response is released).
func (e *Engine) RoundTrip(req *Request) (*Response, error) {
	in := req.In
	r := &Response{e: e, in: in, target: req.Target}
	scheme := req.Scheme
	if scheme == "" {
		scheme = "http"
	}
	r.url.Scheme = scheme
	r.url.Host = req.Target
	setRequestTarget(&r.url, in)
	r.upType = upgradeType(in.Header)
	if r.upType != "" && !isPrintable(r.upType) {
		return nil, &Error{Kind: KindOther, Target: req.Target,
			Err: fmt.Errorf("%w: client asked to switch to invalid protocol %q", ErrBadUpgrade, r.upType)}
	}

	var (
		body    io.ReadCloser
		getBody func() (io.ReadCloser, error)
		length  int64
	)
	switch b := req.Body; {
	case b != nil:
		if !b.replayable && b.Sent() {
			return nil, &Error{Kind: KindOther, Target: req.Target, Err: ErrNotReplayable}
		}
		if b.length != 0 {
			if err := b.open(&r.br); err != nil {
				return nil, &Error{Kind: KindOther, Target: req.Target, Err: err}
			}
			r.usesBR = true
			body, getBody, length = &r.br, b.getBody, b.length
		}
	case in.Body != nil && in.Body != http.NoBody && in.ContentLength != 0:
		r.inBody.rc = in.Body
		body, length = &r.inBody, in.ContentLength
	}
	if len(in.Trailer) > 0 && body != nil {
		length = -1 // trailers travel only with chunked encoding
	}

	ctx := in.Context()
	var timer *headerTimer
	if req.Timeout > 0 {
		ctx, r.cancel = context.WithCancelCause(ctx)
		timer = startHeaderTimer(req.Timeout, r.cancel)
	}
	tmpl := http.Request{
		Method:        in.Method,
		URL:           &r.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        buildOutHeader(in, r.upType, req.SetHeader, &r.hdrSlots),
		Body:          body,
		GetBody:       getBody,
		ContentLength: length,
		Host:          in.Host,
	}
	if body != nil {
		tmpl.Trailer = in.Trailer
	}
	// WithContext is the only way to set a request's context; it returns a copy, which is
	// copied again into r so that the outgoing request costs no allocation of its own.
	r.out = *tmpl.WithContext(ctx)
	resp, err := e.roundTripper.RoundTrip(&r.out)
	if timer != nil && !timer.stop() && err == nil {
		// The timeout fired as the headers arrived: the context is canceled, so the body
		// would fail anyway. Report the timeout.
		resp.Body.Close()
		resp, err = nil, errHeaderTimeout
	}
	if err != nil {
		kind := r.classify(ctx, err)
		if req.Body != nil && req.Body.tooLarge.Load() && !errors.Is(err, ErrBodyTooLarge) {
			err = fmt.Errorf("%w (%w)", ErrBodyTooLarge, err)
		}
		r.release()
		return nil, &Error{Kind: kind, Target: req.Target, Err: err}
	}
	r.Response = resp
	return r, nil
}

// classify decides the kind of a RoundTrip failure. The incoming context comes first (the
// client left, or its own deadline passed), then our header timeout, then dial errors (the only
// errors that prove the request was not written: see dialError). Everything else, including a
// reused connection that broke before the request was written (net/http resends those itself
// when it safely can, and otherwise returns the bare network error), is KindOther.
func (r *Response) classify(ctx context.Context, err error) ErrorKind {
	if cerr := r.in.Context().Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return KindTimeout
		}
		return KindCanceled
	}
	if errors.Is(err, errHeaderTimeout) || errors.Is(context.Cause(ctx), errHeaderTimeout) {
		return KindTimeout
	}
	if isDialError(err) {
		return KindConnect
	}
	return KindOther
}

// setRequestTarget sets the path and query of u. An origin-form request-target ("/p?q") is
// sent exactly as the client sent it, through URL.Opaque, which also saves the transport from
// re-escaping the path and joining the query. Anything else (absolute form, "*", a target that
// starts with "//", which Opaque would turn into an authority) goes through Path, RawPath and
// RawQuery, as ReverseProxy does.
func setRequestTarget(u *url.URL, in *http.Request) {
	if rt := in.RequestURI; len(rt) > 0 && rt[0] == '/' && (len(rt) == 1 || rt[1] != '/') {
		u.Opaque = rt
		return
	}
	u.Path, u.RawPath, u.RawQuery = in.URL.Path, in.URL.RawPath, in.URL.RawQuery
	u.ForceQuery = in.URL.ForceQuery
}

// release ends the attempt: it closes the upstream body, stops the attempt's readers of the
// request body, and cancels the attempt's context. It runs once.
func (r *Response) release() {
	if r.done {
		return
	}
	r.done = true
	if r.Response != nil && r.Response.Body != nil {
		r.Response.Body.Close()
	}
	r.inBody.Close()
	if r.usesBR {
		r.br.Close()
	}
	if r.cancel != nil {
		r.cancel(context.Canceled)
	}
}

// Discard releases the response without writing it, so the caller can try elsewhere. A small
// body of known length (≤ 4 KiB) is read to the end first so that the upstream connection can be
// reused; anything else closes the connection. Calling Discard on a released response (or nil)
// does nothing.
func (r *Response) Discard() {
	if r == nil || r.done {
		return
	}
	if r.e != nil && r.Response != nil && r.StatusCode != http.StatusSwitchingProtocols &&
		r.ContentLength > 0 && r.ContentLength <= discardDrainLimit {
		buf := r.e.getBuf()
		io.CopyBuffer(discardWriter{}, io.LimitReader(r.Body, discardDrainLimit+1), *buf)
		r.e.putBuf(buf)
	}
	r.release()
}

const discardDrainLimit = 4 << 10

// discardWriter is io.Discard without ReadFrom, so io.CopyBuffer uses the given buffer.
type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
