package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// Names of the persistent flags every command has.
const (
	flagHome = "home"
	flagJSON = "json"
)

// requestTimeout bounds one CLI request to the daemon. It is generous
// because joining may first have to reach the inviter's node.
const requestTimeout = 2 * time.Minute

// newRootCommand builds the command tree. Flag values are read from the
// command at run time (homeOf, jsonOutput) rather than bound to variables,
// so there is no state shared between two trees, e.g. in tests.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "clubnode",
		Short: "Peer-to-peer, invite-only live audio rooms",
		Long: "clubnode runs a node of an invite-only network of live audio rooms\n" +
			"(clubnode daemon) and drives the running node from the command line.",
		// main prints the error once, on one line; cobra would print it
		// again followed by the whole usage text.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().String(flagHome, "", "home folder of the node (default $"+home.EnvVar+" or ~/"+home.DefaultDirName+")")
	root.PersistentFlags().Bool(flagJSON, false, "print the API response as indented JSON")

	addClientCommands(root)
	addDaemonCommands(root)
	addOpsCommands(root)
	root.AddCommand(newUICommand())
	return root
}

// homeOf resolves the home folder from --home, $CLUBNODE_HOME or the
// default. Daemon commands use it too.
func homeOf(cmd *cobra.Command) (home.Home, error) {
	flag, err := cmd.Flags().GetString(flagHome)
	if err != nil {
		return home.Home{}, fmt.Errorf("--%s: %w", flagHome, err)
	}
	dir, err := home.Resolve(flag)
	if err != nil {
		return home.Home{}, err
	}
	return home.Home{Dir: dir}, nil
}

// jsonOutput reports whether --json was given.
func jsonOutput(cmd *cobra.Command) bool {
	v, err := cmd.Flags().GetBool(flagJSON)
	return err == nil && v
}

// clientOf returns a client for the daemon running for the command's home.
func clientOf(cmd *cobra.Command) (*apiv1.Client, error) {
	h, err := homeOf(cmd)
	if err != nil {
		return nil, err
	}
	addr, token, err := home.ReadAPIEndpoint(h)
	if errors.Is(err, home.ErrNoDaemon) {
		// No daemon, and maybe no node at all: say which, since the
		// fix differs (init first, or start the daemon).
		if ok, exErr := h.Exists(); exErr == nil && !ok {
			return nil, &noNodeError{dir: h.Dir, err: err}
		}
	}
	if err != nil {
		return nil, err
	}
	c := apiv1.NewClient(addr, token)
	c.Home = h.Dir
	return c, nil
}

// noNodeError says a home was never initialised. It is still a "no
// daemon" error (errors.Is ErrNoDaemon) for scripts that test for that.
type noNodeError struct {
	dir string
	err error
}

func (e *noNodeError) Error() string {
	return fmt.Sprintf("no node here: run clubnode init --name NAME, then clubnode daemon (home %s)", e.dir)
}

func (e *noNodeError) Unwrap() error { return e.err }

// output prints v as indented JSON under --json, or else the text that
// human returns.
func output(cmd *cobra.Command, v any, human func() string) error {
	w := cmd.OutOrStdout()
	if jsonOutput(cmd) {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("print JSON: %w", err)
		}
		return nil
	}
	if _, err := io.WriteString(w, human()); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

// oneLine flattens an error message onto one line: messages from cobra
// ("Did you mean this?") and from the daemon may contain line breaks, and
// scripts read the CLI's error as one line of stderr.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
