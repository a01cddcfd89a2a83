package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/internal/wire"
)

// A members sync runs once each way after hello: the peer sends every
// revocation and every member it knows, so a newcomer or a node back from
// being offline catches up on what gossip carried while it was away.
//
// Gossip can still miss a member later: a revocation published between
// the hello sync and the moment the two nodes' gossipsub has exchanged
// subscriptions reaches neither by gossip nor by that sync. So a node
// also pulls a sync from a member when it sees it subscribe to the
// membership topic, and every SyncInterval from the connected member it
// synced from least recently (slow anti-entropy: every connection is
// covered within its count of intervals).
//
// Most of those syncs, once a network has formed, are between nodes that
// hold the same: the request carries the asker's membership digest, and
// an answerer with the same digest sends nothing.

const syncTimeout = 30 * time.Second

// syncRequest asks for a members sync. Digest is the asker's
// membershipDigest (version 1.1.0; 1.0.0's request is empty).
type syncRequest struct {
	Digest []byte `cbor:"0,keyasint,omitempty"`
}

// syncProto opens a members sync; the entries follow the empty reply on
// the same stream, one frame each, until the stream closes.
var syncProto = rpc.Protocol[syncRequest, struct{}]{ID: SyncProtocol, Older: []protocol.ID{syncWholeProtocol},
	Adapt: func(version protocol.ID, req syncRequest) syncRequest {
		if version == syncWholeProtocol {
			return syncRequest{}
		}
		return req
	},
	MaxRequest: 64, MaxReply: 64, Timeout: syncTimeout, Codes: Codes, Limited: true}

// answerSync sends a verified member everything this node knows, or
// nothing if the member's digest says it holds the same.
func (n *Node) answerSync(_ context.Context, p peer.ID, req syncRequest) (struct{}, func(context.Context, network.Stream), error) {
	st, err := n.state()
	if err != nil {
		return struct{}{}, nil, err
	}
	if !n.isVerified(p) {
		return struct{}{}, nil, fmt.Errorf("%w: say hello first", ErrNotMember)
	}
	if len(req.Digest) > 0 && bytes.Equal(req.Digest, n.membershipDigest()) {
		return struct{}{}, nil, nil
	}
	return struct{}{}, func(_ context.Context, s network.Stream) { n.sendMembers(st, s) }, nil
}

// membershipDigest is the digest of what the node holds now, nil before
// it is a member.
func (n *Node) membershipDigest() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return nil
	}
	return n.net.membershipDigest()
}

func (n *Node) sendMembers(st *netState, s network.Stream) {
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	for _, r := range st.revs.All() {
		if err := wire.WriteFrame(s, memberEntry{V: 1, Chain: st.ownWire, Revocation: r.Bytes}); err != nil {
			_ = s.Reset()
			return
		}
	}
	for _, m := range n.validMembers() {
		e := memberEntry{V: 1, Chain: m.chain, Profile: m.profile()}
		if err := wire.WriteFrame(s, e); err != nil {
			_ = s.Reset()
			return
		}
	}
}

// syncFrom fetches p's view of the membership and applies what verifies.
func (n *Node) syncFrom(ctx context.Context, p peer.ID) error {
	return n.syncWith(ctx, p, syncProto)
}

// syncWith is syncFrom in the version of proto.
func (n *Node) syncWith(ctx context.Context, p peer.ID, proto rpc.Protocol[syncRequest, struct{}]) error {
	st, err := n.state()
	if err != nil {
		return err
	}
	n.mu.Lock()
	st.synced[p] = time.Now()
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	_, s, err := proto.Open(ctx, n.gated, p, syncRequest{Digest: n.membershipDigest()})
	if err != nil {
		return fmt.Errorf("members sync from %s: %w", p, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	_ = s.CloseWrite()
	r := wire.NewReader(s, MaxGossipMessage)
	var held heldSet // made once the first entry comes: between equals none does
	for i := 0; i < maxSyncFrames; i++ {
		var e memberEntry
		err := r.ReadFrame(&e)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			_ = s.Reset()
			return fmt.Errorf("members sync from %s: %w", p, err)
		}
		if i == 0 {
			held = n.heldEntries()
		}
		if held.holds(e) {
			continue // verified when it came
		}
		checked, err := n.checkEntry(st, e)
		if err != nil {
			continue // stale or invalid entries are skipped, not fatal
		}
		n.applyEntry(checked)
	}
	_ = s.Reset()
	return fmt.Errorf("members sync from %s: more than %d entries", p, maxSyncFrames)
}

// heldEntries maps the chain of every member this node holds, as its
// exact bytes, to the bytes of the member's profile (nil if none). Every
// sync sends the whole membership and checking an entry costs its
// signatures: while a network forms, each new connection had a node check
// again every member it already held (a tenth of its first minute's CPU).
func (n *Node) heldEntries() heldSet {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil {
		return nil
	}
	out := make(heldSet, len(n.net.members))
	for _, m := range n.net.members {
		out[string(m.chain)] = m.profile()
	}
	return out
}

// heldSet is heldEntries' answer: chain bytes → profile bytes.
type heldSet map[string][]byte

// holds reports whether e tells nothing this node does not hold: no
// revocation, a chain held byte for byte, and no profile or the one held.
func (h heldSet) holds(e memberEntry) bool {
	prof, ok := h[string(e.Chain)]
	return ok && len(e.Revocation) == 0 && (len(e.Profile) == 0 || bytes.Equal(prof, e.Profile))
}

// syncOnSubscribe pulls a members sync from each member that subscribes to
// the membership topic after this node did: whatever was gossiped before
// this node could hear it from that member comes with it. The network's
// stops cancel events once ctx has ended.
func (n *Node) syncOnSubscribe(ctx context.Context, events *pubsub.TopicEventHandler) {
	for {
		ev, err := events.NextPeerEvent(ctx)
		if err != nil {
			return // the context ended or the topic closed
		}
		if ev.Type != pubsub.PeerJoin || !n.isVerified(ev.Peer) {
			continue
		}
		p := ev.Peer
		n.goFn(func(ctx context.Context) {
			if err := n.syncFrom(ctx, p); err != nil && ctx.Err() == nil {
				n.log.Debug("members sync on subscribe failed", "peer", p, "err", err)
			}
		})
	}
}

// syncLoop pulls a members sync every SyncInterval from the connected
// member it synced from least recently.
func (n *Node) syncLoop(ctx context.Context, st *netState) {
	for group.Sleep(ctx, n.cfg.SyncInterval) {
		p, ok := n.stalestSynced(st)
		if !ok {
			continue
		}
		if err := n.syncFrom(ctx, p); err != nil && ctx.Err() == nil {
			n.log.Debug("periodic members sync failed", "peer", p, "err", err)
		}
	}
}

// stalestSynced is the verified peer whose last members sync started
// longest ago (never counts as oldest). It forgets peers no longer
// connected.
func (n *Node) stalestSynced(st *netState) (peer.ID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p := range st.synced {
		if _, ok := n.verified[p]; !ok {
			delete(st.synced, p)
		}
	}
	var best peer.ID
	var bestAt time.Time
	found := false
	for p := range n.verified {
		at := st.synced[p]
		if !found || at.Before(bestAt) || (at.Equal(bestAt) && p < best) {
			best, bestAt, found = p, at, true
		}
	}
	return best, found
}
