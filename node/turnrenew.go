package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/group"
)

// Renewing TURN credentials.
//
// A link's ICE agent keeps the TURN credentials it was made with for the
// link's whole life: it cannot take new ones mid-link. The always-on
// node's server lets a live relay go on with expired credentials as long
// as the member holds newer ones (audio/rtc/turnserver), so this node asks
// each always-on node that gave it credentials for new ones shortly
// before they expire, for as long as it has live links, and forgets the
// node when it has none.

// maxRenewMargin is how long before expiry credentials are renewed, at
// most; short-lived ones are renewed a quarter of their life early.
const maxRenewMargin = 5 * time.Minute

// turnRenewer renews the credentials this node's live links use.
type turnRenewer struct {
	n    *Node
	work *group.Group
	wake chan struct{}
	mu   sync.Mutex
	// live says whether the node has live links (tests replace it).
	live   func() bool
	creds  map[peer.ID]turnGrant // per always-on node, its latest credentials
	renews int                   // renewals that succeeded
}

type turnGrant struct {
	expires time.Time
	ttl     time.Duration
	retryAt time.Time // after a failed renewal
}

func (g turnGrant) due() time.Time {
	if !g.retryAt.IsZero() {
		return g.retryAt
	}
	return g.expires.Add(-min(g.ttl/4, maxRenewMargin))
}

func newTURNRenewer(n *Node) *turnRenewer {
	r := &turnRenewer{n: n, work: group.New(context.Background()), wake: make(chan struct{}, 1),
		live: func() bool { return n.rtc.LinkCount() > 0 }, creds: map[peer.ID]turnGrant{}}
	r.work.Go(r.run)
	return r
}

func (r *turnRenewer) close() { r.work.Close() }

// got records credentials from server, valid until expires.
func (r *turnRenewer) got(server peer.ID, expires time.Time) {
	now := r.n.cfg.Now()
	r.mu.Lock()
	r.creds[server] = turnGrant{expires: expires, ttl: expires.Sub(now)}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next is the always-on node whose credentials are due first, and when.
func (r *turnRenewer) next() (peer.ID, time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best peer.ID
	var at time.Time
	for s, g := range r.creds {
		if best == "" || g.due().Before(at) {
			best, at = s, g.due()
		}
	}
	return best, at, best != ""
}

func (r *turnRenewer) run(ctx context.Context) {
	for ctx.Err() == nil {
		server, at, ok := r.next()
		wait := time.Hour
		if ok {
			wait = at.Sub(r.n.cfg.Now())
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-r.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		r.renew(ctx, server)
	}
}

// renew asks server for new credentials if this node still has live
// links, and forgets it otherwise or when it cannot answer by expiry.
func (r *turnRenewer) renew(ctx context.Context, server peer.ID) {
	r.mu.Lock()
	g, live := r.creds[server], r.live
	r.mu.Unlock()
	if !live() {
		r.forget(server)
		return
	}
	reply, err := turnProto.Call(ctx, r.n.p2p.MemberHost(), server, turnRequest{Renew: true})
	now := r.n.cfg.Now()
	switch {
	case err == nil:
		r.mu.Lock()
		r.creds[server] = turnGrant{expires: time.Unix(reply.Expires, 0), ttl: time.Unix(reply.Expires, 0).Sub(now)}
		r.renews++
		r.mu.Unlock()
	case now.Before(g.expires) && ctx.Err() == nil:
		r.n.log.Debug("renewing TURN credentials failed; trying again", "server", server, "err", err)
		retry := max(g.ttl/16, 100*time.Millisecond)
		r.mu.Lock()
		r.creds[server] = turnGrant{expires: g.expires, ttl: g.ttl, retryAt: now.Add(retry)}
		r.mu.Unlock()
	default:
		r.n.log.Info("TURN credentials expired unrenewed", "server", server, "err", err)
		r.forget(server)
	}
}

func (r *turnRenewer) forget(server peer.ID) {
	r.mu.Lock()
	delete(r.creds, server)
	r.mu.Unlock()
}
