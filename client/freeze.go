package client

import (
	"context"
	"net"
	"net/http"
)

// frozenNow returns the freeze in force, or nil.
func (c *Client) frozenNow() *FrozenError {
	if fe := c.freeze.Load(); fe != nil && c.clk.Now().Before(fe.Until) {
		return fe
	}
	return nil
}

// probeFlight is one network probe, shared by every call that failed at both centers while
// it ran. up and frozen are written before done is closed.
type probeFlight struct {
	done   chan struct{}
	up     bool
	frozen *FrozenError // the freeze the probe started, when up
}

// bothDown ends a call whose attempts at both centers failed without a response: it probes
// the network (one probe for all concurrent such calls) and freezes the client if the
// network is up.
func (c *Client) bothDown(req *http.Request, home, other error) (*http.Response, error) {
	e := &BothDownError{Home: home, Other: other}
	if c.probeKind == probeNone {
		c.m.calls[callBothDown].Add(1)
		return nil, e
	}
	if ctx := req.Context(); ctx.Err() != nil {
		// The caller gave up as the second attempt failed: no center's fault, no probe.
		e.Reason = context.Cause(ctx)
		c.m.calls[callCanceled].Add(1)
		return nil, e
	}
	fe, f := c.joinProbe()
	if f != nil {
		c.probeWaiters.Add(1)
		select {
		case <-f.done:
			c.probeWaiters.Add(-1)
		case <-req.Context().Done():
			c.probeWaiters.Add(-1)
			e.Reason = context.Cause(req.Context())
			c.m.calls[callCanceled].Add(1)
			return nil, e
		}
		if !f.up {
			e.Reason = ErrNetworkDown
			c.m.calls[callNetworkDown].Add(1)
			return nil, e
		}
		fe = f.frozen
	}
	e.Reason = fe
	c.m.calls[callFrozen].Add(1)
	return nil, e
}

// joinProbe returns the freeze in force (and no flight), or the probe in progress, starting
// one if there is none. The probe runs on its own goroutine so that a caller that gives up
// does not cut it short for the others; it ends within ProbeTimeout.
func (c *Client) joinProbe() (*FrozenError, *probeFlight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fe := c.frozenNow(); fe != nil {
		return fe, nil
	}
	if c.flight == nil {
		c.flight = &probeFlight{done: make(chan struct{})}
		go c.runProbe(c.flight)
	}
	return nil, c.flight
}

func (c *Client) runProbe(f *probeFlight) {
	up := c.probeNetwork()
	c.mu.Lock()
	f.up = up
	if up {
		f.frozen = &FrozenError{Until: c.clk.Now().Add(c.freezeFor)}
		c.freeze.Store(f.frozen)
		c.m.freezes.Add(1)
		c.m.probes[probeUp].Add(1)
	} else {
		c.m.probes[probeDown].Add(1)
	}
	c.flight = nil
	c.mu.Unlock()
	close(f.done)
}

// probeNetwork reports whether the network works: a TCP dial completes, or an HTTP request
// gets any response, within ProbeTimeout.
func (c *Client) probeNetwork() bool {
	ctx, dl := arm(c.clk, context.Background(), c.probeTimeout)
	defer func() {
		dl.disarm()
		dl.cancel(nil)
	}()
	switch c.probeKind {
	case probeTCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.probeTarget)
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	case probeHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.probeTarget, nil)
		if err != nil {
			return false
		}
		resp, err := c.base.RoundTrip(req)
		if err != nil {
			return false
		}
		discard(resp)
		return true
	}
	return false
}
