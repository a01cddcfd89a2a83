package session

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzParseToken: any text either parses to a token whose text form is
// the input exactly, or fails with ErrMalformedToken; it never panics.
func FuzzParseToken(f *testing.F) {
	tok, _ := NewToken()
	for _, s := range []string{"", tok.String(), tok.String()[1:], tok.String() + "=", "clubnode", "AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseToken(s)
		if err != nil {
			return
		}
		if got.String() != s {
			t.Fatalf("ParseToken(%q) round-trips to %q", s, got.String())
		}
	})
}

// FuzzAuthenticate feeds arbitrary cookie and CSRF header values to a
// manager holding one live session: only that session's exact ID and
// CSRF token may authenticate.
func FuzzAuthenticate(f *testing.F) {
	m := NewManager(Config{CookieName: "s", Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	login, _, _ := m.NewLogin()
	s, err := m.Redeem(login.String())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("s="+s.ID.String(), s.CSRF.String())
	f.Add("s="+s.ID.String()+"; s=x", "")
	f.Add("s="+s.CSRF.String(), s.ID.String())
	f.Add("", "")
	f.Fuzz(func(t *testing.T, cookie, csrf string) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/rooms", nil)
		r.Header.Set("Cookie", cookie)
		r.Header.Set(CSRFHeader, csrf)
		session, csrfOK := m.Authenticate(r)
		if csrfOK && !session {
			t.Fatal("CSRF accepted without a session")
		}
		if csrfOK && csrf != s.CSRF.String() {
			t.Fatalf("CSRF header %q accepted", csrf)
		}
		if session {
			found := false
			for _, c := range r.CookiesNamed("s") {
				found = found || c.Value == s.ID.String()
			}
			if !found {
				t.Fatalf("cookie %q authenticated", cookie)
			}
		}
	})
}
