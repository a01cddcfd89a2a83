package session

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestManager(c *clock) *Manager {
	return NewManager(Config{CookieName: "clubnode_session_7700", LoginTTL: time.Minute, IdleTTL: time.Hour,
		MaxSessions: 3, MaxLogins: 2, Now: c.now})
}

func requestWith(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/id", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

func TestLoginIsOneTime(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	m := newTestManager(c)
	login, expires, err := m.NewLogin()
	if err != nil {
		t.Fatal(err)
	}
	if want := c.t.Add(time.Minute); !expires.Equal(want) {
		t.Errorf("expires %v, want %v", expires, want)
	}
	s, err := m.Redeem(login.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Redeem(login.String()); !errors.Is(err, ErrUnknownLogin) {
		t.Fatalf("second redeem: %v, want ErrUnknownLogin", err)
	}
	got, ok := m.Lookup(requestWith(m.Cookie(s)))
	if !ok || got != s {
		t.Fatalf("lookup = %v, %v", got, ok)
	}
	if s.ID == s.CSRF || s.ID == login {
		t.Fatal("session ID, CSRF token and login token must all differ")
	}
}

func TestLoginExpires(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	m := newTestManager(c)
	login, _, err := m.NewLogin()
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Minute)
	if _, err := m.Redeem(login.String()); !errors.Is(err, ErrUnknownLogin) {
		t.Fatalf("redeem after expiry: %v", err)
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	m := newTestManager(c)
	login, _, _ := m.NewLogin()
	s, err := m.Redeem(login.String())
	if err != nil {
		t.Fatal(err)
	}
	// Use keeps it alive past the idle time counted from its creation.
	c.t = c.t.Add(50 * time.Minute)
	if _, ok := m.Lookup(requestWith(m.Cookie(s))); !ok {
		t.Fatal("session ended while in use")
	}
	c.t = c.t.Add(50 * time.Minute)
	if _, ok := m.Lookup(requestWith(m.Cookie(s))); !ok {
		t.Fatal("session ended 50 minutes after its last use")
	}
	c.t = c.t.Add(61 * time.Minute)
	if _, ok := m.Lookup(requestWith(m.Cookie(s))); ok {
		t.Fatal("idle session still valid")
	}
}

func TestBoundsDropTheOldest(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	m := newTestManager(c)
	var logins []Token
	for range 3 {
		l, _, err := m.NewLogin()
		if err != nil {
			t.Fatal(err)
		}
		logins = append(logins, l)
		c.t = c.t.Add(time.Second)
	}
	if _, err := m.Redeem(logins[0].String()); !errors.Is(err, ErrUnknownLogin) {
		t.Fatalf("the oldest of 3 logins with MaxLogins 2 still works: %v", err)
	}
	var sessions []Session
	for range 4 {
		l, _, _ := m.NewLogin()
		s, err := m.Redeem(l.String())
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
		c.t = c.t.Add(time.Second)
	}
	if _, ok := m.Lookup(requestWith(m.Cookie(sessions[0]))); ok {
		t.Fatal("the least recently used of 4 sessions with MaxSessions 3 survived")
	}
	for _, s := range sessions[1:] {
		if _, ok := m.Lookup(requestWith(m.Cookie(s))); !ok {
			t.Fatal("a recent session was dropped")
		}
	}
}

func TestLookupAndAuthenticate(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	m := newTestManager(c)
	l, _, _ := m.NewLogin()
	s, _ := m.Redeem(l.String())
	other := NewManager(Config{CookieName: "clubnode_session_7701"})
	tests := []struct {
		name            string
		cookies         []*http.Cookie
		csrf            string
		session, csrfOK bool
	}{
		{name: "no cookie"},
		{name: "right cookie, no CSRF", cookies: []*http.Cookie{m.Cookie(s)}, session: true},
		{name: "right cookie and CSRF", cookies: []*http.Cookie{m.Cookie(s)}, csrf: s.CSRF.String(), session: true, csrfOK: true},
		{name: "CSRF is the session ID", cookies: []*http.Cookie{m.Cookie(s)}, csrf: s.ID.String(), session: true},
		{name: "CSRF with garbage", cookies: []*http.Cookie{m.Cookie(s)}, csrf: s.CSRF.String() + "x", session: true},
		{name: "other daemon's cookie name", cookies: []*http.Cookie{other.Cookie(s)}, csrf: s.CSRF.String()},
		{name: "CSRF token as cookie", cookies: []*http.Cookie{{Name: m.CookieName(), Value: s.CSRF.String()}}},
		{name: "stale cookie then live one", cookies: []*http.Cookie{{Name: m.CookieName(), Value: strings.Repeat("A", TokenTextLen)}, m.Cookie(s)},
			csrf: s.CSRF.String(), session: true, csrfOK: true},
		{name: "malformed cookie", cookies: []*http.Cookie{{Name: m.CookieName(), Value: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := requestWith(tt.cookies...)
			if tt.csrf != "" {
				r.Header.Set(CSRFHeader, tt.csrf)
			}
			session, csrf := m.Authenticate(r)
			if session != tt.session || csrf != tt.csrfOK {
				t.Fatalf("Authenticate = %v, %v; want %v, %v", session, csrf, tt.session, tt.csrfOK)
			}
		})
	}
	m.End(s.ID)
	if ok, _ := m.Authenticate(requestWith(m.Cookie(s))); ok {
		t.Fatal("ended session still authenticates")
	}
}

func TestCookieAttributes(t *testing.T) {
	m := NewManager(Config{CookieName: "clubnode_session_7700"})
	l, _, _ := m.NewLogin()
	s, _ := m.Redeem(l.String())
	rec := httptest.NewRecorder()
	http.SetCookie(rec, m.Cookie(s))
	got := rec.Header().Get("Set-Cookie")
	for _, want := range []string{"clubnode_session_7700=" + s.ID.String(), "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(got, want) {
			t.Errorf("Set-Cookie %q lacks %q", got, want)
		}
	}
	rec = httptest.NewRecorder()
	http.SetCookie(rec, m.ClearCookie())
	if got := rec.Header().Get("Set-Cookie"); !strings.Contains(got, "Max-Age=0") {
		t.Errorf("clearing Set-Cookie %q does not expire the cookie", got)
	}
}

func TestParseToken(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseToken(tok.String())
	if err != nil || back != tok {
		t.Fatalf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{"", "short", tok.String() + "A", strings.Repeat("!", TokenTextLen),
		strings.Repeat("A", TokenTextLen-1) + "=", strings.Repeat("A", TokenTextLen-1) + "B" /* non-zero padding bits */} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ParseToken(%q) = %v, want ErrMalformedToken", bad, err)
		}
	}
}
