package roomnet

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/audio/mediasig"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// ReportProtocol tells a room's host that this node's parent sent audio
// that a speaker did not sign (altered, injected, or two versions of one
// packet): proof, since every hop is SRTP and honest relays forward
// payloads unchanged. The host answers whether it blames that parent; if
// it does, it stops using it as a relay and the reporter moves.
const ReportProtocol protocol.ID = "/clubnode/room-report/1.0.0"

const maxReportFrame = 1 << 10

type tamperReport struct {
	Room    string `cbor:"0,keyasint"`
	Parent  []byte `cbor:"1,keyasint"` // the parent accused
	Speaker []byte `cbor:"2,keyasint"` // whose stream was changed
	Kind    uint8  `cbor:"3,keyasint"` // mediasig.Kind
}

type tamperVerdict struct {
	Blamed bool `cbor:"0,keyasint"`
}

var reportProto = rpc.Protocol[tamperReport, tamperVerdict]{ID: ReportProtocol,
	MaxRequest: maxReportFrame, MaxReply: maxReportFrame, Timeout: placeTimeout, Codes: Codes, Limited: true}

// deliberation is how long the host waits after a report before it
// decides: a relay that changes audio is reported by each child, and the
// children of those children see the same bad audio a hop later and
// report their own (honest) parents; a moment's wait lets the host see all
// of them and blame only the highest node accused on the path.
const deliberation = 250 * time.Millisecond

// accusedFor is how long an accusation counts when the host looks for a
// higher culprit.
const accusedFor = 5 * time.Second

// blameGrace is how long a node that blamed its parent ignores further
// proof: packets of the old link still in flight would otherwise blame
// the new parent.
const blameGrace = 2 * time.Second

// tampered is the guard's call when a speaker's stream arrived changed.
// Every packet in a node's forwarder came from its parent (a speaker's own
// voice goes up, not into it), so the parent is accused; the host, which
// has no parent, only drops the audio.
func (ms *mediaSession) tampered(speaker peer.ID, f mediasig.Failure) {
	now := ms.m.now()
	ms.mu.Lock()
	parent := ms.parent
	if parent == "" || ms.host == ms.self() || now.Sub(ms.blamedAt) < blameGrace {
		ms.mu.Unlock()
		return
	}
	ms.blamedAt = now
	host := ms.host
	ms.mu.Unlock()
	ms.m.log.Warn("parent sent audio its speaker did not sign", "room", ms.room, "parent", parent,
		"speaker", speaker, "failure", f.Kind, "err", f.Err)
	ms.work.Go(func(ctx context.Context) { ms.report(ctx, host, parent, speaker, f.Kind) })
}

// report tells the host and, if it blames the parent, leaves it: the
// verifiers start again, so that the honest copies the next parent sends
// are not taken for conflicts with what the bad one sent.
func (ms *mediaSession) report(ctx context.Context, host, parent, speaker peer.ID, kind mediasig.Kind) {
	v, err := reportProto.Call(ctx, ms.m.host, host, tamperReport{Room: string(ms.room),
		Parent: []byte(parent), Speaker: []byte(speaker), Kind: uint8(kind)})
	if err != nil {
		ms.m.log.Warn("report a bad parent", "room", ms.room, "parent", parent, "err", err)
		v.Blamed = true // the host cannot be asked: move anyway
	}
	if !v.Blamed {
		return
	}
	ms.guard.reset()
	ms.mu.Lock()
	if ms.parent == parent && ms.linkCancel != nil {
		ms.linkCancel()
	}
	ms.mu.Unlock()
}

// serveReport is the host's side of ReportProtocol.
func (m *media) serveReport(ctx context.Context, from peer.ID, r tamperReport) (tamperVerdict, error) {
	id, err := rooms.ParseRoomID(r.Room)
	if err != nil {
		return tamperVerdict{}, err
	}
	accused, err := peer.IDFromBytes(r.Parent)
	if err != nil {
		return tamperVerdict{}, fmt.Errorf("%w: parent: %v", rooms.ErrMalformed, err)
	}
	st, ok := m.states.State(id)
	if !ok || st.Host != m.self() {
		return tamperVerdict{}, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
	}
	ms, ok := m.session(id)
	if !ok || !st.InRoom(from) {
		return tamperVerdict{}, fmt.Errorf("%w", rooms.ErrNotInRoom)
	}
	ms.mu.Lock()
	if ms.distrusted[accused] {
		ms.mu.Unlock()
		return tamperVerdict{Blamed: true}, nil // blamed already: the reporter moves
	}
	// A node can accuse only the parent it hangs under, and nobody the
	// host itself.
	valid := ms.tree != nil && accused != m.self()
	if valid {
		p, ok := ms.tree.Parent(from)
		valid = ok && p == accused
	}
	if valid {
		ms.accused[accused] = m.now()
	}
	ms.mu.Unlock()
	if !valid {
		return tamperVerdict{}, nil
	}
	t := time.NewTimer(deliberation)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return tamperVerdict{}, ctx.Err()
	case <-t.C:
	}
	return tamperVerdict{Blamed: ms.judge(accused, from)}, nil
}

// judge decides whether accused changed the audio: yes unless a node above
// it was accused too (then that one did, and accused only passed it on).
// A blamed relay stays a listener but carries nobody: its children are
// orphaned in the tree and placed elsewhere when they ask.
func (ms *mediaSession) judge(accused, reporter peer.ID) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.tree == nil {
		return false
	}
	now := ms.m.now()
	for p, ok := ms.tree.Parent(accused); ok && p != ms.tree.Root(); p, ok = ms.tree.Parent(p) {
		if ms.distrusted[p] || now.Sub(ms.accused[p]) < accusedFor {
			return false
		}
	}
	if !ms.distrusted[accused] {
		ms.distrusted[accused] = true
		ms.tree.Demote(accused)
		ms.m.log.Warn("relay blamed for changing audio", "room", ms.room, "relay", accused, "reporter", reporter)
	}
	return true
}
