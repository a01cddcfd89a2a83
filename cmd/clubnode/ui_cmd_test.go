package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clubnode/clubnode/internal/daemontest"
)

// runUI runs `clubnode ui` with the given environment instead of the
// test's, so the test decides whether there is a desktop.
func runUI(t *testing.T, home string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(daemontest.MustBinary(t), append([]string{"--home", home, "ui"}, args...)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("clubnode ui %v: %v: %s", args, err, stderr)
	}
	return string(out)
}

// noRedirects is a client that shows the login answer itself.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestUICommand(t *testing.T) {
	dir := initHome(t, "Alice")
	startDaemon(t, dir)
	userHome := "HOME=" + t.TempDir()
	base := []string{"PATH=" + os.Getenv("PATH"), userHome}

	// No desktop: the link is printed, the command succeeds.
	out := runUI(t, dir, base, "--json")
	var v struct {
		URL    string `json:"url"`
		Opened string `json:"opened"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("ui --json: %v in %q", err, out)
	}
	if !strings.HasPrefix(v.URL, "http://127.0.0.1:") || !strings.Contains(v.URL, "/login?token=") {
		t.Fatalf("login URL %q", v.URL)
	}
	if !strings.Contains(v.Opened, "no desktop") {
		t.Errorf("without a desktop: opened = %q", v.Opened)
	}

	// The link signs a browser in once: a session cookie, then a redirect
	// to the app; the second use is refused.
	resp, err := noRedirects.Get(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"clubnode_session_", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
	again, err := noRedirects.Get(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusForbidden {
		t.Errorf("second use of the login link: %s", again.Status)
	}

	bin, desktop := desktopSignIn(t, dir, userHome)

	// A desktop whose opener fails: still no error, just advice.
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out := runUI(t, dir, desktop); !strings.Contains(out, "exited with status 3") {
		t.Errorf("with a failing opener: %q", out)
	}
}

// TestUISessionSurvivesRestart: a browser signed in stays signed in when
// the daemon restarts (on the same API address, as a configured one
// does): the session is kept, by its digest, in the node's datastore.
func TestUISessionSurvivesRestart(t *testing.T) {
	dir := initHome(t, "Alice")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := l.Addr().String()
	l.Close()
	d := startDaemonOn(t, dir, api)
	var link struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(runUI(t, dir, []string{"PATH=" + os.Getenv("PATH")}, "--json")), &link); err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirects.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies", len(cookies))
	}
	session := func() (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+api+"/api/v1/session", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(cookies[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s struct {
			CSRF string `json:"csrf_token"`
		}
		json.NewDecoder(resp.Body).Decode(&s)
		return resp.StatusCode, s.CSRF
	}
	status, csrf := session()
	if status != http.StatusOK || csrf == "" {
		t.Fatalf("session before the restart: %d %q", status, csrf)
	}
	d.Stop()
	startDaemonOn(t, dir, api)
	if status, again := session(); status != http.StatusOK || again != csrf {
		t.Fatalf("session after the restart: %d, CSRF token %q (was %q)", status, again, csrf)
	}
}

// desktopSignIn runs `clubnode ui` on a desktop whose stand-in xdg-open
// records its arguments and environment. The link must be in neither:
// any user of the computer can read them in /proc. The opener gets a
// page, readable by the owner only, that takes the browser to the link,
// and the link signs the browser in. It returns the stand-in's folder and
// the desktop's environment.
func desktopSignIn(t *testing.T, dir, userHome string) (bin string, desktop []string) {
	t.Helper()
	var v struct {
		URL    string `json:"url"`
		Opened string `json:"opened"`
	}
	bin = t.TempDir()
	record := filepath.Join(t.TempDir(), "opened")
	script := "#!/bin/sh\nfor a in \"$0\" \"$@\"; do echo \"arg: $a\"; done > " + record + "\nenv >> " + record + "\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	desktop = []string{"DISPLAY=:0", "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), userHome}
	out := runUI(t, dir, desktop, "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("ui --json: %v in %q", err, out)
	}
	if !strings.Contains(v.Opened, "opened with xdg-open") {
		t.Errorf("with a desktop: %q", out)
	}
	opened, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	secret := v.URL[strings.Index(v.URL, "token=")+len("token="):]
	if len(secret) < 16 || strings.Contains(string(opened), secret) {
		t.Fatalf("the opener's arguments or environment hold the sign-in token %q:\n%s", secret, opened)
	}
	var page string
	for _, line := range strings.Split(string(opened), "\n") {
		if p, ok := strings.CutPrefix(line, "arg: file://"); ok {
			page = p
		}
	}
	if page == "" {
		t.Fatalf("xdg-open was given no file:// page:\n%s", opened)
	}
	info, err := os.Stat(page)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("the sign-in page %s has mode %v, want 0600", page, info.Mode().Perm())
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `http-equiv="refresh" content="0;url=`+v.URL+`"`) {
		t.Fatalf("the sign-in page does not send the browser to the link:\n%s", html)
	}
	// The page's link signs the owner's browser in.
	resp, err := noRedirects.Get(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "clubnode_session_") {
		t.Fatalf("the page's link: %s, Set-Cookie %q", resp.Status, resp.Header.Get("Set-Cookie"))
	}
	return bin, desktop
}
