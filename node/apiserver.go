package node

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/clubnode/clubnode/node/apiconn"
)

// apiLimits are the local API server's timeouts and connection cap. The
// short ones hold for every client until it proves itself; a request that
// passed the guard gets opTimeout instead, as joining may first have to
// reach the inviter's node (the CLI waits two minutes), and the event
// stream sets its own (eventstream).
type apiLimits struct {
	// readHeader bounds the wait for a request's headers.
	readHeader time.Duration
	// read bounds reading a whole request (headers and body); write,
	// writing the answer, from the end of the headers. Both are
	// per-request deadlines that an authenticated request extends.
	read, write time.Duration
	// idle bounds a keep-alive connection's wait for its next request.
	idle time.Duration
	// op replaces read and write once a request passed the guard.
	op time.Duration
	// maxUntrusted caps the connections that have not yet carried an
	// authenticated request (apiconn); with trustOwner, those of the
	// daemon's own user count as trusted from the start.
	maxUntrusted int
	trustOwner   bool
}

var defaultAPILimits = apiLimits{
	readHeader:   5 * time.Second,
	read:         15 * time.Second,
	write:        15 * time.Second,
	idle:         30 * time.Second,
	op:           3 * time.Minute,
	maxUntrusted: 64,
	trustOwner:   true,
}

// newAPIServer is the local API's HTTP server, with the limits above.
func (n *Node) newAPIServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: n.limits.readHeader,
		ReadTimeout:       n.limits.read,
		WriteTimeout:      n.limits.write,
		IdleTimeout:       n.limits.idle,
		ConnContext:       apiconn.ConnContext,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
}

// authenticated runs behind the guard, for requests that passed it: their
// connection is trusted from now on (it never counts against the cap
// again), and the request gets the time an operation may need.
func (n *Node) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiconn.Trust(r.Context())
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(n.limits.op)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		next.ServeHTTP(w, r)
	})
}
