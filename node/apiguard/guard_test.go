package apiguard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

const token = "s3cret-token"

func TestGuard(t *testing.T) {
	for _, tt := range guardCases() {
		t.Run(tt.name, func(t *testing.T) {
			rec, called := serveGuarded(tt)
			checkGuarded(t, tt, rec, called)
		})
	}
}

// guardCase is one request to the guard and the answer it must get.
type guardCase struct {
	name      string
	host      string
	header    map[string]string // extra request headers
	noAuth    bool              // send no Authorization header
	auth      string            // Authorization header, if not the right one
	wantCode  int
	wantError string
}

// guardCases walk the guard's three layers: Host, then Origin, Referer
// and Sec-Fetch-Site, then the token.
func guardCases() []guardCase {
	return []guardCase{
		// Layer 1: Host.
		{name: "127.0.0.1 with port", host: "127.0.0.1:7700", wantCode: 200},
		{name: "127.0.0.1 without port", host: "127.0.0.1", wantCode: 200},
		{name: "other loopback IPv4", host: "127.45.6.7:7700", wantCode: 200},
		{name: "[::1] with port", host: "[::1]:7700", wantCode: 200},
		{name: "[::1] without port", host: "[::1]", wantCode: 200},
		{name: "localhost", host: "localhost:7700", wantCode: 200},
		{name: "LOCALHOST", host: "LOCALHOST:7700", wantCode: 200},
		{name: "evil.example", host: "evil.example", wantCode: 403, wantError: "host not allowed"},
		{name: "evil.example with port", host: "evil.example:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "rebinding name", host: "127.0.0.1.nip.io:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "localhost subdomain", host: "localhost.evil.example:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "public IP", host: "192.0.2.1:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "unspecified IP", host: "0.0.0.0:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "unbracketed IPv6", host: "::1", wantCode: 403, wantError: "host not allowed"},
		{name: "IPv4 in brackets", host: "[127.0.0.1]:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "zoned IPv6", host: "[::1%25lo]:7700", wantCode: 403, wantError: "host not allowed"},
		{name: "bad port", host: "127.0.0.1:http", wantCode: 403, wantError: "host not allowed"},
		{name: "empty host", host: "", wantCode: 403, wantError: "host not allowed"},
		{name: "bad host beats missing token", host: "evil.example", noAuth: true, wantCode: 403, wantError: "host not allowed"},

		// Layer 2: Origin, Referer, Sec-Fetch-Site.
		{name: "same origin", host: "127.0.0.1:7700",
			header: map[string]string{"Origin": "http://127.0.0.1:7700"}, wantCode: 200},
		{name: "foreign origin", host: "127.0.0.1:7700",
			header: map[string]string{"Origin": "http://evil.example"}, wantCode: 403, wantError: "origin not allowed"},
		{name: "other port on localhost", host: "localhost:7700",
			header: map[string]string{"Origin": "http://localhost:8080"}, wantCode: 403, wantError: "origin not allowed"},
		{name: "https origin", host: "127.0.0.1:7700",
			header: map[string]string{"Origin": "https://127.0.0.1:7700"}, wantCode: 403, wantError: "origin not allowed"},
		{name: "null origin", host: "127.0.0.1:7700",
			header: map[string]string{"Origin": "null"}, wantCode: 403, wantError: "origin not allowed"},
		{name: "foreign origin beats missing token", host: "127.0.0.1:7700", noAuth: true,
			header: map[string]string{"Origin": "http://evil.example"}, wantCode: 403, wantError: "origin not allowed"},
		{name: "cross-site fetch", host: "127.0.0.1:7700",
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: 403, wantError: "cross-site request not allowed"},
		{name: "same-site fetch", host: "127.0.0.1:7700",
			header: map[string]string{"Sec-Fetch-Site": "same-site"}, wantCode: 403, wantError: "cross-site request not allowed"},
		{name: "same-origin fetch", host: "127.0.0.1:7700",
			header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:7700"}, wantCode: 200},
		{name: "typed URL", host: "127.0.0.1:7700",
			header: map[string]string{"Sec-Fetch-Site": "none"}, wantCode: 200},
		{name: "foreign referer", host: "127.0.0.1:7700",
			header: map[string]string{"Referer": "http://evil.example/page"}, wantCode: 403, wantError: "referer not allowed"},
		{name: "own referer", host: "127.0.0.1:7700",
			header: map[string]string{"Referer": "http://127.0.0.1:7700/ui/"}, wantCode: 200},

		// Layer 3: token.
		{name: "missing token", host: "127.0.0.1:7700", noAuth: true, wantCode: 401, wantError: "missing API token"},
		{name: "wrong token", host: "127.0.0.1:7700", auth: "Bearer nope", wantCode: 401, wantError: "wrong API token"},
		{name: "token prefix", host: "127.0.0.1:7700", auth: "Bearer " + token[:5], wantCode: 401, wantError: "wrong API token"},
		{name: "basic auth", host: "127.0.0.1:7700", auth: "Basic " + token, wantCode: 401, wantError: "missing API token"},
		{name: "empty bearer", host: "127.0.0.1:7700", auth: "Bearer ", wantCode: 401, wantError: "missing API token"},
		{name: "lower-case scheme", host: "127.0.0.1:7700", auth: "bearer " + token, wantCode: 200},
	}
}

// serveGuarded sends tt's request through a guard and reports whether it
// reached the handler behind it.
func serveGuarded(tt guardCase) (rec *httptest.ResponseRecorder, called bool) {
	h := Guard{Token: token}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest(http.MethodGet, "/api/v1/id", nil)
	req.Host = tt.host
	switch {
	case tt.noAuth:
	case tt.auth != "":
		req.Header.Set("Authorization", tt.auth)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range tt.header {
		req.Header.Set(k, v)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, called
}

func checkGuarded(t *testing.T, tt guardCase, rec *httptest.ResponseRecorder, called bool) {
	t.Helper()
	if rec.Code != tt.wantCode {
		t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantCode, rec.Body)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
	}
	if tt.wantCode == http.StatusOK {
		if !called {
			t.Error("handler not called")
		}
		return
	}
	if called {
		t.Error("handler called for a refused request")
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if got := errorOf(t, rec); got != tt.wantError {
		t.Errorf("error = %q, want %q", got, tt.wantError)
	}
	if tt.wantCode == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
}

func TestGuardWithoutTokenFailsClosed(t *testing.T) {
	h := Guard{}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler called without a configured token")
	}))
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/id", nil)
		req.Host = "127.0.0.1:7700"
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("Authorization %q: status = %d, want 500", auth, rec.Code)
		}
	}
}

// TestGuardOverRealServer checks the guard behind a real listener, where
// the Host header comes from the wire rather than from the test.
func TestGuardOverRealServer(t *testing.T) {
	srv := httptest.NewServer(Guard{Token: token}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	defer srv.Close()

	do := func(host, auth string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/id", nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("", "Bearer "+token); got != http.StatusNoContent {
		t.Errorf("good request: %d", got)
	}
	if got := do("evil.example", "Bearer "+token); got != http.StatusForbidden {
		t.Errorf("rebound host: %d", got)
	}
	if got := do("", "Bearer wrong"); got != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", got)
	}
}

// errorOf reads the message of a JSON error answer.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	return body.Error
}
