package forward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// writeUpgrade relays a 101 Switching Protocols response (WebSocket, h2c, any Upgrade): it
// checks that the upstream switched to the protocol the client asked for, hijacks the client
// connection, writes the 101 with the upstream's headers (hop-by-hop ones replaced by
// Connection: Upgrade and Upgrade: <protocol>, then set and del applied), sends on any bytes the
// client had already sent past its request, and copies bytes both ways until one side is done.
// When the incoming request's context ends, the upstream connection is closed. It returns when
// both copies have stopped; no goroutine outlives it.
func (e *Engine) writeUpgrade(w http.ResponseWriter, r *Response, set [][2]string, del []string) error {
	res := r.Response
	resUp := upgradeType(res.Header)
	if r.upType == "" {
		return fmt.Errorf("%w: upstream switched protocols unasked", ErrBadUpgrade)
	}
	if !isPrintable(resUp) || !asciiEqualFold(resUp, r.upType) {
		return fmt.Errorf("%w: upstream switched to %q when %q was asked", ErrBadUpgrade, resUp, r.upType)
	}
	backConn, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		return fmt.Errorf("%w: 101 response with a read-only body", ErrBadUpgrade)
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadUpgrade, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(r.in.Context(), func() { backConn.Close() })
	defer stop()

	h := make(http.Header, len(res.Header)+2)
	copyResponseHeader(h, res.Header)
	h["Connection"] = valUpgrade
	h["Upgrade"] = []string{resUp}
	applySetDel(h, set, del, r.setSlots[:])
	if err := writeSwitchHead(brw.Writer, res.StatusCode, h); err != nil {
		return fmt.Errorf("%w: %w", ErrClientGone, err)
	}
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right after its request, before the 101 (caddy#6273).
		pending, _ := brw.Reader.Peek(n)
		if _, err := backConn.Write(pending); err != nil {
			return fmt.Errorf("%w: %w", ErrUpstreamBody, err)
		}
	}

	// Copy both ways. Whichever copy fails or ends for good closes the connection the other
	// one reads, so neither can block once one has stopped; only a clean end of the upstream
	// (the client's write side is then shut) waits for the client to finish, as ReverseProxy
	// does.
	toBack := make(chan error, 1)
	go func() {
		err := e.splice(backConn, conn)
		if err != nil {
			backConn.Close()
		}
		toBack <- err
	}()
	fromBack := e.splice(conn, backConn)
	if fromBack != nil {
		conn.Close()
		backConn.Close()
	}
	toErr := <-toBack
	if isSpliceEnd(fromBack) {
		fromBack = nil
	}
	if isSpliceEnd(toErr) {
		toErr = nil
	}
	return errors.Join(fromBack, toErr)
}

// isSpliceEnd reports whether a copy error is just the end of the upgraded connection: its
// source ended, or the other copy closed its connection.
func isSpliceEnd(err error) bool {
	return err == nil || errors.Is(err, errSpliceDone) || errors.Is(err, net.ErrClosed)
}

// errSpliceDone ends a copy whose source ended and whose destination cannot half-close.
var errSpliceDone = errors.New("forward: upgraded stream ended")

// splice copies src to dst with a pooled buffer until src ends. Then it half-closes dst when dst
// supports it (the client's TCP connection does) and returns nil; otherwise it returns
// errSpliceDone so that the whole connection ends.
func (e *Engine) splice(dst io.Writer, src io.Reader) error {
	bp := e.getBuf()
	defer e.putBuf(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errSpliceDone
}

// writeSwitchHead writes the status line and headers of the 101 response and flushes them.
func writeSwitchHead(bw *bufio.Writer, code int, h http.Header) error {
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
	if err := h.Write(bw); err != nil {
		return err
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}
