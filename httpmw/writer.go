package httpmw

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// responseWriter wraps the server's ResponseWriter for one request. It knows whether the header
// went out (a panic after that cannot become a 500) and adds Bulwark-Overload at the moment the
// header goes out, so the report reflects the detector's phase when the answer is written.
// It is pooled: Protect's admit path allocates nothing for it.
type responseWriter struct {
	http.ResponseWriter
	h     *Handler
	wrote bool
}

var writerPool = sync.Pool{New: func() any { return new(responseWriter) }}

func getWriter(w http.ResponseWriter, h *Handler) *responseWriter {
	rw := writerPool.Get().(*responseWriter)
	rw.ResponseWriter, rw.h, rw.wrote = w, h, false
	return rw
}

func putWriter(rw *responseWriter) {
	*rw = responseWriter{}
	writerPool.Put(rw)
}

// WriteHeader sends the header, with Bulwark-Overload: 1 while the detector is not normal.
// Informational (1xx) headers pass through without counting as the response.
func (rw *responseWriter) WriteHeader(code int) {
	if rw.wrote {
		rw.ResponseWriter.WriteHeader(code) // let net/http log the superfluous call
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	rw.wrote = true
	if d := rw.h.s.detector; d != nil && d.Overloaded() {
		rw.ResponseWriter.Header()[HeaderOverload] = overloadValue
		rw.h.reports.Add(1)
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(p)
}

// ReadFrom keeps the server's sendfile path for io.Copy into the response.
func (rw *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	if rf, ok := rw.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{rw.ResponseWriter}, r)
}

// writerOnly hides every method but Write, so io.Copy cannot loop back into ReadFrom.
type writerOnly struct{ io.Writer }

// Flush sends buffered data to the client, if the server's writer can.
func (rw *responseWriter) Flush() {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands over the connection, if the server's writer can.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := rw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpmw: the underlying ResponseWriter cannot hijack")
	}
	conn, buf, err := hj.Hijack()
	if err == nil {
		rw.wrote = true
	}
	return conn, buf, err
}

// Unwrap returns the server's writer, for http.ResponseController.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
