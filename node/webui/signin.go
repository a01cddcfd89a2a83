package webui

import (
	"fmt"
	"html"
	"net/url"
)

// SignInPage is a small local HTML file that sends the browser on to a
// one-time login link. `clubnode ui` writes it where only its user can
// read it and hands the desktop's opener the file's path: a link given on
// a command line is in /proc/PID/cmdline, readable by every user of the
// computer, who could redeem it first; the file's path tells them
// nothing. The refresh needs no script, and no-referrer keeps the file's
// path out of the request.
func SignInPage(loginURL string) ([]byte, error) {
	u, err := url.Parse(loginURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("sign-in page: %q is not an http link", loginURL)
	}
	link := html.EscapeString(u.String())
	return fmt.Appendf(nil, `<!doctype html>
<html lang="en"><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=%s">
<title>clubnode: signing in</title>
<p>Signing in to clubnode… If nothing happens, <a href="%s">follow this link</a> (it works once, for two minutes).</p>
`, link, link), nil
}
