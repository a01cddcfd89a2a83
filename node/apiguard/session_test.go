package apiguard

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/clubnode/clubnode/node/session"
)

// TestGuardWithSessions: a request authenticates with the API token or a
// session cookie; a cookie-authenticated request that changes state needs
// the CSRF header; every Host and Origin rule still applies first.
func TestGuardWithSessions(t *testing.T) {
	sessions, s := signedIn(t)
	cookie := sessions.Cookie(s)
	for _, tt := range sessionCases(s) {
		t.Run(tt.name, func(t *testing.T) {
			var gotAuth Auth
			called := false
			h := Guard{Token: token, Sessions: sessions}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				gotAuth = AuthOf(r.Context())
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, sessionRequest(tt, cookie))
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantCode, rec.Body)
			}
			if called != (tt.wantCode == 200) {
				t.Fatalf("handler called = %v", called)
			}
			if called && gotAuth != tt.wantAuth {
				t.Errorf("AuthOf = %v, want %v", gotAuth, tt.wantAuth)
			}
			if !called {
				if got := errorOf(t, rec); got != tt.wantError {
					t.Errorf("error = %q, want %q", got, tt.wantError)
				}
			}
		})
	}
}

// signedIn is a session manager and the session a login link opened.
func signedIn(t *testing.T) (*session.Manager, session.Session) {
	t.Helper()
	sessions := session.NewManager(session.Config{CookieName: "clubnode_session_7700"})
	login, _, err := sessions.NewLogin()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sessions.Redeem(login.String())
	if err != nil {
		t.Fatal(err)
	}
	return sessions, s
}

// sessionCase is one request with a token, the session's cookie or
// neither, and the answer it must get.
type sessionCase struct {
	name      string
	method    string
	host      string
	auth      string // Authorization header
	cookie    bool
	csrf      string
	header    map[string]string
	wantCode  int
	wantAuth  Auth
	wantError string
}

func sessionCases(s session.Session) []sessionCase {
	csrf := s.CSRF.String()
	return []sessionCase{
		{name: "token GET", method: "GET", auth: "Bearer " + token, wantCode: 200, wantAuth: AuthToken},
		{name: "token POST needs no CSRF", method: "POST", auth: "Bearer " + token, wantCode: 200, wantAuth: AuthToken},
		{name: "cookie GET", method: "GET", cookie: true, wantCode: 200, wantAuth: AuthSession},
		{name: "cookie GET same origin", method: "GET", cookie: true, wantCode: 200, wantAuth: AuthSession,
			header: map[string]string{"Origin": "http://127.0.0.1:7700", "Sec-Fetch-Site": "same-origin"}},
		{name: "cookie POST with CSRF", method: "POST", cookie: true, csrf: csrf, wantCode: 200, wantAuth: AuthSession,
			header: map[string]string{"Origin": "http://127.0.0.1:7700", "Sec-Fetch-Site": "same-origin"}},
		{name: "cookie DELETE with CSRF", method: "DELETE", cookie: true, csrf: csrf, wantCode: 200, wantAuth: AuthSession},
		{name: "cookie POST without CSRF", method: "POST", cookie: true, wantCode: 403, wantError: "missing or wrong CSRF token"},
		{name: "cookie DELETE without CSRF", method: "DELETE", cookie: true, wantCode: 403, wantError: "missing or wrong CSRF token"},
		{name: "cookie POST with session ID as CSRF", method: "POST", cookie: true, csrf: s.ID.String(), wantCode: 403, wantError: "missing or wrong CSRF token"},
		{name: "cookie POST with wrong CSRF", method: "POST", cookie: true, csrf: "nope", wantCode: 403, wantError: "missing or wrong CSRF token"},
		{name: "CSRF without cookie", method: "POST", csrf: csrf, wantCode: 401, wantError: "missing API token or session (sign in with: clubnode ui)"},
		{name: "nothing", method: "GET", wantCode: 401, wantError: "missing API token or session (sign in with: clubnode ui)"},
		{name: "wrong token does not fall back to the cookie", method: "GET", auth: "Bearer nope", cookie: true, wantCode: 401, wantError: "wrong API token"},
		{name: "basic auth with cookie", method: "GET", auth: "Basic x", cookie: true, wantCode: 401, wantError: "missing API token"},
		{name: "cookie with wrong host", method: "GET", host: "evil.example:7700", cookie: true, wantCode: 403, wantError: "host not allowed"},
		{name: "cookie from another origin", method: "POST", cookie: true, csrf: csrf, wantCode: 403, wantError: "origin not allowed",
			header: map[string]string{"Origin": "http://127.0.0.1:8080"}},
		{name: "cookie from another port (same site)", method: "GET", cookie: true, wantCode: 403, wantError: "cross-site request not allowed",
			header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "cookie with foreign referer", method: "GET", cookie: true, wantCode: 403, wantError: "referer not allowed",
			header: map[string]string{"Referer": "http://evil.example/"}},
	}
}

// sessionRequest is tt's request; cookie is the session's.
func sessionRequest(tt sessionCase, cookie *http.Cookie) *http.Request {
	req := httptest.NewRequest(tt.method, "/api/v1/rooms", nil)
	req.Host = "127.0.0.1:7700"
	if tt.host != "" {
		req.Host = tt.host
	}
	if tt.auth != "" {
		req.Header.Set("Authorization", tt.auth)
	}
	if tt.cookie {
		req.AddCookie(cookie)
	}
	if tt.csrf != "" {
		req.Header.Set(session.CSRFHeader, tt.csrf)
	}
	for k, v := range tt.header {
		req.Header.Set(k, v)
	}
	return req
}

func TestWrapPublic(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		host     string
		header   map[string]string
		wantCode int
	}{
		{name: "GET", method: "GET", host: "127.0.0.1:7700", wantCode: 200},
		{name: "HEAD", method: "HEAD", host: "localhost:7700", wantCode: 200},
		// Following a link from a chat or a mail is a cross-site navigation.
		{name: "cross-site navigation", method: "GET", host: "127.0.0.1:7700", wantCode: 200,
			header: map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Referer": "https://chat.example/"}},
		{name: "rebound host", method: "GET", host: "127.0.0.1.nip.io:7700", wantCode: 403},
		{name: "POST", method: "POST", host: "127.0.0.1:7700", wantCode: 405},
		{name: "DELETE", method: "DELETE", host: "127.0.0.1:7700", wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Guard{Token: token}.WrapPublic(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if AuthOf(r.Context()) != AuthNone {
					t.Error("a public request claims to be authenticated")
				}
			}))
			req := httptest.NewRequest(tt.method, "/", nil)
			req.Host = tt.host
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantCode)
			}
		})
	}
}
