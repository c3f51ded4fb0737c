package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the result of one run, or of several merged. Counts cover the measured period
// (the warm-up is left out) and every scheduled request is accounted for:
// Scheduled = Sent + Dropped + Cancelled(unsent), and Sent = Completed + Errors + Cancelled(in flight).
type Report struct {
	Runs           int           // runs merged into this report (1 for a plain run)
	Start          time.Time     // start of the measured period (earliest, when merged)
	Duration       time.Duration // length of the measured period (longest, when merged)
	TargetRate     float64       // scheduled ÷ Duration: what the schedule asked for
	AchievedRate   float64       // sends per second, from the first and last actual send times
	Throughput     float64       // answers ÷ time from the start to the last answer (at least Duration)
	Scheduled      int64         // intended sends
	Sent           int64         // requests actually sent
	Completed      int64         // answered, any status
	Errors         int64         // no answer: transport error or timeout (by kind in ErrorKinds)
	Late           int64         // sent more than Config.LateAfter after the intended time
	Dropped        int64         // never sent: the backlog was full
	Cancelled      int64         // not sent, or cut short, because the run stopped early
	WarmupRequests int64         // sent during the warm-up, not counted elsewhere
	Status         map[int]int64
	Rejects        map[string]int64 // Bulwark-Reject values
	ErrorKinds     map[string]int64
	StoppedBy      string // the stop rule that ended the run, or "interrupted"; "" when it ran out
	StopValue      string // the metric's value when the rule tripped
	// Latency is timed from each request's intended send time (free of coordinated omission);
	// ServiceTime from its actual send time, as a closed-loop tool would. Microseconds, 1 µs
	// to 60 s, 3 significant digits. Answers only.
	Latency     *hdrhistogram.Histogram
	ServiceTime *hdrhistogram.Histogram
}

func (e *engine) report(end time.Time) *Report {
	r := &Report{
		Runs: 1, Start: e.measure, Duration: max(end.Sub(e.measure), 0),
		Scheduled: e.mScheduled.Load(), Dropped: e.mDropped.Load(),
		Status: map[int]int64{}, Rejects: map[string]int64{}, ErrorKinds: map[string]int64{},
		Latency: newHist(), ServiceTime: newHist(),
	}
	e.stopMu.Lock()
	r.StoppedBy, r.StopValue = e.stoppedBy, e.stopValue
	e.stopMu.Unlock()
	var first, last, lastEnd time.Time
	var c counts
	for _, rec := range e.recs { // every worker has ended
		c.add(rec.total)
		r.WarmupRequests += rec.warmup
		r.Latency.Merge(rec.latency)
		r.ServiceTime.Merge(rec.service)
		for k, v := range rec.status {
			r.Status[k] += v
		}
		for k, v := range rec.rejects {
			r.Rejects[k] += v
		}
		for k, v := range rec.errKinds {
			r.ErrorKinds[k] += v
		}
		if !rec.firstSend.IsZero() && (first.IsZero() || rec.firstSend.Before(first)) {
			first = rec.firstSend
		}
		if rec.lastSend.After(last) {
			last = rec.lastSend
		}
		if rec.lastEnd.After(lastEnd) {
			lastEnd = rec.lastEnd
		}
	}
	r.Sent, r.Completed, r.Errors, r.Late, r.Cancelled = c.sent, c.completed, c.errors, c.late, c.cancelled
	// Sends cancelled before they went out were counted as cancelled but not as sent.
	if secs := r.Duration.Seconds(); secs > 0 {
		r.TargetRate = float64(r.Scheduled) / secs
		// Late sends answered after the end stretch the time, so a sender or server that
		// fell behind cannot claim the target rate.
		r.Throughput = float64(r.Completed) / max(secs, lastEnd.Sub(e.measure).Seconds())
	}
	if span := last.Sub(first); r.Sent >= 2 && span > 0 {
		r.AchievedRate = float64(r.Sent-1) / span.Seconds()
	}
	return r
}

// Percentile returns the latency (from the intended send time) at q, 0 ≤ q ≤ 100; 0 when
// nothing was answered.
func (r *Report) Percentile(q float64) time.Duration {
	return histPercentile(r.Latency, q)
}

func histPercentile(h *hdrhistogram.Histogram, q float64) time.Duration {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond
}

func histMaxDur(h *hdrhistogram.Histogram) time.Duration {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(h.Max()) * time.Microsecond
}

// reportPercentiles are the percentiles the text and JSON reports show.
var reportPercentiles = []struct {
	name string
	q    float64
}{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"p99.99", 99.99}}

