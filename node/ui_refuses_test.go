package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/clubnode/clubnode/node/apiv1"
)

// TestWebUIRefusesOthers: only the signed-in user's own pages drive the
// node. A page from another origin (another port on 127.0.0.1, so the same
// site, so SameSite alone would not stop it) can neither call the API nor
// open the event stream, even while the browser holds a session; requests
// without the session, with a wrong Host or without the CSRF token are
// refused; a login link works once.
func TestWebUIRefusesOthers(t *testing.T) {
	checkLeaks(t)
	wav, _ := writeSpeechWAV(t, time.Second, 1)
	browser := startBrowser(t, wav)
	a := startUINode(t, "Alice")
	ctx := context.Background()
	if _, err := a.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	tab := newTab(t, browser, 1024, 700)

	login := checkSessionAndCSRF(t, tab, a)
	checkOtherOriginRefused(t, tab, a)
	// The login link was spent.
	do(t, tab, "reuse the login link", chromedp.Navigate(login))
	waitFor(t, tab, "the spent-link page", contains(textOf("h1"), "does not work"))

	checkRefusedOutsideBrowser(t, a)
}

// checkSessionAndCSRF: without a session the app offers sign-in and the
// API answers 401; a login link signs in, the session cookie is hidden
// from scripts, and a state change needs the CSRF token. It returns the
// login link, spent.
func checkSessionAndCSRF(t *testing.T, tab context.Context, a *uiNode) string {
	t.Helper()
	// A fresh browser without a session gets the sign-in page, and the API
	// answers it 401.
	do(t, tab, "open the app without a session", chromedp.Navigate(a.url+"/"))
	waitFor(t, tab, "the sign-in view", contains(textOf("h1"), "Sign in"))
	if got := eval[int](t, tab, `fetch('/api/v1/id').then((r) => r.status)`); got != http.StatusUnauthorized {
		t.Errorf("API without a session: %d, want 401", got)
	}

	// Sign in; the link works once.
	login := a.loginURL(t)
	do(t, tab, "sign in", chromedp.Navigate(login))
	waitFor(t, tab, "the hallway", contains(textOf("h1"), "Hallway"))
	if got := eval[int](t, tab, `fetch('/api/v1/id').then((r) => r.status)`); got != http.StatusOK {
		t.Errorf("API with the session: %d, want 200", got)
	}
	cookieHttpOnly := eval[string](t, tab, `document.cookie`)
	if strings.Contains(cookieHttpOnly, "clubnode_session") {
		t.Errorf("the page's script can read the session cookie: %q", cookieHttpOnly)
	}
	// A state change without the CSRF header is refused; with it, it works.
	post := func(withCSRF bool) string {
		return fmt.Sprintf(`(async () => {
			const s = await (await fetch('/api/v1/session')).json();
			const headers = {'Content-Type': 'application/json'};
			if (%t) headers[s.csrf_header] = s.csrf_token;
			const r = await fetch('/api/v1/rooms', {method: 'POST', headers, body: JSON.stringify({title: 'csrf %t'})});
			return r.status + ' ' + (await r.json()).error;
		})()`, withCSRF, withCSRF)
	}
	if got := eval[string](t, tab, post(false)); got != "403 missing or wrong CSRF token" {
		t.Errorf("POST without the CSRF header: %q", got)
	}
	if got := eval[string](t, tab, post(true)); !strings.HasPrefix(got, "200") {
		t.Errorf("POST with the CSRF header: %q", got)
	}

	return login
}

