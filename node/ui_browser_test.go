package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/node/apiv1"
)

// The browser tests drive the real app in Debian's headless Chromium: real
// nodes serving the real embedded files, real cookies, real EventSource.

const chromiumPath = "/usr/bin/chromium"

// uiNode is a test node serving its API and app on loopback.
type uiNode struct {
	*Node
	url  string // http://127.0.0.1:PORT
	stop func() // stops Serve and waits for it
}

// checkLeaks registers, as a test's first cleanup (so it runs last, after
// the browser, the servers and the nodes are gone), a check that none of
// their goroutines outlived them.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreCurrent(),
			// libp2p and quic-go keep package-level workers alive for the process.
			goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
			goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"))
	})
}

func startUINode(t *testing.T, name string) *uiNode {
	t.Helper()
	n := startTestNode(t, name)
	if err := n.cfg.Home.EnsureDir(); err != nil {
		t.Fatal(err)
	}
	return serveUINode(t, n, name)
}

func serveUINode(t *testing.T, n *Node, name string) *uiNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve %s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return &uiNode{Node: n, url: "http://" + n.APIAddr(), stop: stop}
}

// restartUINode stops u's daemon and starts it again on the same
// datastore and API address, as a restart of the daemon would.
func restartUINode(t *testing.T, u *uiNode) *uiNode {
	t.Helper()
	u.stop()
	cfg := u.cfg
	cfg.Settings.APIAddr = u.APIAddr()
	if err := u.Close(); err != nil {
		t.Fatalf("close for a restart: %v", err)
	}
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return serveUINode(t, n, "restarted")
}

// loginURL asks for a one-time login link the way `clubnode ui` does.
func (u *uiNode) loginURL(t *testing.T) string {
	t.Helper()
	link, err := apiv1.NewClient(u.APIAddr(), u.APIToken()).LoginLink(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return link.URL
}

// startBrowser starts one headless Chromium for the test, with a fake
// microphone that plays wav, and returns its context. It skips the test
// when Chromium is not installed (CI installs it: scripts/install-deps.sh).
func startBrowser(t *testing.T, wav string) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test needs Debian's chromium at %s (scripts/install-deps.sh installs it): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Chromium makes a directory for its singleton socket under
		// TMPDIR and leaves it behind when killed: keep it in the test's.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Two tabs are open at once; neither may be slowed as hidden.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// Start the browser now, so tabs can get browser contexts of their own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// errorCollector records uncaught errors and console errors of a page, for
// the test to check at the end: a page must not fail silently.
const errorCollector = `window.__testErrors = [];
addEventListener('error', (e) => __testErrors.push(String(e.message)));
addEventListener('unhandledrejection', (e) => __testErrors.push(String(e.reason && e.reason.message || e.reason)));`

// newTab opens a tab in a browser context of its own (its own cookies,
// like a separate browser profile) at the given viewport.
func newTab(t *testing.T, browser context.Context, width, height int64) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: errorCollector}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// do runs browser steps, failing the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v\npage errors: %v", what, err, pageErrors(ctx))
	}
}

// The stage, the audience, the hands and the hallway's cards are drawn
// again whenever the room or the hallway changes, so a DOM node that
// chromedp.Focus or chromedp.Click looks up in one DevTools call may be
// gone by the next ("Could not find node with given id"). focusNow and
// clickNow find their element inside the page, in one evaluation.

// focusNow focuses the element a selector finds. The page gives the focus
// back to the redrawn element with the same key (replaceKeepingFocus), so
// a key pressed next reaches it.
func focusNow(selector string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`((el) => { el?.focus(); return !!el && document.activeElement === el; })(document.querySelector(%s))`, sel(selector)))(ctx, tg)
		if err != nil {
			return fmt.Errorf("focus %s: %w", selector, err)
		}
		if !ok {
			return fmt.Errorf("focus %s: no such element, or it cannot take the focus", selector)
		}
		return nil
	})
}

