package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bulwark-go/bulwark/loadgen"
)

// Exit statuses of `bulwark bench`.
const (
	exitBenchSetup       = 1   // bad flags, targets, files
	exitBenchStopped     = 3   // a --stop-if rule ended the run
	exitBenchInterrupted = 130 // SIGINT or SIGTERM ended the run (the report is still printed)
)

type benchFlags struct {
	method, data, rate, steps, color, hdr, replay, base string
	headers, stopIf                                     []string
	ramp, duration, warmup, timeout                     time.Duration
	workers, backlog                                    int
	json, progress                                      bool
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench [flags] [WEIGHT@]URL...",
		Short: "Send open-model load (constant, ramp or steps) and report latency from the intended send time",
		Long: `bench sends requests at a set rate whatever the server does (an open model), times each
from its intended send time (free of coordinated omission) and prints a report.

Targets: one or more URLs; WEIGHT@URL sends to that URL WEIGHT times as often (default 1).
-X, -H and -d apply to every URL. Or --replay FILE --target BASE_URL sends the requests of a
gateway traffic recording (JSON Lines), in order, against BASE_URL.

Exit status: 0 when the run ended normally, 1 on a setup error, 3 when a --stop-if rule
stopped the run, 130 when interrupted (the report is printed in every case but 1).`,
		Example: `  bulwark bench --rate 500 --duration 30s http://127.0.0.1:8080/api/songs
  bulwark bench --rate 100:2000 --ramp 60s 3@http://127.0.0.1:8080/api/songs 1@http://127.0.0.1:8080/api/orders
  bulwark bench --steps 100x10s,500x10s --stop-if 'error_rate>5%' --stop-if 'p99>200ms' --warmup 5s URL
  bulwark bench --replay traffic.jsonl --target http://127.0.0.1:8080 --rate 1000 --color stress --json > run.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config(cmd, args)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "bulwark bench:", err)
				return exitError{code: exitBenchSetup}
			}
			return runBench(cmd, f, cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.method, "method", "X", "", "HTTP method (default GET, or POST with -d)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	fl.StringVarP(&f.data, "data", "d", "", "request body, or @FILE to read it from a file")
	fl.StringVar(&f.rate, "rate", "", "requests per second: N, or FROM:TO with --ramp (default 100)")
	fl.DurationVar(&f.ramp, "ramp", 0, "length of a FROM:TO ramp; the rate then holds TO")
	fl.StringVar(&f.steps, "steps", "", "rate steps RATExDURATION,... e.g. 100x10s,500x10s (the last rate holds)")
	fl.DurationVar(&f.duration, "duration", 0, "whole run, warm-up included (default 10s, or the ramp's or steps' length)")
	fl.DurationVar(&f.warmup, "warmup", 0, "first part of the run left out of the report and the stop rules")
	fl.IntVar(&f.workers, "workers", loadgen.DefaultMaxWorkers, "most requests in flight")
	fl.IntVar(&f.backlog, "backlog", loadgen.DefaultBacklog, "most sends waiting for a worker; more are dropped and counted")
	fl.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout")
	fl.StringArrayVar(&f.stopIf, "stop-if", nil, "stop rule METRIC OP VALUE [over DURATION], e.g. 'error_rate>5%', 'p99>200ms' (repeatable)")
	fl.StringVar(&f.color, "color", "", "traffic color sent as Bulwark-Color on every request, e.g. stress")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON (with the encoded histograms, for bench report)")
	fl.StringVar(&f.hdr, "hdr", "", "write the latency percentile distribution (HdrHistogram text format) to FILE")
	fl.StringVar(&f.replay, "replay", "", "replay a gateway traffic recording (JSON Lines) against --target")
	fl.StringVar(&f.base, "target", "", "base URL for --replay")
	fl.BoolVar(&f.progress, "progress", false, "when stderr is not a terminal, print one progress line per second")
	cmd.AddCommand(newBenchReportCmd())
	return cmd
}

// config turns the flags into a loadgen.Config.
func (f benchFlags) config(cmd *cobra.Command, args []string) (loadgen.Config, error) {
	var cfg loadgen.Config
	var err error
	if cfg.Targets, cfg.InOrder, err = f.targets(args); err != nil {
		return cfg, err
	}
	changed := cmd.Flags().Changed
	switch {
	case f.steps != "" && (f.rate != "" || changed("ramp")):
		return cfg, errors.New("--steps cannot be combined with --rate or --ramp")
	case f.steps != "":
		steps, err := loadgen.ParseSteps(f.steps)
		if err != nil {
			return cfg, err
		}
		cfg.Schedule, cfg.Duration = steps, steps.Total()
	default:
		rate := f.rate
		if rate == "" {
			rate = "100"
		}
		if cfg.Schedule, err = loadgen.ParseRate(rate, f.ramp); err != nil {
			return cfg, err
		}
		if _, ok := cfg.Schedule.(loadgen.Ramp); ok {
			cfg.Duration = f.ramp
		} else if changed("ramp") {
			return cfg, errors.New("--ramp needs --rate FROM:TO")
		}
	}
	if changed("duration") {
		if f.duration <= 0 {
			return cfg, errors.New("--duration must be > 0")
		}
		cfg.Duration = f.duration
	}
	if cfg.Duration == 0 {
		cfg.Duration = loadgen.DefaultDuration
	}
	if f.warmup < 0 || f.warmup >= cfg.Duration {
		return cfg, fmt.Errorf("--warmup %v must be shorter than the run (%v)", f.warmup, cfg.Duration)
	}
	if f.workers <= 0 || f.backlog <= 0 || f.timeout <= 0 {
		return cfg, errors.New("--workers, --backlog and --timeout must be > 0")
	}
	cfg.Warmup, cfg.MaxWorkers, cfg.Backlog, cfg.Timeout, cfg.Color = f.warmup, f.workers, f.backlog, f.timeout, f.color
	for _, s := range f.stopIf {
		r, err := loadgen.ParseRule(s)
		if err != nil {
			return cfg, err
		}
		cfg.StopIf = append(cfg.StopIf, r)
	}
	return cfg, nil
}

func (f benchFlags) targets(args []string) ([]loadgen.Target, bool, error) {
	if f.replay != "" {
		if len(args) > 0 || f.method != "" || f.data != "" || len(f.headers) > 0 {
			return nil, false, errors.New("--replay takes no URL arguments, -X, -H or -d: the recording has them; give the base URL with --target")
		}
		if f.base == "" {
			return nil, false, errors.New("--replay needs --target BASE_URL")
		}
		file, err := os.Open(f.replay)
		if err != nil {
			return nil, false, err
		}
		defer file.Close()
		ts, err := loadgen.ParseReplay(file, f.base)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", f.replay, err)
		}
		return ts, true, nil
	}
	if f.base != "" {
		return nil, false, errors.New("--target is the base URL for --replay; give URLs as arguments")
	}
	if len(args) == 0 {
		return nil, false, errors.New("no target: give at least one URL, or --replay FILE --target BASE_URL")
	}
	h := http.Header{}
	for _, kv := range f.headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, false, fmt.Errorf("header %q: write 'Name: value'", kv)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	var body []byte
	if f.data != "" {
		body = []byte(f.data)
		if name, ok := strings.CutPrefix(f.data, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, false, err
			}
			body = b
		}
	}
	method := strings.ToUpper(f.method)
	if method == "" {
		method = http.MethodGet
		if f.data != "" {
			method = http.MethodPost
		}
	}
	var ts []loadgen.Target
	for _, a := range args {
		t := loadgen.Target{Method: method, URL: a, Header: h, Body: body, Weight: 1}
		if w, u, ok := strings.Cut(a, "@"); ok && !strings.Contains(w, "/") {
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 || n > 1_000_000 {
				return nil, false, fmt.Errorf("target %q: the weight before @ must be a whole number from 1 to 1000000", a)
			}
			t.URL, t.Weight = u, n
		}
		ts = append(ts, t)
	}
	return ts, false, nil
}

func runBench(cmd *cobra.Command, f benchFlags, cfg loadgen.Config) error {
	stderr := cmd.ErrOrStderr()
	ctx, stop := signal.NotifyContext(benchContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := false
	if file, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(file.Fd()))
	}
	switch {
	case tty:
		cfg.OnTick = func(s loadgen.Snapshot) { fmt.Fprint(stderr, "\r\033[K"+progressLine(s, true)) }
	case f.progress:
		cfg.OnTick = func(s loadgen.Snapshot) { fmt.Fprintln(stderr, progressLine(s, false)) }
	}
	rep, err := loadgen.Run(ctx, cfg)
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintln(stderr, "bulwark bench:", err)
		return exitError{code: exitBenchSetup}
	}
	if err := writeBenchReport(cmd.OutOrStdout(), rep, f.json, f.hdr); err != nil {
		fmt.Fprintln(stderr, "bulwark bench:", err)
		return exitError{code: exitBenchSetup}
	}
	switch {
	case rep.StoppedBy == "interrupted":
		return exitError{code: exitBenchInterrupted}
	case rep.StoppedBy != "":
		fmt.Fprintf(stderr, "bulwark bench: stopped by rule %q (%s)\n", rep.StoppedBy, rep.StopValue)
		return exitError{code: exitBenchStopped}
	}
	return nil
}

func benchContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func writeBenchReport(w io.Writer, rep *loadgen.Report, asJSON bool, hdr string) error {
	if hdr != "" {
		file, err := os.Create(hdr)
		if err != nil {
			return err
		}
		werr := rep.WriteHDR(file)
		if err := file.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return werr
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(w)
}

// progressLine renders one live line; with bar it starts with a progress bar.
func progressLine(s loadgen.Snapshot, bar bool) string {
	var b strings.Builder
	if bar {
		const width = 24
		done := 0
		if s.Duration > 0 {
			done = min(width, int(float64(width)*float64(s.Elapsed)/float64(s.Duration)))
		}
		b.WriteString("[" + strings.Repeat("=", done) + strings.Repeat(" ", width-done) + "] ")
	}
	phase := ""
	if s.Warmup {
		phase = " warm-up"
	}
	fmt.Fprintf(&b, "%3.0fs/%.0fs%s  %.0f/s (target %.0f)  p50 %s p99 %s  err %.2f%%  late %d  dropped %d  in flight %d",
		s.Elapsed.Seconds(), s.Duration.Seconds(), phase, s.Rate, s.TargetRate,
		fmtMs(s.P50), fmtMs(s.P99), 100*s.ErrorRate, s.Late, s.Dropped, s.InFlight)
	return b.String()
}

func fmtMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

func newBenchReportCmd() *cobra.Command {
	var asJSON bool
	var hdr string
	cmd := &cobra.Command{
		Use:   "report FILE.json...",
		Short: "Merge the JSON reports of runs made at the same time (e.g. from several machines) into one",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var reps []*loadgen.Report
			for _, name := range args {
				b, err := os.ReadFile(name)
				if err == nil {
					r := new(loadgen.Report)
					if err = json.Unmarshal(b, r); err == nil {
						reps = append(reps, r)
						continue
					}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "bulwark bench report: %s: %v\n", name, err)
				return exitError{code: 1}
			}
			merged, err := loadgen.Merge(reps...)
			if err == nil {
				err = writeBenchReport(cmd.OutOrStdout(), merged, asJSON, hdr)
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "bulwark bench report:", err)
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the merged report as JSON")
	cmd.Flags().StringVar(&hdr, "hdr", "", "write the merged latency percentile distribution to FILE")
	return cmd
}
