package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/demo"
)

func newDemoCmd() *cobra.Command {
	var (
		duration time.Duration
		rate     float64
		asJSON   bool
		serve    bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole system on this machine: two centers, failures, overload, recovery",
		Long: `demo builds two centers in one process (sz, primary, and sh), each with a real gateway and
simulated hosts (3 per service: songs L1, comments L2, avatars L3, badges L4, and the write route
/api/orders served by sz), all on loopback. It then plays a scripted story — steady state; songs
fails in sz; sh degrades too; overload at 3×; recovery — under load from the loadgen engine, shows
a live view, and judges each phase against the expectation it states up front. It exits 0 only
if every phase met its expectation.

With --serve it keeps the topology up without the story, on fixed addresses (sz gateway
127.0.0.1:18080, admin :18081; sh gateway :18090, admin :18091), until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if serve {
				return serveDemo(ctx, cmd)
			}
			cpu := &demo.StoryCPU{}
			top, err := demo.Start(demo.Options{CPU: func(string) adaptive.CPU { return cpu }})
			if err != nil {
				return err
			}
			defer top.Close()
			live := cmd.ErrOrStderr()
			if asJSON {
				live = nil
			}
			tty := false
			if f, ok := live.(*os.File); ok {
				tty = term.IsTerminal(int(f.Fd()))
			}
			if live != nil {
				fmt.Fprintln(live, "bulwark demo: two centers on loopback")
				top.Describe(live)
			}
			sum, err := demo.RunStory(ctx, top, cpu, demo.StoryOptions{Duration: duration, ReadRate: rate, Live: live, TTY: tty})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
			} else if err := sum.WriteText(cmd.OutOrStdout()); err != nil {
				return err
			}
			if !sum.Pass {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&duration, "duration", 60*time.Second, "length of the whole story; every phase scales with it")
	f.Float64Var(&rate, "rate", 40, "requests per second per read service per center at 1× load")
	f.BoolVar(&asJSON, "json", false, "write the summary as JSON on stdout (no live view)")
	f.BoolVar(&serve, "serve", false, "keep the topology up without the story, on fixed addresses")
	return cmd
}

func serveDemo(ctx context.Context, cmd *cobra.Command) error {
	top, err := demo.Start(demo.Options{Addrs: demo.FixedAddrs})
	if err != nil {
		return err
	}
	defer top.Close()
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "bulwark demo --serve: two centers on loopback; Ctrl-C stops")
	top.Describe(out)
	<-ctx.Done()
	return nil
}
