package webui

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// qrCase is one text to encode and the version it must need: the byte
// capacities of ISO/IEC 18004 table 7 put each length on either side of a
// version boundary.
type qrCase struct {
	level   string
	length  int
	version int
}

var qrCases = []qrCase{
	{"L", 17, 1}, {"L", 18, 2}, {"M", 14, 1}, {"M", 15, 2},
	{"L", 230, 9}, {"L", 231, 10}, // the character count grows to 16 bits at version 10
	{"M", 331, 13}, {"M", 332, 14}, {"L", 858, 20}, {"M", 1091, 27}, {"L", 1273, 25}, {"L", 1274, 26},
	{"M", 1528, 32}, {"L", 2953, 40}, {"M", 2331, 40},
}

// TestQRCodes encodes texts with the app's qr.js in Chromium, draws each
// matrix as a PNG and has zbar decode it: the encoder is right when an
// independent decoder reads back the exact text, across versions 1-40 and
// both levels.
func TestQRCodes(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("QR test needs Debian's chromium at %s (scripts/install-deps.sh installs it): %v", chromiumPath, err)
	}
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skipf("QR test needs zbarimg (Debian's zbar-tools; scripts/install-deps.sh installs it): %v", err)
	}
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.Index)
	mux.HandleFunc("GET "+AssetPrefix, h.Asset)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The browser starts on its own context, so no step's deadline ends it.
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	// Each step has its own deadline: 80 encodings under one deadline ran
	// out of it on a busy machine.
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(browser, 30*time.Second) }
	// The app's page is only the place to load the module from; without a
	// node behind it, it shows its sign-in view.
	ctx, cancel := step()
	err = chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	var texts []string
	for i, c := range qrCases {
		// Invite-link-like text: URL characters, and a varied tail so no
		// two cases look alike.
		text := fmt.Sprintf("http://127.0.0.1:7700/#/join/clubnode-invite:%d-", i)
		for j := 0; len(text) < c.length; j++ {
			text += string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(j*7+i)%64])
		}
		text = text[:c.length]
		type result struct {
			Version int      `json:"version"`
			Rows    []string `json:"rows"`
		}
		ctx, cancel := step()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[result](fmt.Sprintf(`import('/app/js/qr.js').then((m) => {
			const q = m.encodeQR(%q, %q);
			return { version: q.version, rows: q.modules.map((row) => row.map((d) => d ? '1' : '0').join('')) };
		})`, text, c.level), chromedp.EvalAwaitPromise))
		cancel()
		if err != nil {
			t.Fatalf("encode %d bytes at %s: %v", c.length, c.level, err)
		}
		if r.Version != c.version {
			t.Errorf("%d bytes at level %s: version %d, want %d", c.length, c.level, r.Version, c.version)
		}
		if size := 4*r.Version + 17; len(r.Rows) != size {
			t.Fatalf("version %d: %d rows, want %d", r.Version, len(r.Rows), size)
		}
		path := filepath.Join(dir, fmt.Sprintf("qr-%02d.png", i))
		if err := os.WriteFile(path, drawQR(r.Rows), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
		texts = append(texts, text)
	}
	for i, path := range files {
		out, err := exec.Command(zbar, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", path).Output()
		if err != nil {
			t.Errorf("zbar cannot read %d bytes at level %s (version %d): %v", qrCases[i].length, qrCases[i].level, qrCases[i].version, err)
			continue
		}
		if got := strings.TrimSuffix(string(out), "\n"); got != texts[i] {
			t.Errorf("%d bytes at level %s: zbar read %q", qrCases[i].length, qrCases[i].level, got)
		}
	}
}

// drawQR draws a module matrix at 4 pixels a module, with the four-module
// quiet zone the standard asks for.
func drawQR(rows []string) []byte {
	const scale, quiet = 4, 4
	n := len(rows)
	img := image.NewGray(image.Rect(0, 0, (n+2*quiet)*scale, (n+2*quiet)*scale))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y, row := range rows {
		for x, c := range row {
			if c != '1' {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray((x+quiet)*scale+dx, (y+quiet)*scale+dy, color.Gray{})
				}
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
