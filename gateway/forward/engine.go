package forward

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultDialTimeout    = time.Second
	DefaultMaxIdlePerHost = 256
	DefaultBufferSize     = 32 << 10
	// tlsHandshakeTimeout bounds the TLS handshake of an https upstream, after the TCP dial.
	tlsHandshakeTimeout = 10 * time.Second
)

// Options configures an Engine. A zero or negative field takes its default.
type Options struct {
	DialTimeout    time.Duration // TCP connect timeout; default 1s
	MaxIdlePerHost int           // idle keep-alive connections kept per upstream; default 256
	BufferSize     int           // response copy buffer, pooled; default 32 KiB
	// TLSConfig is used for https targets; nil means the zero tls.Config (system roots). When
	// its ServerName is empty, the target's host is used.
	TLSConfig *tls.Config
}

// Engine sends requests to upstreams over one tuned http.Transport: HTTP/1.1 only (no HTTP/2
// attempt), keep-alive with MaxIdlePerHost idle connections per upstream, no transparent
// compression, no proxy from the environment. It is safe for concurrent use; create one per
// gateway and Close it when done.
type Engine struct {
	transport *http.Transport
	// roundTripper is transport, except in the layer benchmark, which puts an in-memory
	// upstream here to measure the engine's own cost.
	roundTripper http.RoundTripper
	dialer       net.Dialer
	tlsConfig    *tls.Config
	bufSize      int
	bufPool      sync.Pool // *[]byte of bufSize
}

// New returns an Engine configured by o (defaults filled in).
func New(o Options) *Engine {
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = DefaultMaxIdlePerHost
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	e := &Engine{
		dialer:    net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second},
		tlsConfig: o.TLSConfig,
		bufSize:   o.BufferSize,
	}
	if e.tlsConfig == nil {
		e.tlsConfig = &tls.Config{}
	}
	e.bufPool.New = func() any { b := make([]byte, e.bufSize); return &b }
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	e.transport = &http.Transport{
		Proxy:                  nil, // never HTTP_PROXY from the environment
		DialContext:            e.dial,
		DialTLSContext:         e.dialTLS,
		ForceAttemptHTTP2:      false,
		Protocols:              protocols,
		DisableCompression:     true,
		MaxIdleConns:           0, // no global cap: MaxIdleConnsPerHost bounds each upstream
		MaxIdleConnsPerHost:    o.MaxIdlePerHost,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	e.roundTripper = e.transport
	return e
}

// Close closes the idle upstream connections. Connections in use close when their responses
// are released. The Engine remains usable (new connections are dialed on demand).
func (e *Engine) Close() { e.transport.CloseIdleConnections() }

// dial connects to an http upstream. Its errors are marked as dial errors: see dialError.
func (e *Engine) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := e.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	return c, nil
}

// dialTLS connects to an https upstream and completes the handshake, so a handshake failure is
// a dial error too: no byte of the request was written.
func (e *Engine) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := e.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	cfg := e.tlsConfig
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		} else {
			cfg.ServerName = addr
		}
	}
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, &dialError{err}
	}
	return tc, nil
}

func (e *Engine) getBuf() *[]byte  { return e.bufPool.Get().(*[]byte) }
func (e *Engine) putBuf(b *[]byte) { e.bufPool.Put(b) }

// headerTimer cancels an attempt's context when its Timeout expires. It is pooled: a timer that
// was stopped before it fired is reset for the next attempt, so the Timeout path costs no timer
// allocation in the steady state. A timer that fired (or may be firing) is never reused.
type headerTimer struct {
	t      *time.Timer
	cancel context.CancelCauseFunc
}

var timerPool sync.Pool

func startHeaderTimer(d time.Duration, cancel context.CancelCauseFunc) *headerTimer {
	ht, _ := timerPool.Get().(*headerTimer)
	if ht == nil {
		ht = &headerTimer{cancel: cancel}
		ht.t = time.AfterFunc(d, ht.fire)
		return ht
	}
	ht.cancel = cancel
	ht.t.Reset(d)
	return ht
}

func (ht *headerTimer) fire() { ht.cancel(errHeaderTimeout) }

// stop reports whether it stopped the timer before it fired; only then is the timer pooled.
func (ht *headerTimer) stop() bool {
	if !ht.t.Stop() {
		return false
	}
	ht.cancel = nil
	timerPool.Put(ht)
	return true
}
