package roomnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// "A blocked member cannot join rooms that I moderate": the host decides
// joins, so a moderator's node gives the host its block list, over a stream
// authenticated by both libp2p identities, and the host counts a block by
// any current moderator at admission (rooms.Admission.BlockedBy).
//
// The list goes to the host only, never to gossip: whom someone blocks is
// their business and the host's, who enforces it. The moderator's node
// sends it when it first sees itself moderator under a host (so after a
// takeover the new host learns it too) and again whenever its owner blocks
// or unblocks someone (BlocksChanged). The host keeps the lists in memory
// with the room: a restarted host ends its rooms anyway.

// BlocksProtocol carries one moderator's block list for one room to the
// room's host.
const BlocksProtocol protocol.ID = "/clubnode/room-blocks/1.0.0"

// MaxBlockList bounds the block list a moderator sends: its first
// MaxBlockList blocks count in the rooms it moderates.
const MaxBlockList = 1024

const (
	maxBlocksFrame = MaxBlockList*(maxPeerIDBytes+3) + 256
	maxNoticeReply = 1 << 10
	maxPeerIDBytes = 64
	noticeTimeout  = 5 * time.Second
)

// noticeProtocol is a protocol that tells another member's node one thing
// (a block list, a ticket, a pass, a room's state) and gets nothing back
// but whether it was taken.
func noticeProtocol[M any](id protocol.ID, maxRequest int) rpc.Protocol[M, struct{}] {
	return rpc.Protocol[M, struct{}]{ID: id, MaxRequest: maxRequest, MaxReply: maxNoticeReply,
		Timeout: noticeTimeout, Codes: Codes, Limited: true}
}

type blocksMsg struct {
	Room    string   `cbor:"0,keyasint"`
	Blocked [][]byte `cbor:"1,keyasint,omitempty"`
	// Number orders one moderator's lists: a send begun before the owner
	// blocked someone (the tick's, when the node first saw itself
	// moderator) may reach the host after the newer list, and must not
	// replace it. 0 (a node before numbering) is always kept.
	Number uint64 `cbor:"2,keyasint,omitempty"`
}

// blockListClock numbers this node's block lists in the order they were
// read from the store: a list numbered higher is never older. It starts
// from the clock so that a restarted node's lists still count as newer.
type blockListClock struct {
	mu   sync.Mutex
	last uint64
}

// read returns the block list now and its number.
func (c *blockListClock) read(list func() []peer.ID) ([]peer.ID, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last+1, uint64(time.Now().UnixNano()))
	return list(), c.last
}

var blocksProto = noticeProtocol[blocksMsg](BlocksProtocol, maxBlocksFrame)

// BlocksChanged gives this node's block list again to the host of every
// room it moderates, after its owner blocked or unblocked someone. It
// returns when every host has it, or with the errors of those that could
// not be reached (the next change or host change sends it again).
func (s *Service) BlocksChanged(ctx context.Context) error {
	var errs []error
	for _, id := range s.roomIDs() {
		st, ok := s.State(id)
		if !ok || st.Host == s.self() || !st.IsModerator(s.self()) {
			continue
		}
		if err := s.sendBlocks(ctx, st.Room, st.Host); err != nil {
			errs = append(errs, fmt.Errorf("room %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// shareBlocks sends this node's block list to the host of room id, a room
// it moderates, unless that host has it already or a send is under way. It
// does not block the tick: the send runs in its own goroutine.
func (s *Service) shareBlocks(id rooms.RoomID) {
	s.mu.Lock()
	r, ok := s.rooms[id]
	if !ok || r.blocksSending || r.blocksSentTo == r.state.Host {
		s.mu.Unlock()
		return
	}
	r.blocksSending = true
	host := r.state.Host
	s.mu.Unlock()
	s.goFn(func(ctx context.Context) {
		if err := s.sendBlocks(ctx, id, host); err != nil {
			s.log.Debug("block list not given to the host", "room", id, "host", host, "err", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if r, ok := s.rooms[id]; ok {
			r.blocksSending = false
		}
	})
}

func (s *Service) sendBlocks(ctx context.Context, id rooms.RoomID, host peer.ID) error {
	blocked, number := s.blockLists.read(s.cfg.Store.BlockList)
	msg := blocksMsg{Room: string(id), Number: number}
	for _, p := range blocked[:min(len(blocked), MaxBlockList)] {
		msg.Blocked = append(msg.Blocked, []byte(p))
	}
	if _, err := blocksProto.Call(ctx, s.host(), host, msg); err != nil {
		return fmt.Errorf("give the block list to the host %s: %w", host, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rooms[id]; ok && r.state.Host == host {
		r.blocksSentTo = host
	}
	return nil
}

// receiveBlocks is the host's side: keep a moderator's block list.
func (s *Service) receiveBlocks(_ context.Context, from peer.ID, msg blocksMsg) (struct{}, error) {
	return struct{}{}, s.keepBlocks(from, msg)
}

// parse checks a block list's form and returns its room and blocked peers.
func (msg *blocksMsg) parse() (rooms.RoomID, map[peer.ID]bool, error) {
	id, err := rooms.ParseRoomID(msg.Room)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", rooms.ErrMalformed, err)
	}
	if len(msg.Blocked) > MaxBlockList {
		return "", nil, fmt.Errorf("%w: %d blocks, limit %d", rooms.ErrTooLarge, len(msg.Blocked), MaxBlockList)
	}
	set := make(map[peer.ID]bool, len(msg.Blocked))
	for i, b := range msg.Blocked {
		if len(b) > maxPeerIDBytes {
			return "", nil, fmt.Errorf("%w: block %d: %d-byte peer ID", rooms.ErrMalformed, i, len(b))
		}
		p, err := peer.IDFromBytes(b)
		if err != nil {
			return "", nil, fmt.Errorf("%w: block %d: %v", rooms.ErrMalformed, i, err)
		}
		set[p] = true
	}
	return id, set, nil
}

func (s *Service) keepBlocks(from peer.ID, msg blocksMsg) error {
	id, set, err := msg.parse()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	switch {
	case !ok || r.state.Host != s.self():
		return fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
	case !r.state.IsModerator(from):
		return fmt.Errorf("%w: %s is not a moderator of %s", rooms.ErrNotAllowed, from, id)
	}
	if msg.Number != 0 && msg.Number < r.modBlocksAt[from] {
		return nil // an older list, overtaken by one kept already
	}
	if r.modBlocks == nil {
		r.modBlocks, r.modBlocksAt = map[peer.ID]map[peer.ID]bool{}, map[peer.ID]uint64{}
	}
	r.modBlocks[from], r.modBlocksAt[from] = set, msg.Number
	return nil
}

// blockedBy lists the moderators of a room this node hosts whose block
// lists name p. rooms.Apply counts only those still moderators.
func (s *Service) blockedBy(id rooms.RoomID, p peer.ID) []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	if !ok {
		return nil
	}
	var out []peer.ID
	for m, set := range r.modBlocks {
		if set[p] {
			out = append(out, m)
		}
	}
	return out
}
