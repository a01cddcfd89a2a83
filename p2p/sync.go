package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/wire"
)

// A members sync runs once each way after hello: the peer sends every
// revocation and every member it knows, so a newcomer or a node back from
// being offline catches up on what gossip carried while it was away.

const syncTimeout = 30 * time.Second

func (n *Node) handleSync(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	st, err := n.state()
	if err != nil || !n.isVerified(p) {
		s.Reset()
		return
	}
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	own := st.chain.Marshal()
	for _, r := range st.revs.All() {
		if err := wire.WriteFrame(s, memberEntry{V: 1, Chain: own, Revocation: r.Bytes}); err != nil {
			s.Reset()
			return
		}
	}
	for _, m := range n.Members() {
		e := memberEntry{V: 1, Chain: m.Chain.Marshal()}
		if m.Profile != nil {
			e.Profile = m.Profile.Bytes
		}
		if err := wire.WriteFrame(s, e); err != nil {
			s.Reset()
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
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, SyncProtocol)
	if err != nil {
		return fmt.Errorf("open members sync: %w", err)
	}
	defer s.Close()
	_ = s.CloseWrite()
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	r := wire.NewReader(s, MaxGossipMessage)
	for i := 0; i < maxSyncFrames; i++ {
		var e memberEntry
		err := r.ReadFrame(&e)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			s.Reset()
			return fmt.Errorf("members sync from %s: %w", p, err)
		}
		checked, err := n.checkEntry(st, e)
		if err != nil {
			continue // stale or invalid entries are skipped, not fatal
		}
		n.applyEntry(checked)
	}
	s.Reset()
	return fmt.Errorf("members sync from %s: more than %d entries", p, maxSyncFrames)
}
