// Command bulwark is Bulwark's one binary: the gateway, its config checker, and (in later
// issues) the demo, the load engine and the drill runner.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var ex exitError
		if asExit(err, &ex) {
			os.Exit(ex.code)
		}
		fmt.Fprintln(os.Stderr, "bulwark:", err)
		os.Exit(1)
	}
}
