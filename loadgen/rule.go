package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Rule stops a run when a metric over the last Window seconds crosses a threshold (SEEDS.md
// C4: "monitoring stops the test automatically by rules"). Rules are written
//
//	METRIC OP VALUE [over DURATION]
//
// for example "error_rate>5%", "p99>200ms", "rate<100 over 10s". Metrics:
//
//   - error_rate, reject_rate, late_rate, drop_rate: fractions, written 5% or 0.05.
//     error_rate = (transport errors + 5xx answers) ÷ finished requests; reject_rate = answers
//     carrying Bulwark-Reject ÷ finished requests; late_rate = late sends ÷ sends;
//     drop_rate = dropped ÷ scheduled.
//   - p50, p90, p95, p99, p99.9, p99.99, max, mean: latency from the intended send time,
//     written as a duration with a unit (200ms, 1.5s).
//   - rate: finished requests per second.
//
// OP is one of > >= < <=. The window is 1s to 60s, 5s by default. A window in which no request
// finished never trips a rule (there is nothing to judge), except drop_rate and late_rate.
type Rule struct {
	Text      string        // the rule as written
	Metric    string        // canonical metric name
	Op        string        // >, >=, <, <=
	Threshold float64       // fraction, requests/s, or nanoseconds for latencies
	Window    time.Duration // evaluation window, whole seconds
}

// ErrRule is returned (wrapped) by ParseRule.
var ErrRule = errors.New("loadgen: bad stop rule")

// DefaultRuleWindow is the window of a rule written without "over".
const DefaultRuleWindow = 5 * time.Second

// maxRuleWindow bounds "over" and sizes the engine's ring of per-second buckets.
const maxRuleWindow = 60 * time.Second

type metricKind int

const (
	kindFraction metricKind = iota
	kindLatency
	kindRate
)

var ruleMetrics = map[string]metricKind{
	"error_rate": kindFraction, "reject_rate": kindFraction, "late_rate": kindFraction, "drop_rate": kindFraction,
	"p50": kindLatency, "p90": kindLatency, "p95": kindLatency, "p99": kindLatency, "p99.9": kindLatency,
	"p99.99": kindLatency, "max": kindLatency, "mean": kindLatency,
	"rate": kindRate,
}

const ruleHelp = "write METRIC OP VALUE [over DURATION], e.g. error_rate>5%, p99>200ms, rate<100 over 10s; " +
	"metrics: error_rate, reject_rate, late_rate, drop_rate (5% or 0.05), p50, p90, p95, p99, p99.9, p99.99, max, mean (a duration such as 200ms), rate (requests/s); " +
	"operators: > >= < <="

// ParseRule parses one stop rule. The error names the rule and says what is allowed.
func ParseRule(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("%w %q: %s; %s", ErrRule, s, why, ruleHelp)
	}
	text := strings.TrimSpace(s)
	r := Rule{Text: text, Window: DefaultRuleWindow}
	if i := strings.Index(text, " over "); i >= 0 {
		w, err := time.ParseDuration(strings.TrimSpace(text[i+len(" over "):]))
		if err != nil || w < time.Second || w > maxRuleWindow || w%time.Second != 0 {
			return bad("the window after \"over\" must be whole seconds from 1s to 60s")
		}
		r.Window = w
		text = strings.TrimSpace(text[:i])
	}
	opAt := strings.IndexAny(text, "<>")
	if opAt < 0 {
		return bad("no operator")
	}
	r.Metric = strings.ToLower(strings.TrimSpace(text[:opAt]))
	rest := text[opAt:]
	r.Op = rest[:1]
	if len(rest) > 1 && rest[1] == '=' {
		r.Op += "="
	}
	value := strings.TrimSpace(rest[len(r.Op):])
	kind, ok := ruleMetrics[r.Metric]
	if !ok {
		if r.Metric == "" {
			return bad("no metric before the operator")
		}
		return bad(fmt.Sprintf("unknown metric %q", r.Metric))
	}
	if value == "" {
		return bad("no value after the operator")
	}
	switch kind {
	case kindFraction:
		pct := strings.HasSuffix(value, "%")
		v, err := strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad(fmt.Sprintf("%s takes a share such as 5%% or 0.05, got %q", r.Metric, value))
		}
		if pct {
			v /= 100
		}
		if v < 0 || v > 1 {
			return bad(fmt.Sprintf("%s must be within 0%%..100%%, got %q", r.Metric, value))
		}
		r.Threshold = v
	case kindLatency:
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 {
			return bad(fmt.Sprintf("%s takes a duration with a unit such as 200ms, got %q", r.Metric, value))
		}
		r.Threshold = float64(d)
	case kindRate:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return bad(fmt.Sprintf("rate takes requests per second ≥ 0, got %q", value))
		}
		r.Threshold = v
	}
	return r, nil
}

// windowStats is what the rules see: the sums of the last seconds.
type windowStats struct {
	seconds   int
	latency   *hdrhistogram.Histogram // µs
	finished  int64                   // completed + transport errors
	errors    int64                   // transport errors + 5xx
	rejected  int64
	sent      int64
	late      int64
	scheduled int64
	dropped   int64
}

// value computes the rule's metric over w. ok is false when the window holds nothing to judge.
func (r Rule) value(w *windowStats) (v float64, ok bool) {
	ratio := func(a, b int64) (float64, bool) {
		if b == 0 {
			return 0, false
		}
		return float64(a) / float64(b), true
	}
	switch r.Metric {
	case "error_rate":
		return ratio(w.errors, w.finished)
	case "reject_rate":
		return ratio(w.rejected, w.finished)
	case "late_rate":
		return ratio(w.late, w.sent)
	case "drop_rate":
		return ratio(w.dropped, w.scheduled)
	case "rate":
		if w.seconds == 0 {
			return 0, false
		}
		return float64(w.finished) / float64(w.seconds), true
	}
	if w.latency.TotalCount() == 0 {
		return 0, false
	}
	switch r.Metric {
	case "max":
		return float64(w.latency.Max()) * 1e3, true
	case "mean":
		return w.latency.Mean() * 1e3, true
	}
	q, _ := strconv.ParseFloat(strings.TrimPrefix(r.Metric, "p"), 64)
	return float64(w.latency.ValueAtQuantile(q)) * 1e3, true
}

// tripped reports whether v crosses the threshold.
func (r Rule) tripped(v float64) bool {
	switch r.Op {
	case ">":
		return v > r.Threshold
	case ">=":
		return v >= r.Threshold
	case "<":
		return v < r.Threshold
	default:
		return v <= r.Threshold
	}
}

// formatValue renders a metric value in the rule's unit.
func (r Rule) formatValue(v float64) string {
	switch ruleMetrics[r.Metric] {
	case kindFraction:
		return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
	case kindLatency:
		return fmtDur(time.Duration(v))
	default:
		return strconv.FormatFloat(v, 'f', 1, 64) + "/s"
	}
}
