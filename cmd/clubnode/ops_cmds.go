package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/internal/version"
	"github.com/clubnode/clubnode/node/apiv1"
)

// addOpsCommands adds what the people who run a node use: version,
// shutdown and log-level.
func addOpsCommands(root *cobra.Command) {
	root.AddCommand(newVersionCommand(), newShutdownCommand(), newLogLevelCommand())
	// --version prints the same line as the version command.
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version and the VCS revision this binary was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Get()
			return output(cmd, info, func() string { return info.String() + "\n" })
		},
	}
}

func newShutdownCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shutdown",
		Short: "Stop the running daemon cleanly and wait until it has exited",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wait, _ := cmd.Flags().GetDuration("wait")
			return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
				res, err := c.Shutdown(ctx)
				if err != nil {
					return err
				}
				if wait > 0 && res.PID > 0 {
					if err := waitExit(cmd.Context(), res.PID, wait); err != nil {
						return err
					}
				}
				return output(cmd, res, func() string { return "daemon stopped\n" })
			})
		},
	}
	cmd.Flags().Duration("wait", 30*time.Second, "how long to wait for the daemon to exit (0: do not wait)")
	return cmd
}

// waitExit waits until process pid has exited (signal 0 finds no such
// process), polling since a process that is not our child cannot be
// waited for.
func waitExit(ctx context.Context, pid int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if exited(pid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the daemon (pid %d) was asked to stop but is still running after %s", pid, limit)
		case <-tick.C:
		}
	}
}

func newLogLevelCommand() *cobra.Command {
	return clientCommand("log-level [debug|info|warn|error]", "Show the daemon's log level, or change it until the daemon stops", cobra.MaximumNArgs(1),
		func(ctx context.Context, c *apiv1.Client, cmd *cobra.Command, args []string) error {
			var lvl apiv1.LogLevel
			var err error
			if len(args) == 1 {
				lvl, err = c.SetLogLevel(ctx, args[0])
			} else {
				lvl, err = c.LogLevel(ctx)
			}
			if err != nil {
				return err
			}
			return output(cmd, lvl, func() string { return lvl.Level + "\n" })
		})
}

// exited reports that pid is gone, or a zombie whose parent has not yet
// reaped it (it has released everything by then).
func exited(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z'
	}
	return false
}
