package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bulwark-go/bulwark/drill"
)

// Exit statuses of `bulwark drill`.
const (
	exitDrillFailed      = 1   // the drill ran to the end and a check failed (or a rollback did)
	exitDrillAborted     = 2   // a guard tripped, the gateway refused a fault or action, or the file is invalid
	exitDrillInterrupted = 130 // SIGINT or SIGTERM: changes rolled back, the checklist so far printed
)

func newDrillCmd() *cobra.Command {
	var (
		file          string
		asJSON, quiet bool
		scale         float64
	)
	cmd := &cobra.Command{
		Use:   "drill -f FILE.yaml",
		Short: "Run a fault and load drill against the gateways and print its checklist",
		Long: `drill runs the steps of a YAML drill file: it applies faults and admin actions through the
gateways' admin APIs, puts load on with the load engine, watches the steady state (aborting
when a guard trips), checks the expectations, and rolls every change back at the end of each
step, on abort and on Ctrl-C.

${NAME} and ${NAME:-default} in the file take the environment's value; SZ_URL, SZ_ADMIN,
SH_URL and SH_ADMIN default to the addresses of 'bulwark demo --serve'.

Exit status: 0 every check passed; 1 a check (or a rollback) failed; 2 the drill was aborted
by a guard or a refused fault/action, or the file is invalid; 130 interrupted.`,
		Example: `  bulwark demo --serve &
  bulwark drill -f examples/drills/noncritical-fail.yaml
  bulwark drill -f examples/drills/overload-3x.yaml --scale 0.2 --json > result.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := drill.Load(file)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "bulwark drill:", err)
				return exitError{code: exitDrillAborted}
			}
			if scale < 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "bulwark drill: --scale must be > 0")
				return exitError{code: exitDrillAborted}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var progress io.Writer
			if !quiet {
				progress = cmd.ErrOrStderr()
			}
			res, err := drill.Run(ctx, d, drill.Options{Scale: scale, Progress: progress})
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "bulwark drill:", err)
				return exitError{code: exitDrillAborted}
			}
			if asJSON {
				err = res.WriteJSON(cmd.OutOrStdout())
			} else {
				err = res.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			switch {
			case res.Interrupted:
				return exitError{code: exitDrillInterrupted}
			case res.Aborted != "":
				return exitError{code: exitDrillAborted}
			case !res.Passed():
				return exitError{code: exitDrillFailed}
			}
			return nil
		},
	}
	cmd.SetContext(context.Background())
	fl := cmd.Flags()
	fl.StringVarP(&file, "file", "f", "", "the drill file (YAML)")
	fl.BoolVar(&asJSON, "json", false, "print the checklist as JSON")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	fl.Float64Var(&scale, "scale", 1, "multiply every load duration and pause, e.g. 0.2 for a quick run")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
