// Package bidi drives Firefox from Go tests over WebDriver BiDi, the W3C
// protocol Firefox's built-in remote agent speaks: no geckodriver (Debian
// has no package of it, and its npm installer downloads at run time), no
// patched browser. Only what the web app's tests use is here: navigate,
// evaluate, click, keys, viewport, screenshot, preload scripts.
//
// Written for clubnode because no Go WebDriver BiDi client is to be had:
// chromedp and rod speak Chrome's CDP, which Firefox no longer serves.
package bidi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultBinary is Debian's Firefox ESR (package firefox-esr).
const DefaultBinary = "/usr/bin/firefox-esr"

// Options configure Launch.
type Options struct {
	// Binary is the Firefox to run; "" means DefaultBinary.
	Binary string
	// ProfileDir is an empty folder for a fresh profile; Launch's caller
	// removes it afterwards (a test's t.TempDir).
	ProfileDir string
	// Prefs are extra about:config preferences, on top of quietPrefs.
	Prefs map[string]any
	// Stderr, if set, receives Firefox's own output after its start.
	Stderr io.Writer
}

// quietPrefs keep a headless Firefox from reaching for the network on its
// own (updates, telemetry, safe browsing, captive portal checks), which on
// a closed test machine only adds failed lookups and delays.
var quietPrefs = map[string]any{
	"app.normandy.enabled":                            false,
	"app.update.auto":                                 false,
	"app.update.disabledForTesting":                   true,
	"browser.aboutwelcome.enabled":                    false,
	"browser.newtabpage.enabled":                      false,
	"browser.region.update.enabled":                   false,
	"browser.safebrowsing.blockedURIs.enabled":        false,
	"browser.safebrowsing.downloads.enabled":          false,
	"browser.safebrowsing.malware.enabled":            false,
	"browser.safebrowsing.phishing.enabled":           false,
	"browser.search.update":                           false,
	"browser.shell.checkDefaultBrowser":               false,
	"browser.startup.homepage_override.mstone":        "ignore",
	"browser.startup.page":                            0,
	"browser.translations.enabled":                    false,
	"captivedetect.canonicalURL":                      "",
	"datareporting.healthreport.uploadEnabled":        false,
	"datareporting.policy.dataSubmissionEnabled":      false,
	"extensions.update.enabled":                       false,
	"extensions.systemAddon.update.enabled":           false,
	"media.gmp-manager.updateEnabled":                 false,
	"network.captive-portal-service.enabled":          false,
	"network.connectivity-service.enabled":            false,
	"network.dns.disablePrefetch":                     true,
	"network.http.speculative-parallel-limit":         0,
	"network.predictor.enabled":                       false,
	"network.prefetch-next":                           false,
	"security.remote_settings.crlite_filters.enabled": false,
	"toolkit.telemetry.enabled":                       false,
	"toolkit.telemetry.unified":                       false,
}

// Browser is a running Firefox and its BiDi session, with one tab.
type Browser struct {
	cmd     *exec.Cmd
	ws      *websocket.Conn
	exited  chan struct{} // closed when the process has been waited for
	readEnd chan struct{} // closed when readLoop has returned

	// Context is the tab's browsing context ID.
	Context string

	writeMu sync.Mutex // one websocket writer at a time
	mu      sync.Mutex
	nextID  int
	pending map[int]chan reply
	closed  error // set when the connection ended
}

type reply struct {
	result json.RawMessage
	err    error
}

// listening is what Firefox prints on stderr once its BiDi server is up.
var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// Launch starts a headless Firefox with a fresh profile and opens a BiDi
// session to it. ctx bounds the start only; Close ends the browser.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	bin := opts.Binary
	if bin == "" {
		bin = DefaultBinary
	}
	if opts.ProfileDir == "" {
		return nil, errors.New("bidi: Options.ProfileDir is required")
	}
	if err := writePrefs(opts.ProfileDir, opts.Prefs); err != nil {
		return nil, err
	}
	b, urls, err := start(bin, opts)
	if err != nil {
		return nil, err
	}
	var url string
	select {
	case url = <-urls:
	case <-b.exited:
		err = fmt.Errorf("bidi: %s exited before its BiDi server listened", bin)
	case <-ctx.Done():
		err = fmt.Errorf("bidi: waiting for %s to listen: %w", bin, ctx.Err())
	}
	if err == nil {
		err = b.connect(ctx, url)
	}
	if err != nil {
		b.kill()
		return nil, err
	}
	return b, nil
}

