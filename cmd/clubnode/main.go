// Command clubnode is the one binary of clubnode: the daemon (a node of
// the network, serving the local API and UI) and the CLI that drives a
// running daemon through that API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Ctrl-C or SIGTERM cancels the command's context: the daemon shuts
	// down cleanly and a waiting CLI request gives up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd, err := newRootCommand().ExecuteContextC(ctx)
	stop()
	if err != nil {
		reportError(os.Stderr, err, cmd != nil && jsonOutput(cmd))
		os.Exit(1)
	}
}
