package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/fleet"
)

// Shared switches (issue 6): with a fleet, the retry switches, the degrade fractions and the
// active faults live in the fleet's switches hash "gateway", one field each:
//
//	retry/global      "true" or "false"
//	retry/<service>   "true" or "false"
//	degrade/<service> the pass fraction, e.g. "0.5"
//	fault/<id>        the Fault as JSON (its absolute expiry included)
//	tracing/sample_rate the trace sample rate, e.g. "0.01"
//
// A change through any instance's admin API is applied there at once and written to Redis;
// every instance applies what it learns (fleet.Switches.Watch), so all converge within a
// second. A field naming a service this instance does not have is ignored (instances may run
// different configs during a rollout). While Redis is down a change applies to this instance
// only, the admin API says so, and the fleet writes it when Redis returns. Fault expiry is by
// each instance's wall clock, so clocks should agree (NTP).
//
// Gateways of two centers that share one Redis share their switches too; give each center its
// own fleet.prefix to keep them apart.

// ErrNotShared is the error of a switch change or fault that is in effect on this instance
// only, because Redis could not be reached; the fleet shares it when Redis returns.
var ErrNotShared = fleet.ErrNotShared

const (
	fieldRetryGlobal = "retry/global"
	prefixRetry      = "retry/"
	prefixDegrade    = "degrade/"
	prefixFault      = "fault/"
	fieldSampleRate  = "tracing/sample_rate"
)

// startSharedSwitches joins the fleet's switches and applies what the fleet holds.
func (g *Gateway) startSharedSwitches() error {
	if !g.fleet.shared {
		return nil
	}
	sw, err := fleet.NewSwitches(g.fleet.f, "gateway")
	if err != nil {
		return fmt.Errorf("fleet: switches: %w", err)
	}
	g.fleet.switches = sw
	sw.Watch(g.applyShared)
	return nil
}

// share writes changed fields to the fleet. It returns an error wrapping ErrNotShared when a
// change could only be applied here.
func (g *Gateway) share(set map[string]string, del []string) error {
	sw := g.fleet.switches
	if sw == nil {
		return nil
	}
	var errs []error
	for field, v := range set {
		errs = append(errs, sw.Set(field, []byte(v)))
	}
	for _, field := range del {
		errs = append(errs, sw.Delete(field))
	}
	return errors.Join(errs...)
}

// shareSwitches writes the switches that in changes.
func (g *Gateway) shareSwitches(in Switches) error {
	set := map[string]string{}
	if in.Retry.Global != nil {
		set[fieldRetryGlobal] = strconv.FormatBool(*in.Retry.Global)
	}
	for name, on := range in.Retry.Services {
		set[prefixRetry+name] = strconv.FormatBool(on)
	}
	for name, p := range in.Degrade {
		set[prefixDegrade+name] = strconv.FormatFloat(p, 'g', -1, 64)
	}
	return g.share(set, nil)
}

// shareFault writes an added fault, and drops the shared faults that have expired.
func (g *Gateway) shareFault(f Fault) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	var expired []string
	if sw := g.fleet.switches; sw != nil {
		now := g.clk.Now()
		for field, v := range sw.Snapshot() {
			var old Fault
			if strings.HasPrefix(field, prefixFault) && json.Unmarshal(v, &old) == nil && !now.Before(old.ExpiresAt) {
				expired = append(expired, field)
			}
		}
	}
	return g.share(map[string]string{prefixFault + f.ID: string(b)}, expired)
}

// applyShared applies the fleet's switches state to this instance: what another instance
// changed, or what a resync found. It never writes back to the fleet.
func (g *Gateway) applyShared(state map[string][]byte) {
	st := g.state.Load()
	var in Switches
	in.Retry.Services, in.Degrade = map[string]bool{}, map[string]float64{}
	faults := map[string]Fault{}
	for field, raw := range state {
		v := string(raw)
		switch {
		case field == fieldRetryGlobal:
			if on, err := strconv.ParseBool(v); err == nil {
				in.Retry.Global = &on
			}
		case strings.HasPrefix(field, prefixRetry):
			if on, err := strconv.ParseBool(v); err == nil && st.services[field[len(prefixRetry):]] != nil {
				in.Retry.Services[field[len(prefixRetry):]] = on
			}
		case strings.HasPrefix(field, prefixDegrade):
			if p, err := strconv.ParseFloat(v, 64); err == nil && p >= 0 && p <= 1 && st.services[field[len(prefixDegrade):]] != nil {
				in.Degrade[field[len(prefixDegrade):]] = p
			}
		case field == fieldSampleRate:
			if p, err := strconv.ParseFloat(v, 64); err == nil {
				_ = g.tel.tracing.SetSampleRate(p) // out of range: left as it is
			}
		case strings.HasPrefix(field, prefixFault):
			var f Fault
			if err := json.Unmarshal(raw, &f); err == nil && f.ID == field[len(prefixFault):] {
				faults[f.ID] = f
			}
		}
	}
	if err := g.applySwitches(in); err != nil {
		g.log.Warn("fleet: shared switches not applied", "error", err.Error())
	}
	g.adoptFaults(faults)
}

// adoptFaults makes the active faults those of the fleet: it adds the ones this instance lacks
// (unexpired, and valid under its config) and ends the ones the fleet no longer has.
func (g *Gateway) adoptFaults(shared map[string]Fault) {
	st := g.state.Load()
	now, since := g.clk.Now(), g.since()
	fs := g.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.pruneLocked(since, func(f *fault) bool { _, ok := shared[f.view.ID]; return !ok })
	for id, view := range shared {
		left := view.ExpiresAt.Sub(now)
		if left <= 0 || slices.ContainsFunc(fs.list, func(f *fault) bool { return f.view.ID == id }) {
			continue
		}
		f, err := newFault(view.FaultSpec, st)
		if err != nil {
			g.log.Warn("fleet: a shared fault does not apply here", "id", id, "error", err.Error())
			continue
		}
		f.view.ID, f.view.CreatedAt, f.view.ExpiresAt = id, view.CreatedAt, view.ExpiresAt
		f.expires = since + min(left, MaxFaultTTL)
		f.counter = g.metrics.Fault(view.Service, view.Kind)
		fs.list = append(fs.list, f)
		g.log.Warn("fault injected by another instance", "id", id, "service", view.Service, "kind", view.Kind,
			"expires_in", left.Round(time.Second).String())
	}
	fs.publishLocked()
}
