package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bulwark-go/bulwark/observe"
)

func newProfilesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "Work with the profiles written by continuous profiling",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newProfilesLsCmd())
	return cmd
}

func newProfilesLsCmd() *cobra.Command {
	var dir, since, service string
	cmd := &cobra.Command{
		Use:   "ls [--dir DIR] [--since 1h|RFC3339] [--service NAME]",
		Short: "List continuous-profiling files, oldest first, ready for go tool pprof",
		Long: `ls lists the CPU and heap profiles that continuous profiling (profiling.* in the gateway
config) wrote to a directory: time (UTC), service, instance, kind, size and path, oldest first.
Files whose names the profiler did not write are ignored.

--since takes a duration back from now (90m, 1h, 24h) or an RFC 3339 time
(2026-03-01T12:00:00Z). --service takes the service name as configured.

Exit status: 0 (also when nothing matches; a note goes to stderr); 1 for an unreadable
directory or a bad flag.`,
		Example: `  bulwark profiles ls --dir /var/lib/bulwark/profiles --since 1h
  go tool pprof -top $(bulwark profiles ls --dir DIR --service gateway | awk '$4 == "cpu" {p = $6} END {print p}')`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			files, err := observe.List(dir, from, service)
			if err != nil {
				return fmt.Errorf("profiles ls: %w", err)
			}
			if len(files) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "bulwark profiles ls: no profiles in %s match\n", dir)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tSERVICE\tINSTANCE\tKIND\tSIZE\tPATH")
			for _, f := range files {
				path := f.Path
				if abs, err := filepath.Abs(path); err == nil {
					path = abs
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Time.UTC().Format(time.RFC3339), f.Service, f.Instance,
					f.Kind, humanSize(f.Size), path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", observe.DefaultProfileDir(), "directory the profiler writes to (profiling.dir)")
	cmd.Flags().StringVar(&since, "since", "", "only profiles started at or after this: a duration back from now (1h) or an RFC 3339 time")
	cmd.Flags().StringVar(&service, "service", "", "only this service's profiles")
	return cmd
}

// parseSince reads --since: "" (no bound), a positive duration back from now, or an RFC 3339
// time.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since %q: a duration must be positive, e.g. 1h", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration such as 1h or an RFC 3339 time such as 2026-03-01T12:00:00Z", s)
	}
	return t, nil
}

// humanSize prints a byte count in binary units: 812B, 14.2KiB, 3.0MiB.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%s", v, [...]string{"KiB", "MiB", "GiB", "TiB"}[i])
}
