package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// NewLogger returns the gateway's JSON logger at the named level (debug, info, warn, error;
// "" = info), writing to w (nil = stdout).
func NewLogger(level string, w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stdout
	}
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

// finish records the request in the metrics and the access log.
func (g *Gateway) finish(r *http.Request, x *exchange) {
	d := g.since() - x.start
	if x.outcome == "" {
		x.outcome = metrics.OutcomeOK
	}
	if x.status == 0 {
		x.status = http.StatusOK
	}
	if ro := x.route; ro != nil {
		ro.metrics.Observe(x.status, x.outcome, d)
		ro.svc.counts[outcomeIndex(x.outcome)].Add(1)
	} else {
		x.st.unrouted.Observe(x.status, x.outcome, d)
	}
	if !x.st.accessLog || !g.log.Enabled(context.Background(), slog.LevelInfo) || !logSuccess(x.st, x) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", x.status),
		slog.String("outcome", x.outcome),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("center", x.st.cfg.Center),
		slog.String("remote_addr", r.RemoteAddr),
	)
	if ro := x.route; ro != nil {
		attrs = append(attrs, slog.String("route", ro.name), slog.String("service", ro.svc.name), slog.Int("level", ro.level))
	}
	if x.host != "" {
		attrs = append(attrs, slog.String("upstream", x.host), slog.Int("attempts", x.attempts))
	}
	if x.reason != "" {
		attrs = append(attrs, slog.String("reject", x.reason))
	}
	if x.from != "" {
		attrs = append(attrs, slog.String("failover_from", x.from), slog.String("source_instance", x.instance))
	}
	if x.bytesErr != nil {
		attrs = append(attrs, slog.String("copy_error", x.bytesErr.Error()))
	}
	attrs = accessAttrs(attrs, x.st, r, x)
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}
