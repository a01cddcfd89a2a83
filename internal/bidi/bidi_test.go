package bidi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestDrivesFirefox drives Debian's Firefox ESR through a small page:
// preload script, navigate, evaluate, click, keys, viewport, screenshot.
func TestDrivesFirefox(t *testing.T) {
	defer goleak.VerifyNone(t)
	if _, err := os.Stat(DefaultBinary); err != nil {
		t.Skipf("needs Debian's firefox-esr at %s (scripts/install-deps.sh installs it): %v", DefaultBinary, err)
	}
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>t</title>
<input id=a aria-label=a><button id=b onclick="document.title='clicked'">b</button>
<form id=f onsubmit="event.preventDefault(); document.body.dataset.sent=document.querySelector('#a').value"><input id=c aria-label=c></form>`)
	}))
	defer page.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	b, err := Launch(ctx, Options{ProfileDir: t.TempDir(), Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()

	if err := b.Preload(ctx, `window.preloaded = 42;`); err != nil {
		t.Fatal(err)
	}
	if err := b.Navigate(ctx, page.URL); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Eval(ctx, `window.preloaded`, &n); err != nil || n != 42 {
		t.Errorf("preloaded = %d, %v; want 42", n, err)
	}
	if err := b.Click(ctx, "#b"); err != nil {
		t.Fatal(err)
	}
	var title string
	if err := b.Eval(ctx, `document.title`, &title); err != nil || title != "clicked" {
		t.Errorf("after click: title %q, %v", title, err)
	}
	// Type into #a, Tab past the button into #c, Enter submits the form.
	if err := b.Click(ctx, "#a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Press(ctx, "hi", Tab, Tab, "x", Enter); err != nil {
		t.Fatal(err)
	}
	var sent, focused string
	if err := b.Eval(ctx, `document.body.dataset.sent`, &sent); err != nil || sent != "hi" {
		t.Errorf("submitted %q, %v; want hi", sent, err)
	}
	if err := b.Eval(ctx, `document.activeElement.id`, &focused); err != nil || focused != "c" {
		t.Errorf("focus on %q, %v; want c", focused, err)
	}
	if err := b.Eval(ctx, `nosuch.thing`, nil); err == nil {
		t.Error("a throwing script gave no error")
	}
	if err := b.SetViewport(ctx, 390, 844); err != nil {
		t.Fatal(err)
	}
	var width int
	if err := b.Eval(ctx, `innerWidth`, &width); err != nil || width != 390 {
		t.Errorf("innerWidth %d, %v; want 390", width, err)
	}
	png, err := b.Screenshot(ctx)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot: %d bytes, %v", len(png), err)
	}
}
