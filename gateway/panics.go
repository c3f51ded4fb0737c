package gateway

import (
	"net/http"
	"runtime/debug"

	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// serveRecovering runs serve and recovers a panic in it (SEEDS.md D5): the request is
// answered 500 (or, when its response had begun, its connection is cut once it is logged),
// counted in bulwark_panics_total and with outcome panic, and logged with the stack; the
// gateway keeps serving. http.ErrAbortHandler, the deliberate way to cut a response, passes.
func (g *Gateway) serveRecovering(w http.ResponseWriter, r *http.Request, x *exchange) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		stack := debug.Stack()
		g.metrics.Panic()
		g.log.ErrorContext(r.Context(), "panic recovered", "method", r.Method, "path", r.URL.Path,
			"panic", v, "stack", string(stack))
		if g.panics != nil {
			g.panics.ReportPanic(r.Context(), v, stack, r)
		}
		x.outcome, x.reason = metrics.OutcomePanic, ""
		if x.status != 0 { // the response had begun: a truncated body must not pass for a whole one
			x.abort = true
			return
		}
		x.status = http.StatusInternalServerError
		h := w.Header()
		h[HeaderCenter] = x.st.centerHdr
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal server error\n"))
	}()
	g.serve(w, r, x)
}
