package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bulwark-go/bulwark/fleet"
	"github.com/bulwark-go/bulwark/gateway"
	"github.com/bulwark-go/bulwark/gateway/config"
)

func newGatewayCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "gateway -c FILE",
		Short: "Run the gateway (SIGHUP reloads the config; SIGTERM or SIGINT drains and stops)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			return runGateway(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "config file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runGateway(ctx context.Context, cfg *config.Config) error {
	logger := gateway.NewLogger(cfg.Log.Level, nil)
	fleet.SetRedisLogger(logger) // go-redis's per-dial lines go to debug; the fleet logs outages once
	gw, err := gateway.New(cfg, gateway.WithLogger(logger))
	if err != nil {
		return err
	}
	if err := gw.Start(); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = gw.ReloadFile() // logged; the old config keeps running on error
				continue
			}
			return gw.Shutdown(context.Background())
		case <-ctx.Done():
			return gw.Shutdown(context.Background())
		}
	}
}

func newCheckCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "check -c FILE",
		Short: "Validate a config and print a summary (exit 0 when valid, 1 when not)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				fmt.Fprintf(cmd.ErrOrStderr(), "bulwark: %s: config is NOT valid\n", file)
				return exitError{code: 1}
			}
			cfg.Summary(cmd.OutOrStdout())
			fmt.Fprintf(cmd.OutOrStdout(), "bulwark: %s: config is valid\n", file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "config file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
