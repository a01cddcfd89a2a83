package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/node/webui"
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
			"minutes. On a desktop the default browser is opened on a small page in the home folder,\n" +
			"readable by you only, that follows the link: the link itself is never on a command line,\n" +
			"where other users of the computer could read it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			noOpen, _ := cmd.Flags().GetBool("no-open")
			h, err := homeOf(cmd)
			if err != nil {
				return err
			}
			return call(cmd, func(ctx context.Context, c *apiv1.Client) error {
				link, err := c.LoginLink(ctx)
				if err != nil {
					return err
				}
				note := "not opened (--no-open)"
				if !noOpen {
					note = openSignIn(ctx, h, link.URL)
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

// signInFile is the page in the home folder that carries the link to the
// browser (webui.SignInPage).
const signInFile = "ui-signin.html"

// openSignIn writes the sign-in page for loginURL, readable by the user
// only, and opens it in the browser. The opener and the browser get the
// file's path, never the link.
func openSignIn(ctx context.Context, h home.Home, loginURL string) string {
	if desktop := hasDesktop(); desktop != "" {
		return desktop
	}
	page, err := webui.SignInPage(loginURL)
	if err != nil {
		return fmt.Sprintf("%v: open the link yourself", err)
	}
	path, err := filepath.Abs(filepath.Join(h.Dir, signInFile))
	if err == nil {
		err = home.WriteAtomic(path, page, 0o600)
	}
	if err != nil {
		return fmt.Sprintf("could not write the sign-in page (%v): open the link yourself", err)
	}
	return openInBrowser(ctx, (&url.URL{Scheme: "file", Path: path}).String())
}

// hasDesktop says why there is no browser to open here, or "".
func hasDesktop() string {
	switch runtime.GOOS {
	case "darwin":
		return ""
	case "windows":
		return "not opened: open the link yourself"
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return "no desktop here (no DISPLAY or WAYLAND_DISPLAY): open the link in a browser on this computer"
	}
	return ""
}

// openInBrowser opens target with the desktop's opener and says what
// happened. It never fails the command: without a desktop (a server, an
// SSH session) the printed link is the way in.
func openInBrowser(ctx context.Context, target string) string {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	path, err := exec.LookPath(opener)
	if err != nil {
		return fmt.Sprintf("%s not found: open the link yourself", opener)
	}
	cmd := exec.Command(path, target)
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