// start runs Firefox and watches its stderr for the BiDi server's address,
// which it sends on the channel returned.
func start(bin string, opts Options) (*Browser, <-chan string, error) {
	cmd := exec.Command(bin, "--headless", "--no-remote", "--remote-debugging-port=0",
		"--profile", opts.ProfileDir, "about:blank")
	// MOZ_REMOTE_SETTINGS_DEVTOOLS lets the profile's remote settings
	// server (none) stand; release builds otherwise look it up anyway.
	cmd.Env = append(os.Environ(), "MOZ_REMOTE_SETTINGS_DEVTOOLS=1", "MOZ_CRASHREPORTER_DISABLE=1")
	// Its own process group, so Close can end the content processes too,
	// and killed with the test binary if that dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("bidi: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("bidi: start %s: %w", bin, err)
	}
	b := &Browser{cmd: cmd, exited: make(chan struct{}), readEnd: make(chan struct{}), pending: map[int]chan reply{}}
	urls := make(chan string, 1)
	go func() {
		// Owned by the process: reads until Firefox exits and closes its
		// stderr, then reaps it.
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				urls <- m[1]
				continue
			}
			if opts.Stderr != nil && found {
				fmt.Fprintln(opts.Stderr, sc.Text())
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(b.exited)
	}()
	return b, urls, nil
}

// connect opens the WebSocket at url, starts a BiDi session and finds the
// one tab Firefox opened.
func (b *Browser) connect(ctx context.Context, url string) error {
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := dialer.DialContext(ctx, url+"/session", nil)
	if err != nil {
		return fmt.Errorf("bidi: connect to %s: %w", url, err)
	}
	b.ws = ws
	go b.readLoop()
	if err := b.Call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}, nil); err != nil {
		b.ws.Close()
		return err
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := b.Call(ctx, "browsingContext.getTree", map[string]any{"maxDepth": 0}, &tree); err != nil || len(tree.Contexts) == 0 {
		b.ws.Close()
		return fmt.Errorf("bidi: find the tab: %v (%d tabs)", err, len(tree.Contexts))
	}
	b.Context = tree.Contexts[0].Context
	return nil
}

// writePrefs writes user.js: quietPrefs, then extra (which wins).
func writePrefs(dir string, extra map[string]any) error {
	prefs := map[string]any{}
	for k, v := range quietPrefs {
		prefs[k] = v
	}
	for k, v := range extra {
		prefs[k] = v
	}
	keys := make([]string, 0, len(prefs))
	for k := range prefs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		v, err := json.Marshal(prefs[k])
		if err != nil {
			return fmt.Errorf("bidi: pref %s: %w", k, err)
		}
		fmt.Fprintf(&sb, "user_pref(%q, %s);\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "user.js"), []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("bidi: write prefs: %w", err)
	}
	return nil
}

