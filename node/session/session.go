// Package session lets a browser drive the node without ever seeing the
// API token. `clubnode ui` asks the daemon (with the token) for a one-time
// login link; opening it trades the link's token for a session cookie
// (HttpOnly, SameSite=Strict) and a CSRF token the page reads from the API
// and sends back in a header on every state-changing request.
//
// Login links live in memory only. Sessions live in memory and, given a
// Store, on disk too, so a browser stays signed in across restarts of the
// daemon (a desktop's reboot) until it signs out or stays away for
// IdleTTL. Secrets are kept and looked up by their SHA-256, so a map
// lookup's timing says nothing about a secret, and the session ID a cookie
// carries is never written down.
package session

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/clubnode/clubnode/internal/defaults"
)

// CSRFHeader is the request header that carries the session's CSRF token.
// A custom header also forces a CORS preflight on any cross-origin fetch,
// which the API never grants.
const CSRFHeader = "X-Clubnode-CSRF"

// TokenSize is the number of random bytes in every token; TokenTextLen is
// the length of its text form (base64url, no padding).
const (
	TokenSize    = 32
	TokenTextLen = 43
)

// Defaults for Config.
const (
	DefaultLoginTTL    = 2 * time.Minute
	DefaultIdleTTL     = 7 * 24 * time.Hour
	DefaultMaxSessions = 32
	DefaultMaxLogins   = 16
)

var (
	// ErrMalformedToken means a token's text is not a token at all.
	ErrMalformedToken = errors.New("malformed token")
	// ErrUnknownLogin means a login link was used already, expired or
	// never issued.
	ErrUnknownLogin = errors.New("this sign-in link was used already or has expired")
)

// Token is a secret: a login token, a session ID or a CSRF token.
type Token [TokenSize]byte

// NewToken returns a fresh random token.
func NewToken() (Token, error) {
	var t Token
	if _, err := rand.Read(t[:]); err != nil {
		return Token{}, fmt.Errorf("new token: %w", err)
	}
	return t, nil
}

// String is the token's text form, safe in URLs, cookies and headers.
func (t Token) String() string { return base64.RawURLEncoding.EncodeToString(t[:]) }

// ParseToken reads a token's text form. Anything but exactly TokenTextLen
// base64url characters is refused before decoding, so oversized input
// costs nothing.
func ParseToken(s string) (Token, error) {
	if len(s) != TokenTextLen {
		return Token{}, fmt.Errorf("%w: want %d characters, got %d", ErrMalformedToken, TokenTextLen, len(s))
	}
	var t Token
	n, err := base64.RawURLEncoding.Strict().Decode(t[:], []byte(s))
	if err != nil || n != TokenSize {
		return Token{}, fmt.Errorf("%w: not base64url", ErrMalformedToken)
	}
	return t, nil
}

func (t Token) digest() [sha256.Size]byte { return sha256.Sum256(t[:]) }

// MarshalText and UnmarshalText store a token (a Record's CSRF) as text.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *Token) UnmarshalText(b []byte) error {
	parsed, err := ParseToken(string(b))
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}

// Config configures a Manager; zero fields take the defaults.
type Config struct {
	// CookieName names the session cookie. Cookies are scoped to a host,
	// not a port, so two daemons on 127.0.0.1 need different names; the
	// node puts its API port in it.
	CookieName string
	// LoginTTL is how long a login link stays valid.
	LoginTTL time.Duration
	// IdleTTL ends a session unused for this long.
	IdleTTL time.Duration
	// MaxSessions and MaxLogins bound memory; the oldest goes first.
	MaxSessions int
	MaxLogins   int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Store, if set, keeps sessions across restarts.
	Store Store
	// Logger reports a Store that fails; nil means slog.Default().
	Logger *slog.Logger
}

// Digest is the SHA-256 of a session ID: how a Store names a session.
type Digest = [sha256.Size]byte

