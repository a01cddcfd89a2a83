package node

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/clubnode/clubnode/node/webui"
)

// TestSignInPageInChromium: the page `clubnode ui` writes, opened from
// its file as the desktop's opener does, signs the browser in: the app
// shows the first-run view, not the sign-in advice.
func TestSignInPageInChromium(t *testing.T) {
	checkLeaks(t)
	wav, _ := writeSpeechWAV(t, voiceLoop, 1)
	browser := startBrowser(t, wav)
	a := startUINode(t, "Alice")
	page, err := webui.SignInPage(a.loginURL(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ui-signin.html")
	if err := os.WriteFile(path, page, 0o600); err != nil {
		t.Fatal(err)
	}
	tab := newTab(t, browser, 1024, 768)
	do(t, tab, "open the sign-in page", chromedp.Navigate((&url.URL{Scheme: "file", Path: path}).String()))
	waitFor(t, tab, "the signed-in app's first-run view", `document.querySelector('#found-button') !== null`)
}
