package turnserver

import (
	"strings"
	"testing"
	"time"
)

// The username is the one string of a TURN request the server itself
// parses. Whatever comes in, parsing must not panic, and whatever it
// accepts must be exactly what formatUsername writes for the result, so
// one credential never has two spellings.
func FuzzParseUsername(f *testing.F) {
	for _, seed := range []string{
		"1893553445:12D3KooWB6wVRKNsAb2uPWGTk53KrTtBC6UAvVhWdHDSiWi2a32P",
		"0:a", "01:a", "-1:a", "+1:a", "1:", ":a", "1:a:b", "1:a b",
		"99999999999999999999:a", "9223372036854775807:a", "1:" + strings.Repeat("z", MaxUserLen+1),
		"１:a", "1:\x00", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		expires, user, err := parseUsername(s)
		if err != nil {
			return
		}
		if got := formatUsername(expires, user); got != s {
			t.Fatalf("parse(%q) = %v, %q; written back as %q", s, expires.Unix(), user, got)
		}
		if checkUser(user) != nil || len(s) > maxUsernameLen {
			t.Fatalf("accepted %q with user %q", s, user)
		}
	})
}

// Issued usernames parse back to what was issued.
func TestUsernameRoundTrip(t *testing.T) {
	when := time.Unix(1893553445, 0)
	u := formatUsername(when, "alice")
	got, user, err := parseUsername(u)
	if err != nil || !got.Equal(when) || user != "alice" {
		t.Fatalf("parse(%q) = %v, %q, %v", u, got, user, err)
	}
}