// WriteText writes the human report.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	runs := ""
	if r.Runs > 1 {
		runs = fmt.Sprintf(" (%d runs merged)", r.Runs)
	}
	fmt.Fprintf(&b, "bulwark bench: %d requests in %s%s\n", r.Sent, fmtSecs(r.Duration), runs)
	if r.StoppedBy != "" {
		if r.StopValue != "" {
			fmt.Fprintf(&b, "  STOPPED by rule %q (value %s)\n", r.StoppedBy, r.StopValue)
		} else {
			fmt.Fprintf(&b, "  STOPPED: %s\n", r.StoppedBy)
		}
	}
	fmt.Fprintf(&b, "  rate:       target %.1f/s, achieved %.1f/s sent, %.1f/s answered\n", r.TargetRate, r.AchievedRate, r.Throughput)
	fmt.Fprintf(&b, "  requests:   scheduled %d, sent %d, answered %d, errors %d\n", r.Scheduled, r.Sent, r.Completed, r.Errors)
	fmt.Fprintf(&b, "  sender:     late %d (%s), dropped %d (%s), cancelled %d, warm-up %d\n",
		r.Late, pct(r.Late, r.Sent), r.Dropped, pct(r.Dropped, r.Scheduled), r.Cancelled, r.WarmupRequests)
	b.WriteString("  latency from the intended send time (service time from the actual send in brackets):\n")
	for _, p := range reportPercentiles {
		fmt.Fprintf(&b, "    %-7s %12s  (%s)\n", p.name, fmtDur(histPercentile(r.Latency, p.q)), fmtDur(histPercentile(r.ServiceTime, p.q)))
	}
	fmt.Fprintf(&b, "    %-7s %12s  (%s)\n", "max", fmtDur(histMaxDur(r.Latency)), fmtDur(histMaxDur(r.ServiceTime)))
	if len(r.Status) > 0 {
		b.WriteString("  status:    ")
		for _, k := range slices.Sorted(maps.Keys(r.Status)) {
			fmt.Fprintf(&b, " %d: %d (%s)", k, r.Status[k], pct(r.Status[k], r.Completed))
		}
		b.WriteByte('\n')
	}
	writeCounts(&b, "  rejected:  ", r.Rejects, r.Completed)
	writeCounts(&b, "  errors:    ", r.ErrorKinds, r.Sent)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCounts(b *strings.Builder, label string, m map[string]int64, of int64) {
	if len(m) == 0 {
		return
	}
	b.WriteString(label)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, " %s: %d (%s)", k, m[k], pct(m[k], of))
	}
	b.WriteByte('\n')
}

func pct(a, b int64) string {
	if b == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 2, 64) + "%"
}

func fmtSecs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s" }

// fmtDur prints a latency in milliseconds with microsecond precision.
func fmtDur(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
}

// WriteHDR writes the latency histogram (from the intended send time) in HdrHistogram's
// percentile-distribution text format, values in milliseconds, 5 ticks per half distance, as
// HdrHistogram's plotter and wrk2 --u_latency read it.
func (r *Report) WriteHDR(w io.Writer) error {
	h := r.Latency
	if h == nil {
		h = newHist()
	}
	_, err := h.PercentilesPrint(w, 5, microsPerMilli)
	return err
}

// jsonReport is the JSON form. The *_hdr fields hold the histograms in HdrHistogram's V2
// compressed encoding (base64), which Merge reads back exactly.
type jsonReport struct {
	Runs           int                `json:"runs"`
	Start          time.Time          `json:"start"`
	DurationS      float64            `json:"duration_s"`
	TargetRate     float64            `json:"target_rate"`
	AchievedRate   float64            `json:"achieved_rate"`
	Throughput     float64            `json:"throughput"`
	Scheduled      int64              `json:"scheduled"`
	Sent           int64              `json:"sent"`
	Completed      int64              `json:"completed"`
	Errors         int64              `json:"errors"`
	Late           int64              `json:"late"`
	Dropped        int64              `json:"dropped"`
	Cancelled      int64              `json:"cancelled"`
	WarmupRequests int64              `json:"warmup_requests"`
	Status         map[string]int64   `json:"status"`
	Rejects        map[string]int64   `json:"rejects"`
	ErrorKinds     map[string]int64   `json:"error_kinds"`
	StoppedBy      string             `json:"stopped_by,omitempty"`
	StopValue      string             `json:"stop_value,omitempty"`
	LatencyMs      map[string]float64 `json:"latency_ms"`
	ServiceTimeMs  map[string]float64 `json:"service_time_ms"`
	LatencyHDR     string             `json:"latency_hdr"`
	ServiceTimeHDR string             `json:"service_time_hdr"`
}

func summaryMs(h *hdrhistogram.Histogram) map[string]float64 {
	m := map[string]float64{}
	for _, p := range reportPercentiles {
		m[p.name] = float64(histPercentile(h, p.q)) / 1e6
	}
	m["max"] = float64(histMaxDur(h)) / 1e6
	if h != nil {
		m["mean"] = h.Mean() / microsPerMilli
	}
	return m
}

