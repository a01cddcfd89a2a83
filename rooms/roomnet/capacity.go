package roomnet

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// CapacityProtocol tells a room's host how many children this relay
// carries now, when its uplink guard (uplink.go) changed it: the host
// sets the relay's capacity in its tree (rooms.Tree.SetCapacity) and
// places no new child under a relay that is full by it. No one moves: a
// new place request could move the relay, and its children with it.
const CapacityProtocol protocol.ID = "/clubnode/room-capacity/1.0.0"

const maxCapacityFrame = 256

type capacityReport struct {
	Room     string `cbor:"0,keyasint"`
	Capacity int    `cbor:"1,keyasint"`
}

type capacityAck struct{}

var capacityProto = rpc.Protocol[capacityReport, capacityAck]{ID: CapacityProtocol,
	MaxRequest: maxCapacityFrame, MaxReply: maxCapacityFrame, Timeout: placeTimeout, Codes: Codes, Limited: true}

// relayCapacity is how many children this node carries now: what it
// declared, less what its uplink showed it cannot carry.
func (m *media) relayCapacity() int { return m.uplink.capacity() }

// watchUplink reads the child links' loss every uplinkWindow and, when the
// capacity changes, tells the host of every room this node relays in.
func (m *media) watchUplink(ctx context.Context) {
	t := time.NewTicker(uplinkWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if m.api == nil || !m.uplink.observe(m.now(), m.api.LinkStats(nil)) {
			continue
		}
		capacity := m.relayCapacity()
		m.log.Info("relay capacity changed by the uplink's loss", "capacity", capacity, "declared", m.capacity)
		for _, ms := range m.liveSessions() {
			st, ok := m.states.State(ms.room)
			if !ok || st.Host == m.self() {
				continue
			}
			if _, err := capacityProto.Call(ctx, m.host, st.Host, capacityReport{Room: string(ms.room), Capacity: capacity}); err != nil {
				m.log.Debug("capacity report", "room", ms.room, "err", err)
			}
		}
	}
}

func (m *media) liveSessions() []*mediaSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*mediaSession, 0, len(m.sessions))
	for _, ms := range m.sessions {
		out = append(out, ms)
	}
	return out
}

// serveCapacity is the host's side of CapacityProtocol.
func (m *media) serveCapacity(_ context.Context, from peer.ID, req capacityReport) (capacityAck, error) {
	id, err := rooms.ParseRoomID(req.Room)
	if err != nil {
		return capacityAck{}, err
	}
	if req.Capacity < 0 || req.Capacity > rooms.MaxRelayCapacity {
		return capacityAck{}, fmt.Errorf("%w: capacity %d", rooms.ErrMalformed, req.Capacity)
	}
	st, ok := m.states.State(id)
	if !ok || st.Host != m.self() || !st.InRoom(from) {
		return capacityAck{}, fmt.Errorf("%w: %s is not hosted by this node for %s", rooms.ErrUnknownRoom, id, from)
	}
	ms, ok := m.session(id)
	if !ok {
		return capacityAck{}, fmt.Errorf("%w: no media for %s yet", rooms.ErrNotLive, id)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.tree == nil || ms.host != m.self() {
		return capacityAck{}, fmt.Errorf("%w: this node is taking the room over", rooms.ErrNotLive)
	}
	capacity := req.Capacity
	if ms.distrusted[from] {
		capacity = 0 // it changed audio it relayed (report.go)
	}
	ms.tree.SetCapacity(from, capacity)
	return capacityAck{}, nil
}