// readLoop hands each reply to its caller; it returns when the
// connection closes (Close, or the browser gone).
func (b *Browser) readLoop() {
	defer close(b.readEnd)
	for {
		_, data, err := b.ws.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.closed = fmt.Errorf("bidi: connection closed: %w", err)
			for id, ch := range b.pending {
				ch <- reply{err: b.closed}
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			Type    string          `json:"type"`
			ID      *int            `json:"id"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if json.Unmarshal(data, &m) != nil || m.ID == nil {
			continue // events: none subscribed
		}
		b.mu.Lock()
		ch := b.pending[*m.ID]
		delete(b.pending, *m.ID)
		b.mu.Unlock()
		if ch == nil {
			continue
		}
		if m.Type == "error" {
			ch <- reply{err: fmt.Errorf("%s: %s", m.Error, m.Message)}
		} else {
			ch <- reply{result: m.Result}
		}
	}
}

// Call sends one BiDi command and decodes its result into out (if not nil).
func (b *Browser) Call(ctx context.Context, method string, params, out any) error {
	msgID, ch, err := b.register()
	if err != nil {
		return fmt.Errorf("bidi: %s: %w", method, err)
	}
	msg, err := json.Marshal(map[string]any{"id": msgID, "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("bidi: %s: %w", method, err)
	}
	b.writeMu.Lock()
	err = b.ws.WriteMessage(websocket.TextMessage, msg)
	b.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("bidi: %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return fmt.Errorf("bidi: %s: %w", method, r.err)
		}
		if out != nil {
			if err := json.Unmarshal(r.result, out); err != nil {
				return fmt.Errorf("bidi: %s: decode result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, msgID)
		b.mu.Unlock()
		return fmt.Errorf("bidi: %s: %w", method, ctx.Err())
	}
}

func (b *Browser) register() (int, chan reply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed != nil {
		return 0, nil, b.closed
	}
	b.nextID++
	ch := make(chan reply, 1)
	b.pending[b.nextID] = ch
	return b.nextID, ch, nil
}

// Navigate loads url in the tab and waits for the page to be complete.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	return b.Call(ctx, "browsingContext.navigate", map[string]any{"context": b.Context, "url": url, "wait": "complete"}, nil)
}

// Preload runs script in every document the tab loads from now on,
// before the page's own scripts.
func (b *Browser) Preload(ctx context.Context, script string) error {
	return b.Call(ctx, "script.addPreloadScript", map[string]any{
		"functionDeclaration": "() => {" + script + "\n}", "contexts": []string{b.Context}}, nil)
}

// ErrScript is wrapped by Eval's error when the expression threw.
var ErrScript = errors.New("script threw")

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its JSON value into out (if not nil). It runs as if the user
// had just interacted with the page, as a click would.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := b.Call(ctx, "script.evaluate", map[string]any{
		"expression":     "(async () => JSON.stringify(await (" + expr + ")) ?? 'null')()",
		"target":         map[string]any{"context": b.Context},
		"awaitPromise":   true,
		"userActivation": true,
	}, &r)
	if err != nil {
		return err
	}
	if r.Type == "exception" {
		return fmt.Errorf("bidi: %w: %s", ErrScript, r.ExceptionDetails.Text)
	}
	s, _ := r.Result.Value.(string)
	if out == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		return fmt.Errorf("bidi: decode %.80q: %w", s, err)
	}
	return nil
}

// Click moves the mouse to the middle of the first element css matches
// and clicks it, as a user would (the element must be visible).
func (b *Browser) Click(ctx context.Context, css string) error {
	var found struct {
		Nodes []struct {
			SharedID string `json:"sharedId"`
		} `json:"nodes"`
	}
	if err := b.Call(ctx, "browsingContext.locateNodes", map[string]any{"context": b.Context,
		"locator": map[string]any{"type": "css", "value": css}, "maxNodeCount": 1}, &found); err != nil {
		return err
	}
	if len(found.Nodes) == 0 {
		return fmt.Errorf("bidi: click: nothing matches %s", css)
	}
	return b.Call(ctx, "input.performActions", map[string]any{"context": b.Context, "actions": []any{
		map[string]any{"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
			"actions": []any{
				map[string]any{"type": "pointerMove", "x": 0, "y": 0,
					"origin": map[string]any{"type": "element", "element": map[string]any{"sharedId": found.Nodes[0].SharedID}}},
				map[string]any{"type": "pointerDown", "button": 0},
				map[string]any{"type": "pointerUp", "button": 0},
			}},
	}}, nil)
}

// Keys for Press, as WebDriver names them.
const (
	Tab    = "\uE004"
	Enter  = "\uE007"
	Escape = "\uE00C"
)

// Press types keys into whatever has the focus: each rune of each string
// pressed and released in turn (Tab, Enter, Escape are single keys).
func (b *Browser) Press(ctx context.Context, keys ...string) error {
	var acts []any
	for _, k := range keys {
		for _, r := range k {
			acts = append(acts, map[string]any{"type": "keyDown", "value": string(r)}, map[string]any{"type": "keyUp", "value": string(r)})
		}
	}
	return b.Call(ctx, "input.performActions", map[string]any{"context": b.Context, "actions": []any{
		map[string]any{"type": "key", "id": "keyboard", "actions": acts}}}, nil)
}

// SetViewport resizes the tab's viewport in CSS pixels.
func (b *Browser) SetViewport(ctx context.Context, width, height int) error {
	return b.Call(ctx, "browsingContext.setViewport", map[string]any{"context": b.Context,
		"viewport": map[string]any{"width": width, "height": height}}, nil)
}

// Screenshot returns a PNG of the tab's viewport.
func (b *Browser) Screenshot(ctx context.Context) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := b.Call(ctx, "browsingContext.captureScreenshot", map[string]any{"context": b.Context}, &r); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return nil, fmt.Errorf("bidi: screenshot: %w", err)
	}
	return png, nil
}

// Close ends the session and the browser: politely with browser.close,
// then by killing its process group if it has not gone within 10 s.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	closeErr := b.Call(ctx, "browser.close", map[string]any{}, nil)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.kill()
	}
	b.ws.Close()
	<-b.readEnd
	if closeErr != nil && !strings.Contains(closeErr.Error(), "connection closed") {
		return closeErr
	}
	return nil
}

// kill ends Firefox's whole process group and waits for it.
func (b *Browser) kill() {
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	<-b.exited
}
