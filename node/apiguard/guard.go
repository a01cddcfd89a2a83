// Package apiguard is the layered guard in front of the node's local HTTP
// API, modelled on syncthing's lib/api and tailscale's ipn/localapi. A
// request must pass, in order:
//
//  1. the Host check: the Host header names a loopback host, so a web page
//     whose DNS name was rebound to 127.0.0.1 cannot talk to the API;
//  2. the Origin check: a request sent by a browser on behalf of some
//     other page (Origin, Referer or Sec-Fetch-Site says so) is refused;
//  3. the credential: either the API token, "Authorization: Bearer
//     <token>", which a page cannot attach to a cross-site request at all
//     (the CLI uses it); or a browser session cookie (the web UI), which
//     must come with the session's CSRF token in a header on every request
//     that changes state.
//
// The guard never sets Access-Control-Allow-Origin: no other origin may
// read the API's answers.
//
// WrapPublic is the lighter guard for what a browser must reach before it
// has a session: the app's static files and the one-time login link.
package apiguard

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

// Guard holds what the checks need. Wrap copies it, so changing a Guard
// after Wrap has no effect on handlers already built.
type Guard struct {
	// Token is the API token clients must present. An empty Token refuses
	// every request: a guard that forgot its token must fail closed.
	Token string
	// Logger gets a debug line per refused request; nil means
	// slog.Default(). Debug level because a hostile page can cause
	// refusals at will and must not be able to flood the log.
	Logger *slog.Logger
	// Sessions, when set, lets a request without an Authorization header
	// authenticate with a browser session instead (node/session).
	Sessions Sessions
}

// Sessions is what the guard asks about browser sessions.
type Sessions interface {
	// Authenticate reports whether r carries a live session cookie and,
	// if so, whether it also carries that session's CSRF token.
	Authenticate(r *http.Request) (session, csrf bool)
}

// Auth says how a request that passed the guard proved itself.
type Auth int

const (
	// AuthNone: the request passed WrapPublic only.
	AuthNone Auth = iota
	// AuthToken: the API token (the CLI, scripts).
	AuthToken
	// AuthSession: a browser session cookie.
	AuthSession
)

type authKey struct{}

// AuthOf returns how the request whose context this is authenticated.
func AuthOf(ctx context.Context) Auth {
	a, _ := ctx.Value(authKey{}).(Auth)
	return a
}

// Wrap returns next behind the guard.
func (g Guard) Wrap(next http.Handler) http.Handler {
	logger := g.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "apiguard")
	token := []byte(g.Token)
	sessions := g.Sessions
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, status, msg := check(r, token, sessions)
		if status != 0 {
			refuse(w, r, logger, status, msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, auth)))
	})
}

// WrapPublic returns next behind the Host check alone, for GET and HEAD
// only: the app's static files and the login link. It skips the Origin
// check on purpose, so that following an invite or login link from
// another site (a chat, a mail) opens the app; what it serves is public or
// is its own credential, and the API behind Wrap still checks everything.
func (g Guard) WrapPublic(next http.Handler) http.Handler {
	logger := g.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "apiguard")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !hostAllowed(r.Host):
			refuse(w, r, logger, http.StatusForbidden, "host not allowed")
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			refuse(w, r, logger, http.StatusMethodNotAllowed, "method not allowed")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// refuse answers a refused request from its headers alone and closes the
// connection: the server would otherwise read (and wait for) the body
// before answering, so that a client trickling a body would hold the
// refusal, and a connection, for as long as it liked.
func refuse(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, msg string) {
	logger.Debug("refused API request", "status", status, "reason", msg,
		"method", r.Method, "path", r.URL.Path, "host", r.Host,
		"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clubnode"`)
	}
	w.Header().Set("Connection", "close")
	apiv1.WriteError(w, status, msg)
	// Whatever of the body is left is not waited for.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// check runs the layers in order and returns how the request
// authenticated, or the status and message of the first refusal.
func check(r *http.Request, token []byte, sessions Sessions) (Auth, int, string) {
	if !hostAllowed(r.Host) {
		return AuthNone, http.StatusForbidden, "host not allowed"
	}
	if status, msg := checkOrigin(r); status != 0 {
		return AuthNone, status, msg
	}
	if len(token) == 0 {
		return AuthNone, http.StatusInternalServerError, "API token not configured"
	}
	header, hasHeader := r.Header["Authorization"]
	if !hasHeader && sessions != nil {
		// No Authorization header at all: a browser. A wrong token never
		// falls back to the cookie, so each credential fails on its own.
		return checkSession(r, sessions)
	}
	got, ok := bearerToken(strings.Join(header, ""))
	if !ok {
		return AuthNone, http.StatusUnauthorized, "missing API token"
	}
	if subtle.ConstantTimeCompare([]byte(got), token) != 1 {
		return AuthNone, http.StatusUnauthorized, "wrong API token"
	}
	return AuthToken, 0, ""
}

// checkSession authenticates a browser by its session cookie, and asks
// for the CSRF token on everything but reads. The Origin check already ran,
// and SameSite=Strict keeps the cookie off other sites' requests; the CSRF
// token is the layer that still holds if a browser gets either wrong.
func checkSession(r *http.Request, sessions Sessions) (Auth, int, string) {
	session, csrf := sessions.Authenticate(r)
	if !session {
		return AuthNone, http.StatusUnauthorized, "missing API token or session (sign in with: clubnode ui)"
	}
	if !safeMethod(r.Method) && !csrf {
		return AuthNone, http.StatusForbidden, "missing or wrong CSRF token"
	}
	return AuthSession, 0, ""
}

// safeMethod reports whether a method only reads (RFC 9110 section 9.2.1).
// The API changes state with POST and DELETE only (kubo issue 2165).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// hostAllowed reports whether a Host header value (host or host:port)
// names a loopback host. Anything the parser does not understand is
// refused: the point is to refuse DNS names such as 127.0.0.1.nip.io that
// resolve to loopback but are chosen by an attacker.
func hostAllowed(hostport string) bool {
	var host, port string
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return false
		}
		host, port = hostport[1:end], hostport[end+1:]
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return false
			}
			port = p
		}
		// Only IPv6 literals belong in brackets.
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return false
		}
	} else {
		// An unbracketed IPv6 literal is not a valid Host header.
		if strings.Count(hostport, ":") > 1 {
			return false
		}
		host, port, _ = strings.Cut(hostport, ":")
	}
	if port != "" && !validPort(port) {
		return false
	}
	return home.IsLoopbackHost(host)
}

func validPort(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkOrigin refuses requests that a browser made for another page. A
// request with no browser headers (the CLI, curl) passes. A browser UI
// served by the node itself is same-origin and passes too; it will add a
// session cookie and a CSRF check of its own.
func checkOrigin(r *http.Request) (int, string) {
	self := "http://" + r.Host
	// Fetch metadata: only a request the user typed or bookmarked
	// ("none") or one from our own origin may pass. "same-site" is refused
	// too because every port on localhost is the same site.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return http.StatusForbidden, "cross-site request not allowed"
	}
	if origin, ok := r.Header["Origin"]; ok {
		if len(origin) != 1 || origin[0] != self {
			return http.StatusForbidden, "origin not allowed"
		}
		return 0, ""
	}
	// Browsers omit Origin on plain navigations and some GETs but usually
	// send a Referer; judge its origin the same way.
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		if err != nil || u.Scheme+"://"+u.Host != self {
			return http.StatusForbidden, "referer not allowed"
		}
	}
	return 0, ""
}

// bearerToken extracts the token from an Authorization header. The
// scheme name is case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
