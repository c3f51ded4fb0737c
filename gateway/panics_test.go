package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/gateway/forward"
	"github.com/bulwark-go/bulwark/gateway/metrics"
)

type countingReporter struct{ n atomic.Int64 }

func (c *countingReporter) ReportPanic(_ context.Context, v any, stack []byte, r *http.Request) {
	if v != nil && len(stack) > 0 && r != nil {
		c.n.Add(1)
	}
}

// panickingEngine panics on the first RoundTrip: a bug inside the request path.
type panickingEngine struct {
	engine
	armed atomic.Bool
}

func (p *panickingEngine) RoundTrip(req *forward.Request) (*forward.Response, error) {
	if p.armed.Swap(false) {
		panic("kaboom")
	}
	return p.engine.RoundTrip(req)
}

// TestPanicRecovered: a panic while serving answers 500 with Bulwark-Center, is counted,
// logged with the stack and reported, and the gateway keeps serving.
func TestPanicRecovered(t *testing.T) {
	up := &counting{name: "up"}
	g, url, _ := oneGateway(t, up, func(*config.Service) {})
	rep := &countingReporter{}
	pe := &panickingEngine{engine: g.fwd}
	pe.armed.Store(true)
	g.panics, g.fwd = rep, pe
	status, h, b := body(t, url+"/api/songs", nil)
	if status != http.StatusInternalServerError || h.Get(HeaderCenter) != "sz" || !strings.Contains(b, "internal server error") {
		t.Fatalf("panic answered %d %v %q", status, h, b)
	}
	if status, _, _ := body(t, url+"/api/songs", nil); status != http.StatusOK {
		t.Fatalf("after the panic: %d", status)
	}
	if got := outcomeCount(g, "songs", metrics.OutcomePanic); got != 1 || rep.n.Load() != 1 {
		t.Fatalf("panic outcomes %d, reports %d", got, rep.n.Load())
	}
}