// checkOtherOriginRefused: a page on another origin, in the same
// signed-in browser, can neither read the API, open the event stream nor
// make a room (by fetch or by a form).
func checkOtherOriginRefused(t *testing.T, tab context.Context, a *uiNode) {
	t.Helper()
	ctx := context.Background()
	// A page on another origin, in the same signed-in browser.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>evil</title><form id=f method=post enctype=text/plain></form>`)
	}))
	defer evil.Close()
	do(t, tab, "open the other page", chromedp.Navigate(evil.URL))
	node := sel(a.url)
	results := eval[map[string]string](t, tab, fmt.Sprintf(`(async () => {
		const node = %s;
		const out = {};
		const attempt = async (name, fn) => { try { out[name] = String(await fn()); } catch (e) { out[name] = 'blocked: ' + e.name; } };
		await attempt('read', () => fetch(node + '/api/v1/id', {credentials: 'include'}).then((r) => r.status));
		await attempt('post', () => fetch(node + '/api/v1/rooms', {method: 'POST', credentials: 'include', mode: 'no-cors',
			headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({title: 'pwned'})}).then((r) => r.type));
		await attempt('events', () => new Promise((resolve) => {
			const es = new EventSource(node + '/api/v1/events', {withCredentials: true});
			let got = 0;
			for (const name of ['identity', 'hallway', 'members', 'message']) es.addEventListener(name, () => got++);
			es.onerror = () => { resolve('error, state ' + es.readyState + ', events ' + got); es.close(); };
			setTimeout(() => { resolve('open after 3 s, events ' + got); es.close(); }, 3000);
		}));
		return out;
	})()`, node))
	if !strings.HasPrefix(results["read"], "blocked") {
		t.Errorf("another origin read the API: %s", results["read"])
	}
	if results["events"] != "error, state 2, events 0" {
		t.Errorf("another origin's event stream: %s", results["events"])
	}
	// The no-cors POST leaves an opaque answer; what counts is that no
	// room was made. Nor by a plain form post.
	do(t, tab, "post a form at the node", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`const f = document.getElementById('f'); f.action = %s + '/api/v1/rooms'; f.submit()`, node)))
	waitFor(t, tab, "the node's answer to the form", `location.href.startsWith(`+node+`) && document.body.innerText.includes('not allowed')`)
	hall, err := a.Hallway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hall {
		if r.Title == "pwned" {
			t.Fatalf("another origin created a room: %+v", r)
		}
	}

}

// checkRefusedOutsideBrowser: outside the browser, with a real cookie
// from a real sign-in, a wrong Host (DNS rebinding) and a missing CSRF
// token are refused, and no cookie at all is 401.
func checkRefusedOutsideBrowser(t *testing.T, a *uiNode) {
	t.Helper()
	// Outside the browser: a real cookie from a real sign-in, then a wrong
	// Host (DNS rebinding) and a missing CSRF token.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	resp, err := client.Get(a.loginURL(t))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	base, _ := url.Parse(a.url)
	if len(jar.Cookies(base)) != 1 {
		t.Fatalf("cookies after sign-in: %v", jar.Cookies(base))
	}
	request := func(method, host string, csrf bool) int {
		t.Helper()
		req, err := http.NewRequest(method, a.url+"/api/v1/rooms", strings.NewReader(`{"title":"from Go"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if host != "" {
			req.Host = host
		}
		if csrf {
			var info apiv1.SessionInfo
			r, err := client.Get(a.url + apiv1.PathSession)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.NewDecoder(r.Body).Decode(&info); err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			req.Header.Set(info.CSRFHeader, info.CSRFToken)
		}
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	for _, tt := range []struct {
		name   string
		method string
		host   string
		csrf   bool
		want   int
	}{
		{"cookie GET", "GET", "", false, 200},
		{"cookie GET, rebound Host", "GET", "clubnode.attacker.example:" + base.Port(), false, 403},
		{"cookie POST without CSRF", "POST", "", false, 403},
		{"cookie POST with CSRF, rebound Host", "POST", "127.0.0.1.nip.io:" + base.Port(), true, 403},
		{"cookie POST with CSRF", "POST", "", true, 200},
	} {
		if got := request(tt.method, tt.host, tt.csrf); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	plain, err := http.Get(a.url + "/api/v1/id")
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusUnauthorized {
		t.Errorf("no cookie, no token: %d, want 401", plain.StatusCode)
	}
}
