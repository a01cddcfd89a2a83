package turnserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Credentials are what a member needs to use the server: a
// webrtc.ICEServer's URLs, Username and Credential.
type Credentials struct {
	URLs     []string
	Username string
	Password string
	// Expires is when the server stops accepting them. An allocation
	// made with them ends at its next refresh after that (allocations
	// refresh every few minutes); the member asks again before it.
	Expires time.Time
}

// MaxUserLen bounds a user name; a libp2p peer ID is 52 characters.
const MaxUserLen = 128

// maxUsernameLen is the longest TURN username this server issues or
// reads: up to 20 digits of expiry, a colon and the user.
const maxUsernameLen = 20 + 1 + MaxUserLen

var errBadUsername = errors.New("turnserver: malformed username")

// The username is the TURN REST API's time-limited form,
// "EXPIRY:USER": EXPIRY in Unix seconds, USER the member it was issued to
// (a peer ID). The password is the base64 HMAC-SHA256 of the username
// under the server's secret, so the server keeps no table of credentials:
// it recomputes the password of whatever username it is shown.
func formatUsername(expires time.Time, user string) string {
	return strconv.FormatInt(expires.Unix(), 10) + ":" + user
}

// parseUsername reads a username from the network. It accepts only the
// canonical form formatUsername writes: decimal digits without a leading
// zero or sign, one colon, a valid user.
func parseUsername(s string) (expires time.Time, user string, err error) {
	if len(s) > maxUsernameLen {
		return time.Time{}, "", fmt.Errorf("%w: %d bytes", errBadUsername, len(s))
	}
	digits, user, ok := strings.Cut(s, ":")
	if !ok || digits == "" || len(digits) > 19 || (digits[0] == '0' && len(digits) > 1) {
		return time.Time{}, "", errBadUsername
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return time.Time{}, "", errBadUsername
		}
	}
	sec, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return time.Time{}, "", errBadUsername
	}
	if err := checkUser(user); err != nil {
		return time.Time{}, "", err
	}
	return time.Unix(sec, 0), user, nil
}

// checkUser allows 1 to MaxUserLen letters and digits: every multibase
// peer ID, and nothing that could be mistaken for the separator.
func checkUser(user string) error {
	if user == "" || len(user) > MaxUserLen {
		return fmt.Errorf("%w: user of %d bytes, want 1 to %d", errBadUsername, len(user), MaxUserLen)
	}
	for _, c := range []byte(user) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return fmt.Errorf("%w: user %q: want letters and digits only", errBadUsername, user)
		}
	}
	return nil
}

func passwordFor(secret []byte, username string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
