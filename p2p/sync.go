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

const syncTimeout = 30 * time.Second

// syncProto opens a members sync; the entries follow the empty reply on
// the same stream, one frame each, until the stream closes.
var syncProto = rpc.Protocol[struct{}, struct{}]{ID: SyncProtocol, MaxRequest: 64, MaxReply: 64,
	Timeout: syncTimeout, Codes: Codes, Limited: true}

// answerSync sends a verified member everything this node knows.
func (n *Node) answerSync(_ context.Context, p peer.ID, _ struct{}) (struct{}, func(context.Context, network.Stream), error) {
	st, err := n.state()
	if err != nil {
		return struct{}{}, nil, err
	}
	if !n.isVerified(p) {
		return struct{}{}, nil, fmt.Errorf("%w: say hello first", ErrNotMember)
	}
	return struct{}{}, func(_ context.Context, s network.Stream) { n.sendMembers(st, s) }, nil
}

func (n *Node) sendMembers(st *netState, s network.Stream) {
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	own := st.chain.Marshal()
	for _, r := range st.revs.All() {
		if err := wire.WriteFrame(s, memberEntry{V: 1, Chain: own, Revocation: r.Bytes}); err != nil {
			_ = s.Reset()
			return
		}
	}
	for _, m := range n.Members() {
		e := memberEntry{V: 1, Chain: m.Chain.Marshal()}
		if m.Profile != nil {
			e.Profile = m.Profile.Bytes
		}
		if err := wire.WriteFrame(s, e); err != nil {
			_ = s.Reset()
			return
		}
	}
}

// syncFrom fetches p's view of the membership and applies what verifies.
func (n *Node) syncFrom(ctx context.Context, p peer.ID) error {
	st, err := n.state()
	if err != nil {
		return err
	}
	n.mu.Lock()
	st.synced[p] = time.Now()
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	_, s, err := syncProto.Open(ctx, n.gated, p, struct{}{})
	if err != nil {
		return fmt.Errorf("members sync from %s: %w", p, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	_ = s.CloseWrite()
	r := wire.NewReader(s, MaxGossipMessage)
	held := n.heldEntries()
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
		var prof []byte
		if m.Profile != nil {
			prof = m.Profile.Bytes
		}
		out[string(m.Chain.Marshal())] = prof
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