// clickNow clicks with the mouse in the middle of the element a selector
// finds, brought into view; its place is read in the same evaluation. A
// redrawn element takes the same place, so the click reaches it.
func clickNow(selector string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		at, err := chromedp.Evaluate[[]float64](fmt.Sprintf(`((el) => {
			if (!el) return [];
			el.scrollIntoView({block: 'center', inline: 'center'});
			const r = el.getBoundingClientRect();
			return [r.left + r.width / 2, r.top + r.height / 2];
		})(document.querySelector(%s))`, sel(selector)))(ctx, tg)
		if err != nil {
			return fmt.Errorf("find %s: %w", selector, err)
		}
		if len(at) != 2 {
			return fmt.Errorf("click %s: no such element", selector)
		}
		if _, err := chromedp.MouseClickXY(at[0], at[1])(ctx, tg); err != nil {
			return fmt.Errorf("click %s: %w", selector, err)
		}
		return nil
	})
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is truthy, asking from Go
// so that waiting survives navigations (and animation frames, which do not
// run in a tab that is not in front, are not needed).
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(sctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main')?.innerText || document.body.innerText`))
	alerts, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('alerts')?.innerText`))
	t.Fatalf("waiting for %s (%s): not true within 15 s (last error: %v)\nmain: %s\nalerts: %s\npage errors: %v",
		what, expr, last, body, alerts, pageErrors(ctx))
}

func pageErrors(ctx context.Context) []string {
	errs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__testErrors || []`))
	return errs
}

func checkNoPageErrors(t *testing.T, ctx context.Context, who string) {
	t.Helper()
	if errs := pageErrors(ctx); len(errs) > 0 {
		t.Errorf("%s's page had errors: %v", who, errs)
	}
}

// accessibleNames finds controls without an accessible name: every
// button, link, field and select must say what it is.
const unnamedControls = `[...document.querySelectorAll('button, a[href], input, select, textarea')]
  .filter((el) => !el.closest('[hidden]') && el.type !== 'hidden')
  .filter((el) => {
    const label = el.getAttribute('aria-label') || (el.labels && [...el.labels].map((l) => l.textContent).join(' '))
      || el.textContent || el.getAttribute('title') || el.getAttribute('placeholder')
      || (el.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)?.textContent || '').join(' ');
    return !label || !label.trim();
  })
  .map((el) => el.outerHTML.slice(0, 120))`

func checkAccessibleNames(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if bad := eval[[]string](t, ctx, unnamedControls); len(bad) > 0 {
		t.Errorf("%s: controls without an accessible name: %v", where, bad)
	}
}

// screenshot saves a PNG of the tab into the test's screenshot folder:
// $CLUBNODE_SCREENSHOTS if set (docs/screenshots for the README), else a
// temporary folder the test names in its log.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	screenshotOf(t, ctx, dir, name, "")
}

// screenshotOf saves a PNG of one element (the whole tab for "").
func screenshotOf(t *testing.T, ctx context.Context, dir, name, selector string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shot := chromedp.CaptureScreenshot()
	if selector != "" {
		shot = chromedp.Screenshot(chromedp.CSS(selector))
	}
	png, err := chromedp.Run(sctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("CLUBNODE_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// writeSpeechWAV writes d of audiotest's speech-like signal as the fake
// microphone's WAV, and returns its samples for comparing with what a
// listener recorded. Chromium loops the file.
func writeSpeechWAV(t *testing.T, d time.Duration, seed int64) (string, []int16) {
	t.Helper()
	pcm := audiotest.Speech(d, seed)
	path := filepath.Join(t.TempDir(), "voice.wav")
	if err := audiotest.WriteWAV(path, pcm); err != nil {
		t.Fatal(err)
	}
	return path, pcm
}

// buildCLI builds the clubnode command for a test that runs it against an
// in-process node (the node writes its API address and token into its
// home, as the daemon does).
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "clubnode")
	build := exec.Command("go", "build", "-o", bin, "github.com/clubnode/clubnode/cmd/clubnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build clubnode: %v\n%s", err, out)
	}
	return bin
}

// sel quotes a CSS selector for JavaScript.
func sel(s string) string { return fmt.Sprintf("%q", s) }

// textOf is the JavaScript for an element's visible text, "" if absent.
func textOf(selector string) string {
	return fmt.Sprintf(`(document.querySelector(%s)?.innerText || '')`, sel(selector))
}

func contains(expr, substr string) string {
	return fmt.Sprintf(`%s.includes(%q)`, expr, substr)
}

// browserWithTwoMembers starts Chromium (its microphone a second of
// speech) and the UI nodes of Alice, founder of a network, and Bob, a
// member of it. The context ends after a minute, or with the test.
func browserWithTwoMembers(t *testing.T) (ctx, browser context.Context, a, b *uiNode) {
	t.Helper()
	wav, _ := writeSpeechWAV(t, time.Second, 1)
	browser = startBrowser(t, wav)
	a, b = startUINode(t, "Alice"), startUINode(t, "Bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	foundWithMember(ctx, t, a.Node, b.Node)
	return ctx, browser, a, b
}
