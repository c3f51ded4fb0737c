package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; otherwise it comes
// from the module's build info.
var version = ""

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "bulwark",
		Short:         "Bulwark keeps a two-center web service available through failures and overload",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newGatewayCmd(), newCheckCmd(), newBenchCmd(), newDemoCmd(), newDrillCmd(), newProfilesCmd(), newVersionCmd())
	return root
}

// exitError ends the program with a code after its message was already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func asExit(err error, target *exitError) bool { return errors.As(err, target) }

// Version returns the version string printed by `bulwark version`.
func Version() string {
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "bulwark %s %s %s/%s\n", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