// MarshalJSON writes the report with its histograms encoded, so that Merge is exact.
func (r *Report) MarshalJSON() ([]byte, error) {
	j := jsonReport{
		Runs: r.Runs, Start: r.Start, DurationS: r.Duration.Seconds(), TargetRate: r.TargetRate,
		AchievedRate: r.AchievedRate, Throughput: r.Throughput, Scheduled: r.Scheduled, Sent: r.Sent,
		Completed: r.Completed, Errors: r.Errors, Late: r.Late, Dropped: r.Dropped, Cancelled: r.Cancelled,
		WarmupRequests: r.WarmupRequests, Status: map[string]int64{}, Rejects: r.Rejects,
		ErrorKinds: r.ErrorKinds, StoppedBy: r.StoppedBy, StopValue: r.StopValue,
		LatencyMs: summaryMs(r.Latency), ServiceTimeMs: summaryMs(r.ServiceTime),
	}
	for k, v := range r.Status {
		j.Status[strconv.Itoa(k)] = v
	}
	var err error
	if j.LatencyHDR, err = encodeHist(r.Latency); err != nil {
		return nil, err
	}
	if j.ServiceTimeHDR, err = encodeHist(r.ServiceTime); err != nil {
		return nil, err
	}
	return json.Marshal(j)
}

func encodeHist(h *hdrhistogram.Histogram) (string, error) {
	if h == nil {
		h = newHist()
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}

// ErrReport is returned (wrapped) for a JSON report that cannot be read or merged.
var ErrReport = errors.New("loadgen: bad report")

// UnmarshalJSON reads a report written by MarshalJSON.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j jsonReport
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: %v", ErrReport, err)
	}
	lat, err := hdrhistogram.Decode([]byte(j.LatencyHDR))
	if err != nil {
		return fmt.Errorf("%w: latency_hdr: %v", ErrReport, err)
	}
	svc, err := hdrhistogram.Decode([]byte(j.ServiceTimeHDR))
	if err != nil {
		return fmt.Errorf("%w: service_time_hdr: %v", ErrReport, err)
	}
	*r = Report{
		Runs: max(j.Runs, 1), Start: j.Start, Duration: time.Duration(j.DurationS * float64(time.Second)),
		TargetRate: j.TargetRate, AchievedRate: j.AchievedRate, Throughput: j.Throughput,
		Scheduled: j.Scheduled, Sent: j.Sent, Completed: j.Completed, Errors: j.Errors, Late: j.Late,
		Dropped: j.Dropped, Cancelled: j.Cancelled, WarmupRequests: j.WarmupRequests,
		Status: map[int]int64{}, Rejects: orEmpty(j.Rejects), ErrorKinds: orEmpty(j.ErrorKinds),
		StoppedBy: j.StoppedBy, StopValue: j.StopValue, Latency: lat, ServiceTime: svc,
	}
	for k, v := range j.Status {
		code, err := strconv.Atoi(k)
		if err != nil {
			return fmt.Errorf("%w: status %q is not a number", ErrReport, k)
		}
		r.Status[code] = v
	}
	return nil
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// Merge combines reports of runs made at the same time (several machines loading one
// target): counts and rates add up, the histograms merge exactly, the duration is the longest
// and the start the earliest. The inputs are not modified.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("%w: nothing to merge", ErrReport)
	}
	out := &Report{
		Status: map[int]int64{}, Rejects: map[string]int64{}, ErrorKinds: map[string]int64{},
		Latency: newHist(), ServiceTime: newHist(),
	}
	var stops []string
	for i, r := range reports {
		if r == nil || r.Latency == nil || r.ServiceTime == nil {
			return nil, fmt.Errorf("%w: report %d has no histograms", ErrReport, i+1)
		}
		out.Runs += max(r.Runs, 1)
		if out.Start.IsZero() || (!r.Start.IsZero() && r.Start.Before(out.Start)) {
			out.Start = r.Start
		}
		out.Duration = max(out.Duration, r.Duration)
		out.TargetRate += r.TargetRate
		out.AchievedRate += r.AchievedRate
		out.Throughput += r.Throughput
		out.Scheduled += r.Scheduled
		out.Sent += r.Sent
		out.Completed += r.Completed
		out.Errors += r.Errors
		out.Late += r.Late
		out.Dropped += r.Dropped
		out.Cancelled += r.Cancelled
		out.WarmupRequests += r.WarmupRequests
		for k, v := range r.Status {
			out.Status[k] += v
		}
		for k, v := range r.Rejects {
			out.Rejects[k] += v
		}
		for k, v := range r.ErrorKinds {
			out.ErrorKinds[k] += v
		}
		if r.StoppedBy != "" {
			stops = append(stops, r.StoppedBy)
		}
		if d := out.Latency.Merge(r.Latency); d != 0 {
			return nil, fmt.Errorf("%w: report %d: %d latency values out of range", ErrReport, i+1, d)
		}
		if d := out.ServiceTime.Merge(r.ServiceTime); d != 0 {
			return nil, fmt.Errorf("%w: report %d: %d service-time values out of range", ErrReport, i+1, d)
		}
	}
	out.StoppedBy = strings.Join(stops, "; ")
	return out, nil
}
