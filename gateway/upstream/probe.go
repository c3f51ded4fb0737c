package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Start starts the active probes: one goroutine for the pool that probes every
// host (drained ones too) at once, right away and then every Health.Interval,
// with GET http://host:port + Health.Path; a 2xx answer within Health.Timeout
// is a good probe, anything else a failed one. With no Health.Path it starts
// nothing. Calling it again, or after Stop, does nothing.
//
// While probes run, erroring and unavailable hosts come back only through
// Health.HealthyAfter good probes in a row; without them (no path, not started,
// or stopped) an erroring host comes back through a trial request (see the
// package comment) and an unavailable host stays unavailable.
func (p *Pool) Start() {
	p.lifeMu.Lock()
	if p.started || p.stopped || p.health.Path == "" {
		p.started = true
		p.lifeMu.Unlock()
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.probing.Store(true)
	p.wg.Add(1)
	go p.probeLoop(ctx)
	p.lifeMu.Unlock()
	p.refresh() // erroring hosts leave trial recovery for probe recovery
}

// Stop stops the probes and waits until the probe goroutine and any probe in
// flight have ended. It is idempotent and safe to call concurrently; every
// call returns only once everything has stopped. Acquire and Done keep working
// after Stop.
func (p *Pool) Stop() {
	p.stopOnce.Do(func() {
		p.lifeMu.Lock()
		p.stopped = true
		cancel := p.cancel
		p.lifeMu.Unlock()
		if cancel == nil {
			return
		}
		cancel()
		p.wg.Wait()
		p.probing.Store(false)
		if p.ownClient {
			p.client.CloseIdleConnections()
		}
		p.refresh()
	})
}

func (p *Pool) probeLoop(ctx context.Context) {
	defer p.wg.Done()
	tick := p.clk.NewTicker(p.health.Interval.D())
	defer tick.Stop()
	for {
		p.probeRound(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
	}
}

// probeResult is one probe's verdict.
type probeResult struct {
	ok  bool
	err string
}

// probeRound probes every host concurrently and applies the results, unless
// the pool was stopped meanwhile.
func (p *Pool) probeRound(ctx context.Context) {
	results := make([]probeResult, len(p.hosts))
	var wg sync.WaitGroup
	for i, h := range p.hosts {
		wg.Go(func() { results[i] = p.probe(ctx, h) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // stopped mid-round: the failures are ours, not the hosts'
	}
	changed := false
	for i, h := range p.hosts {
		changed = h.probed(results[i].ok, results[i].err) || changed
	}
	if changed {
		p.refresh()
	} else {
		p.refreshIfDue() // deliver expiries even without traffic
	}
	if p.afterRound != nil {
		p.afterRound()
	}
}

func (p *Pool) probe(ctx context.Context, h *Host) probeResult {
	ctx, cancel := context.WithTimeout(ctx, p.health.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return probeResult{err: err.Error()}
	}
	req.Header.Set("User-Agent", "bulwark-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return probeResult{err: err.Error()}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return probeResult{err: "status " + strconv.Itoa(resp.StatusCode)}
	}
	return probeResult{ok: true}
}

// newProbeClient is the default probe client: its own transport, no
// keep-alive, no redirects, timeout on the whole probe.
func newProbeClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
