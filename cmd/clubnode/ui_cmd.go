package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/apiv1"
)

// openTimeout bounds the wait for the desktop's opener; a browser it
// starts keeps running on its own.
const openTimeout = 5 * time.Second

func newUICommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Open the web app: print a one-time sign-in link, and open it where there is a desktop",
		Long: "ui asks the running daemon for a one-time sign-in link to its web app and prints it.\n" +
			"Opening the link signs the browser in (a session cookie); the link works once, for two\n" +
			"minutes. On a desktop the link is opened in the default browser as well.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			noOpen, _ := cmd.Flags().GetBool("no-open")
			return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
				link, err := c.LoginLink(ctx)
				if err != nil {
					return err
				}
				note := "not opened (--no-open)"
				if !noOpen {
					note = openInBrowser(ctx, link.URL)
				}
				v := struct {
					apiv1.LoginLink
					Opened string `json:"opened"`
				}{link, note}
				return output(cmd, v, func() string {
					return fmt.Sprintf("Sign in to clubnode's web app with this link (it works once, until %s):\n\n  %s\n\nBrowser: %s\n",
						link.Expires.Local().Format("15:04:05"), link.URL, note)
				})
			})
		},
	}
	cmd.Flags().Bool("no-open", false, "only print the link; do not start a browser")
	return cmd
}

// openInBrowser opens url with the desktop's opener and says what
// happened. It never fails the command: without a desktop (a server, an
// SSH session) the printed link is the way in.
func openInBrowser(ctx context.Context, url string) string {
	var opener string
	switch runtime.GOOS {
	case "darwin":
		opener = "open"
	case "windows":
		return "not opened: open the link yourself"
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return "no desktop here (no DISPLAY or WAYLAND_DISPLAY): open the link in a browser on this computer"
		}
		opener = "xdg-open"
	}
	path, err := exec.LookPath(opener)
	if err != nil {
		return fmt.Sprintf("%s not found: open the link yourself", opener)
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		return fmt.Sprintf("%s failed to start (%v): open the link yourself", opener, err)
	}
	// The waiter lives as long as the opener; the CLI exits right after
	// this command, and an opener still running then carries on alone.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(openTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Sprintf("%s exited with status %d: open the link yourself", opener, exit.ExitCode())
		}
		if err != nil {
			return fmt.Sprintf("%s: %v: open the link yourself", opener, err)
		}
		return "opened with " + opener
	case <-timer.C:
		// Some openers stay until the browser closes; the browser has the
		// link, and this command is done.
		return "opened with " + opener + " (still running)"
	case <-ctx.Done():
		return "interrupted while opening: open the link yourself"
	}
}