// Record is what a Store keeps of one session.
type Record struct {
	CSRF     Token     `json:"csrf"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

// Store keeps sessions across restarts of the daemon.
type Store interface {
	LoadSessions() (map[Digest]Record, error)
	PutSession(d Digest, r Record) error
	DeleteSession(d Digest) error
}

// touchEvery is how stale a stored session's LastSeen may get before a
// request writes it again: not every request is worth a disk write, and
// an idle timeout of days does not need it to the second.
const touchEvery = time.Hour

// Manager issues login links and keeps sessions. It is safe for
// concurrent use.
type Manager struct {
	cfg Config

	mu       sync.Mutex
	logins   map[[sha256.Size]byte]time.Time // digest of login token -> expiry
	sessions map[[sha256.Size]byte]*entry    // digest of session ID -> session
}

type entry struct {
	csrf     Token
	created  time.Time
	lastSeen time.Time
	stored   time.Time // lastSeen as the Store has it
}

// Session is a signed-in browser: the cookie's ID and its CSRF token.
type Session struct {
	ID   Token
	CSRF Token
}

// NewManager returns a Manager with cfg's defaults filled in.
func NewManager(cfg Config) *Manager {
	cfg.CookieName = cmp.Or(cfg.CookieName, "clubnode_session")
	cfg.LoginTTL = defaults.Positive(cfg.LoginTTL, DefaultLoginTTL)
	cfg.IdleTTL = defaults.Positive(cfg.IdleTTL, DefaultIdleTTL)
	cfg.MaxSessions = defaults.Positive(cfg.MaxSessions, DefaultMaxSessions)
	cfg.MaxLogins = defaults.Positive(cfg.MaxLogins, DefaultMaxLogins)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	m := &Manager{cfg: cfg, logins: map[[sha256.Size]byte]time.Time{}, sessions: map[[sha256.Size]byte]*entry{}}
	m.load()
	return m
}

// load takes the stored sessions back. A store that cannot be read only
// means browsers sign in again; nothing in it is deleted for that.
func (m *Manager) load() {
	if m.cfg.Store == nil {
		return
	}
	stored, err := m.cfg.Store.LoadSessions()
	if err != nil {
		m.cfg.Logger.Warn("web UI sessions: cannot read the stored ones; browsers sign in again", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for d, r := range stored {
		m.sessions[d] = &entry{csrf: r.CSRF, created: r.Created, lastSeen: r.LastSeen, stored: r.LastSeen}
	}
	m.expireLocked(m.cfg.Now())
	for len(m.sessions) > m.cfg.MaxSessions {
		m.dropOldestSessionLocked()
	}
}

func (m *Manager) forget(d Digest) {
	if m.cfg.Store == nil {
		return
	}
	if err := m.cfg.Store.DeleteSession(d); err != nil {
		m.cfg.Logger.Warn("web UI sessions: cannot delete an ended one from the store", "err", err)
	}
}

func (m *Manager) save(d Digest, e *entry) error {
	if m.cfg.Store == nil {
		return nil
	}
	if err := m.cfg.Store.PutSession(d, Record{CSRF: e.csrf, Created: e.created, LastSeen: e.lastSeen}); err != nil {
		return fmt.Errorf("store the session: %w", err)
	}
	e.stored = e.lastSeen
	return nil
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.cfg.CookieName }

// NewLogin issues a one-time login token and says until when it works.
func (m *Manager) NewLogin() (Token, time.Time, error) {
	t, err := NewToken()
	if err != nil {
		return Token{}, time.Time{}, err
	}
	now := m.cfg.Now()
	expires := now.Add(m.cfg.LoginTTL)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	if len(m.logins) >= m.cfg.MaxLogins {
		m.dropOldestLoginLocked()
	}
	m.logins[t.digest()] = expires
	return t, expires, nil
}

// Redeem spends a login token (its text form, from the link) and opens a
// session. A token works once.
func (m *Manager) Redeem(login string) (Session, error) {
	t, err := ParseToken(login)
	if err != nil {
		return Session{}, fmt.Errorf("sign-in link: %w", err)
	}
	id, err := NewToken()
	if err != nil {
		return Session{}, err
	}
	csrf, err := NewToken()
	if err != nil {
		return Session{}, err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	d := t.digest()
	if _, ok := m.logins[d]; !ok {
		return Session{}, ErrUnknownLogin
	}
	delete(m.logins, d)
	if len(m.sessions) >= m.cfg.MaxSessions {
		m.dropOldestSessionLocked()
	}
	e := &entry{csrf: csrf, created: now, lastSeen: now}
	if err := m.save(id.digest(), e); err != nil {
		return Session{}, err // the link is spent; `clubnode ui` makes another
	}
	m.sessions[id.digest()] = e
	return Session{ID: id, CSRF: csrf}, nil
}

// Lookup finds the live session a request's cookie names, and marks it
// used. A request may carry several cookies of that name (another path,
// a stale one); any live one counts.
func (m *Manager) Lookup(r *http.Request) (Session, bool) {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range r.CookiesNamed(m.cfg.CookieName) {
		id, err := ParseToken(c.Value)
		if err != nil {
			continue
		}
		e, ok := m.sessions[id.digest()]
		if !ok {
			continue
		}
		if now.Sub(e.lastSeen) > m.cfg.IdleTTL {
			delete(m.sessions, id.digest())
			m.forget(id.digest())
			continue
		}
		e.lastSeen = now
		if now.Sub(e.stored) > touchEvery {
			if err := m.save(id.digest(), e); err != nil {
				m.cfg.Logger.Warn("web UI sessions: cannot note a session's use", "err", err)
			}
		}
		return Session{ID: id, CSRF: e.csrf}, true
	}
	return Session{}, false
}

// CSRFValid reports whether header (the CSRFHeader value) is s's CSRF
// token, compared in constant time.
func CSRFValid(s Session, header string) bool {
	got, err := ParseToken(header)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got[:], s.CSRF[:]) == 1
}

// Authenticate tells the API guard whether r carries a live session and,
// if so, whether it carries that session's CSRF token too.
func (m *Manager) Authenticate(r *http.Request) (session, csrf bool) {
	s, ok := m.Lookup(r)
	if !ok {
		return false, false
	}
	return true, CSRFValid(s, r.Header.Get(CSRFHeader))
}

// End signs a session out.
func (m *Manager) End(id Token) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id.digest())
	m.forget(id.digest())
}

// Cookie is the Set-Cookie for a new session. HttpOnly keeps it from the
// page's scripts; SameSite=Strict keeps browsers from attaching it to
// requests other sites start. It is not Secure because the API is plain
// HTTP on loopback.
func (m *Manager) Cookie(s Session) *http.Cookie {
	return &http.Cookie{Name: m.cfg.CookieName, Value: s.ID.String(), Path: "/",
		MaxAge: int(m.cfg.IdleTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

// ClearCookie is the Set-Cookie that removes the session cookie.
func (m *Manager) ClearCookie() *http.Cookie {
	return &http.Cookie{Name: m.cfg.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode}
}

func (m *Manager) expireLocked(now time.Time) {
	for d, exp := range m.logins {
		if !now.Before(exp) {
			delete(m.logins, d)
		}
	}
	for d, e := range m.sessions {
		if now.Sub(e.lastSeen) > m.cfg.IdleTTL {
			delete(m.sessions, d)
			m.forget(d)
		}
	}
}

func (m *Manager) dropOldestLoginLocked() {
	var oldest [sha256.Size]byte
	var first time.Time
	for d, exp := range m.logins {
		if first.IsZero() || exp.Before(first) {
			oldest, first = d, exp
		}
	}
	delete(m.logins, oldest)
}

func (m *Manager) dropOldestSessionLocked() {
	var oldest [sha256.Size]byte
	var first time.Time
	for d, e := range m.sessions {
		if first.IsZero() || e.lastSeen.Before(first) {
			oldest, first = d, e.lastSeen
		}
	}
	delete(m.sessions, oldest)
	m.forget(oldest)
}
