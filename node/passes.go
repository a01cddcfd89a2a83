package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
)

// Supporter passes: this node issues them (a ledger of what it issued and
// revoked, under prefPassesIssued) and holds those issued to it, one per
// issuer (prefPassesHeld). Payment, if any, happens outside clubnode.

var (
	prefPassesIssued = ds.NewKey("/passes/issued")
	prefPassesHeld   = ds.NewKey("/passes/held")
)

// Limits of the pass stores.
const (
	maxHeldPasses     = 1000
	maxIssuedPasses   = 10000
	maxPassLifetime   = 366 * 24 * time.Hour
	defaultPassExpiry = 30 * 24 * time.Hour
)

// issuedPass is the ledger entry of a pass this node issued.
type issuedPass struct {
	Pass    []byte `json:"pass"`
	Revoked bool   `json:"revoked,omitempty"`
}

// SavePass keeps the pass issued to this node by its issuer: the one that
// lasts longer.
func (r roomStore) SavePass(p *rooms.SignedPass) error {
	ctx := context.Background()
	if old := r.Pass(p.Issuer); old != nil && old.Expires.After(p.Expires) {
		return nil
	}
	n := 0
	if err := r.s.each(ctx, prefPassesHeld, func(string, []byte) { n++ }); err != nil {
		return err
	}
	if n >= maxHeldPasses && r.Pass(p.Issuer) == nil {
		return fmt.Errorf("this node holds %d supporter passes, the limit", n)
	}
	return r.s.put(ctx, prefPassesHeld.ChildString(p.Issuer.String()), p.Bytes)
}

// Pass is the live pass from issuer that this node holds, or nil.
func (r roomStore) Pass(issuer peer.ID) *rooms.SignedPass {
	data, err := r.s.get(context.Background(), prefPassesHeld.ChildString(issuer.String()))
	if err != nil || data == nil {
		return nil
	}
	p, err := rooms.ParsePass(data)
	if err != nil || p.Issuer != issuer || !time.Now().Before(p.Expires) {
		return nil
	}
	return p
}

// PassRevoked says whether this node revoked p. Passes of other issuers
// are not this node's to judge: their issuer checks them when it hosts.
func (r roomStore) PassRevoked(p *rooms.SignedPass) bool {
	rec, ok := r.issued(p.ID())
	return ok && rec.Revoked
}

func (r roomStore) issued(id string) (issuedPass, bool) {
	data, err := r.s.get(context.Background(), prefPassesIssued.ChildString(id))
	if err != nil || data == nil {
		return issuedPass{}, false
	}
	var rec issuedPass
	if json.Unmarshal(data, &rec) != nil {
		return issuedPass{}, false
	}
	return rec, true
}

func passInfo(p *rooms.SignedPass, revoked bool) apiv1.SupporterPass {
	return apiv1.SupporterPass{ID: p.ID(), Holder: p.Holder.String(), Issuer: p.Issuer.String(), Expires: p.Expires, Revoked: revoked}
}

// IssuePass signs a supporter pass for a member and hands it to their
// node at once if it is reachable.
func (n *Node) IssuePass(ctx context.Context, req apiv1.IssuePassRequest) (apiv1.SupporterPass, error) {
	svc, err := n.roomService()
	if err != nil {
		return apiv1.SupporterPass{}, err
	}
	holder, err := peer.Decode(req.For)
	if err != nil {
		return apiv1.SupporterPass{}, invalid("for: %q is not a peer ID: %w", req.For, err)
	}
	if _, ok := n.p2p.Member(holder); !ok {
		return apiv1.SupporterPass{}, fmt.Errorf("%s is %w among this network's members", holder, ErrNotFound)
	}
	lifetime := time.Duration(req.ExpiresSeconds) * time.Second
	if req.ExpiresSeconds == 0 {
		lifetime = defaultPassExpiry
	}
	if lifetime < time.Minute || lifetime > maxPassLifetime {
		return apiv1.SupporterPass{}, invalid("expires_seconds must be between 60 and %d", int(maxPassLifetime.Seconds()))
	}
	count := 0
	if err := n.store.each(ctx, prefPassesIssued, func(string, []byte) { count++ }); err != nil {
		return apiv1.SupporterPass{}, err
	}
	if count >= maxIssuedPasses {
		return apiv1.SupporterPass{}, invalid("this node has issued %d supporter passes, the limit", count)
	}
	now := n.cfg.Now()
	p, err := rooms.IssuePass(n.key, holder, now.Add(lifetime), now)
	if err != nil {
		return apiv1.SupporterPass{}, invalid("%w", err)
	}
	if err := n.store.putJSON(ctx, prefPassesIssued.ChildString(p.ID()), issuedPass{Pass: p.Bytes}); err != nil {
		return apiv1.SupporterPass{}, err
	}
	out := passInfo(p, false)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := svc.DeliverPass(dctx, p); err != nil {
		out.NotDelivered = err.Error()
	}
	return out, nil
}

// Passes lists the passes this node issued and those it holds.
func (n *Node) Passes(ctx context.Context) (apiv1.Passes, error) {
	out := apiv1.Passes{Issued: []apiv1.SupporterPass{}, Held: []apiv1.SupporterPass{}}
	err := n.store.each(ctx, prefPassesIssued, func(_ string, v []byte) {
		var rec issuedPass
		if json.Unmarshal(v, &rec) != nil {
			return
		}
		if p, err := rooms.ParsePass(rec.Pass); err == nil {
			out.Issued = append(out.Issued, passInfo(p, rec.Revoked))
		}
	})
	if err != nil {
		return out, err
	}
	err = n.store.each(ctx, prefPassesHeld, func(_ string, v []byte) {
		if p, err := rooms.ParsePass(v); err == nil {
			out.Held = append(out.Held, passInfo(p, false))
		}
	})
	for _, l := range [][]apiv1.SupporterPass{out.Issued, out.Held} {
		sort.Slice(l, func(i, j int) bool { return l[i].Expires.Before(l[j].Expires) })
	}
	return out, err
}

// RevokePass withdraws a pass this node issued: its holder is refused at
// the next join of a supporters' room this node hosts.
func (n *Node) RevokePass(ctx context.Context, req apiv1.RevokePassRequest) (apiv1.SupporterPass, error) {
	rs := roomStore{s: n.store}
	rec, ok := rs.issued(req.ID)
	if !ok {
		return apiv1.SupporterPass{}, fmt.Errorf("supporter pass %q: %w (clubnode pass list shows the IDs)", req.ID, ErrNotFound)
	}
	p, err := rooms.ParsePass(rec.Pass)
	if err != nil {
		return apiv1.SupporterPass{}, fmt.Errorf("supporter pass %q: %w", req.ID, err)
	}
	rec.Revoked = true
	if err := n.store.putJSON(ctx, prefPassesIssued.ChildString(p.ID()), rec); err != nil {
		return apiv1.SupporterPass{}, err
	}
	return passInfo(p, true), nil
}
