package roomnet

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// PlaceProtocol asks a room's host for a parent in the relay tree and gets
// a signed assignment back.
const PlaceProtocol protocol.ID = "/clubnode/room-place/1.0.0"

const (
	maxPlaceFrame = 8 << 10
	maxReportKids = rooms.MaxRelayCapacity
	// placeBackups is how many backup parents the host hands a listener.
	placeBackups = 2
)

type placeRequest struct {
	Room     string   `cbor:"0,keyasint"`
	Capacity int      `cbor:"1,keyasint"`
	Avoid    []byte   `cbor:"2,keyasint,omitempty"`
	Children [][]byte `cbor:"3,keyasint,omitempty"`
	// Under is the backup parent the node failed over to (see
	// rooms.PlaceRequest.Under).
	Under []byte `cbor:"4,keyasint,omitempty"`
	// Reach and AlwaysOn are what the node says of itself
	// (rooms.Traits): the host keeps reachable and always-on nodes near
	// the root, and nodes reachable only through a relay as leaves.
	Reach    uint8 `cbor:"5,keyasint,omitempty"`
	AlwaysOn bool  `cbor:"6,keyasint,omitempty"`
	// RTTs are the node's measured round trips to members it is
	// connected to (placertt.go): the host prefers the nearest of
	// otherwise equal parents.
	RTTs []placeRTT `cbor:"7,keyasint,omitempty"`
}

type placeReply struct {
	Assignment []byte `cbor:"0,keyasint"`
}

var placeProto = rpc.Protocol[placeRequest, placeReply]{ID: PlaceProtocol,
	MaxRequest: maxPlaceFrame, MaxReply: maxPlaceFrame, Timeout: placeTimeout, Codes: Codes, Limited: true}

// askParent asks the host where this node should hang; under, if set, is
// the backup parent it already failed over to.
func (ms *mediaSession) askParent(ctx context.Context, st *rooms.SignedState, avoid, under peer.ID) (*rooms.SignedAssignment, error) {
	own := ms.m.ownTraits()
	req := placeRequest{Room: string(ms.room), Capacity: ms.m.relayCapacity(), Children: ms.childIDs(),
		Reach: uint8(own.Reach), AlwaysOn: own.AlwaysOn, RTTs: measuredRTTs(ctx, ms.m.host, st, avoid == "" && under == "")}
	if avoid != "" {
		req.Avoid = []byte(avoid)
	}
	if under != "" {
		req.Under = []byte(under)
	}
	reply, err := placeProto.Call(ctx, ms.m.host, st.Host, req)
	if err != nil {
		return nil, fmt.Errorf("ask the host %s for a parent: %w", st.Host, err)
	}
	a, err := rooms.ParseAssignment(reply.Assignment)
	if err != nil {
		return nil, err
	}
	if err := a.Check(ms.room, st.Host, ms.self(), a.Parent, ms.m.now()); err != nil {
		return nil, err
	}
	return a, nil
}

// place is the host's side of PlaceProtocol.
func (m *media) place(_ context.Context, from peer.ID, req placeRequest) (placeReply, error) {
	a, err := m.placeChild(from, req)
	if err != nil {
		return placeReply{}, err
	}
	return placeReply{Assignment: a.Bytes}, nil
}

func (m *media) placeChild(from peer.ID, req placeRequest) (*rooms.SignedAssignment, error) {
	id, err := rooms.ParseRoomID(req.Room)
	if err != nil {
		return nil, err
	}
	if len(req.Children) > maxReportKids {
		return nil, fmt.Errorf("%w: %d children reported", rooms.ErrTooLarge, len(req.Children))
	}
	st, ok := m.states.State(id)
	if !ok || st.Host != m.self() {
		return nil, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
	}
	if st.Status != rooms.StatusLive {
		return nil, fmt.Errorf("%w: %s", rooms.ErrNotLive, id)
	}
	if !st.InRoom(from) {
		return nil, fmt.Errorf("%w: join the room before asking for its audio", rooms.ErrNotInRoom)
	}
	ms, ok := m.session(id)
	if !ok {
		return nil, fmt.Errorf("%w: no media for %s yet", rooms.ErrNotLive, id)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.tree == nil || ms.host != m.self() {
		return nil, fmt.Errorf("%w: this node is taking the room over; ask again", rooms.ErrNotLive)
	}
	if rooms.Reach(req.Reach) > rooms.ReachRelayOnly {
		return nil, fmt.Errorf("%w: reach %d", rooms.ErrMalformed, req.Reach)
	}
	rtts, err := parseRTTs(req.RTTs)
	if err != nil {
		return nil, err
	}
	pr := rooms.PlaceRequest{Child: from, Capacity: req.Capacity, OnStage: st.OnStage(from),
		Traits: rooms.Traits{Reach: rooms.Reach(req.Reach), AlwaysOn: req.AlwaysOn}, RTTs: rtts}
	if ms.distrusted[from] {
		pr.Capacity = 0 // it changed audio it relayed (report.go)
	}
	if len(req.Avoid) > 0 {
		lost, err := peer.IDFromBytes(req.Avoid)
		if err != nil {
			return nil, fmt.Errorf("%w: avoid: %v", rooms.ErrMalformed, err)
		}
		pr.Avoid, pr.AvoidGone = lost, m.host.Network().Connectedness(lost) != network.Connected
	}
	if len(req.Under) > 0 {
		under, err := peer.IDFromBytes(req.Under)
		if err != nil {
			return nil, fmt.Errorf("%w: under: %v", rooms.ErrMalformed, err)
		}
		pr.Under = under
	}
	for _, b := range req.Children {
		if c, err := peer.IDFromBytes(b); err == nil && st.InRoom(c) {
			pr.Children = append(pr.Children, c)
		}
	}
	// TURN: the network's always-on nodes relay links no hole punch gets
	// through (node/turn.go).
	pl, err := rooms.Placer{Tree: ms.tree, Backups: placeBackups, TURN: true}.Place(pr) // the decision, in package rooms
	if err != nil {
		return nil, err
	}
	if pr.Avoid != "" && !pr.AvoidGone && pr.Avoid != m.self() {
		ms.goCheckLost(pr.Avoid) // mu is held: check it once placing is done
	}
	return rooms.AssignWithBackups(m.key, id, from, pl.Parent, pl.Backups, m.now())
}
