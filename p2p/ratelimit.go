package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Membership gossip is rate-limited per author: a member may change its
// profile a few times in a row and then about once every ten seconds, and
// a revoker may sign a burst of revocations (someone cleaning up after an
// intruder) and then one a second. What goes past the limit is dropped
// here and not relayed; the members sync after the next hello still
// carries the latest of it, so nothing is lost for good.
const (
	profileBurst     = 5
	profileEvery     = 10 * time.Second
	revocationBurst  = 32
	revocationEvery  = time.Second
	maxLimitedAuthor = 10000 // authors tracked; past it the oldest state is dropped
)

type authorLimits struct {
	mu          sync.Mutex
	profiles    map[peer.ID]*rate.Limiter
	revocations map[peer.ID]*rate.Limiter
}

func newAuthorLimits() *authorLimits {
	return &authorLimits{profiles: map[peer.ID]*rate.Limiter{}, revocations: map[peer.ID]*rate.Limiter{}}
}

// allow reports whether author may publish one more entry of this kind now.
func (l *authorLimits) allow(author peer.ID, revocation bool, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, every, burst := l.profiles, profileEvery, profileBurst
	if revocation {
		m, every, burst = l.revocations, revocationEvery, revocationBurst
	}
	lim, ok := m[author]
	if !ok {
		if len(m) >= maxLimitedAuthor {
			clear(m) // a fresh bucket for everyone is the safe direction
		}
		lim = rate.NewLimiter(rate.Every(every), burst)
		m[author] = lim
	}
	return lim.AllowN(now, 1)
}
