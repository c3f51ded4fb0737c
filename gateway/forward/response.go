package forward

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// WriteResponse writes resp to w and releases it. It copies the upstream's headers minus the
// hop-by-hop ones (and adds no Content-Type the upstream did not send), sets each set pair and deletes each del key (e.g. set Bulwark-Center, delete
// Bulwark-Credit), writes the status, and streams the body through a pooled buffer. A streamed
// response (text/event-stream, or no Content-Length) is flushed after its headers and after
// every write, so events reach the client as the upstream sends them; a response of known
// length is not flushed until the handler returns. Trailers are forwarded: announced in the
// Trailer header when the upstream announced them, else sent with http.TrailerPrefix.
//
// A 101 Switching Protocols response is relayed by hijacking the client connection and copying
// bytes both ways until either side closes (see the package comment); WriteResponse returns
// when the upgraded connection ends.
//
// The returned error wraps ErrClientGone (writing to the client failed, or the client left),
// ErrUpstreamBody (the upstream body broke mid-way; the handler should then
// panic(http.ErrAbortHandler) so the client does not take a truncated body for a whole one),
// ErrBadUpgrade (nothing was written; the caller may answer 502) or ErrReleased. WriteResponse
// keeps no reference to set or del after it returns (their strings are copied into resp).
func (e *Engine) WriteResponse(w http.ResponseWriter, resp *Response, set [][2]string, del []string) error {
	if resp == nil || resp.done {
		return ErrReleased
	}
	defer resp.release()
	res := resp.Response
	if res.StatusCode == http.StatusSwitchingProtocols {
		return e.writeUpgrade(w, resp, set, del)
	}

	h := w.Header()
	copyResponseHeader(h, res.Header)
	if _, ok := res.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil // the upstream sent none: keep net/http from sniffing one
	}
	announced := len(res.Trailer)
	if announced > 0 {
		h["Trailer"] = []string{trailerKeys(res.Trailer)}
	}
	applySetDel(h, set, del, resp.setSlots[:])
	w.WriteHeader(res.StatusCode)

	var rc *http.ResponseController
	if res.ContentLength < 0 || isEventStream(res.Header["Content-Type"]) {
		rc = http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			if !errors.Is(err, http.ErrNotSupported) {
				return fmt.Errorf("%w: %w", ErrClientGone, err)
			}
			rc = nil
		}
	}
	if err := e.copyBody(w, resp, rc); err != nil {
		return err
	}
	res.Body.Close() // reads the trailers into res.Trailer

	if len(res.Trailer) == 0 {
		return nil
	}
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			h[k] = vv
		}
		return nil
	}
	// Trailers that were not announced: force chunking (a short body would otherwise get a
	// Content-Length, which leaves no room for trailers), then use the TrailerPrefix form.
	http.NewResponseController(w).Flush()
	for k, vv := range res.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return nil
}

// trailerKeys joins the keys of a trailer map with ", " for the Trailer header.
func trailerKeys(t http.Header) string {
	var b strings.Builder
	for k := range t {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}

// copyBody streams the upstream body to w with a pooled buffer, flushing after each write when
// rc is set (and more may follow). Read errors are ErrUpstreamBody, unless the client's context
// ended, which makes the transport's read fail too: then it is ErrClientGone.
func (e *Engine) copyBody(w http.ResponseWriter, r *Response, rc *http.ResponseController) error {
	bp := e.getBuf()
	defer e.putBuf(bp)
	buf := *bp
	src := r.Body
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			if _, werr := w.Write(buf[:nr]); werr != nil {
				return fmt.Errorf("%w: %w", ErrClientGone, werr)
			}
			if rc != nil && rerr == nil {
				if ferr := rc.Flush(); ferr != nil {
					return fmt.Errorf("%w: %w", ErrClientGone, ferr)
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if r.in.Context().Err() != nil {
				return fmt.Errorf("%w: %w", ErrClientGone, rerr)
			}
			return fmt.Errorf("%w: %w", ErrUpstreamBody, rerr)
		}
	}
}
