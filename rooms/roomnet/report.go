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
// it cannot play: packets a speaker did not sign (altered, injected, two
// versions of one packet), or a second of a speaker's packets with none
// signed (replayed, signatures withheld). The host answers Move: the
// reporter leaves that parent, and asks to be placed elsewhere. It blames
// the parent (stops using it as a relay) only on more than one child's
// word: a report carries no proof a host could check, since every hop's
// SRTP key is shared by the two ends, so a child could make up any
// "evidence"; two children of the parent reporting it independently can.
const ReportProtocol protocol.ID = "/clubnode/room-report/1.0.0"

const maxReportFrame = 1 << 10

type tamperReport struct {
	Room    string `cbor:"0,keyasint"`
	Parent  []byte `cbor:"1,keyasint"` // the parent accused
	Speaker []byte `cbor:"2,keyasint"` // whose stream was changed
	Kind    uint8  `cbor:"3,keyasint"` // mediasig.Kind
}

type tamperVerdict struct {
	Blamed bool `cbor:"0,keyasint"` // the host stops using the parent as a relay
	Move   bool `cbor:"1,keyasint"` // the reporter should leave it anyway
}

// quorum is how many different children of a relay must report it within
// accusedFor before the host blames it: one child alone, lying or
// mistaken, can only move itself.
const quorum = 2

var reportProto = rpc.Protocol[tamperReport, tamperVerdict]{ID: ReportProtocol,
	MaxRequest: maxReportFrame, MaxReply: maxReportFrame, Timeout: placeTimeout, Codes: Codes, Limited: true}

// deliberation is how long the host waits after a report before it
// decides: a relay that changes audio is reported by each child, and the
// children of those children see the same bad audio a hop later and
// report their own (honest) parents; a moment's wait lets the host see all
// of them and blame only the highest node accused on the path.
const deliberation = 250 * time.Millisecond

// accusedFor is how long an accusation counts, towards a quorum and as a
// sign that the reporter itself was fed bad audio.
const accusedFor = 10 * time.Second

// blameGrace is how long a node that blamed its parent ignores further
// proof: packets of the old link still in flight would otherwise blame
// the new parent.
const blameGrace = 2 * time.Second

// tampered is the guard's call when a speaker's stream arrived changed,
// or kept arriving with nothing signed. Every packet in a node's forwarder
// came from its parent (a speaker's own voice goes up, not into it), so
// the parent is accused; the host, which has no parent, only drops the
// audio.
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

// report tells the host and, if it says to move (or blames the parent),
// leaves it, asking the host for a place away from it: the verifiers start
// again, so that the honest copies the next parent sends are not taken for
// conflicts with what the bad one sent.
func (ms *mediaSession) report(ctx context.Context, host, parent, speaker peer.ID, kind mediasig.Kind) {
	v, err := reportProto.Call(ctx, ms.m.host, host, tamperReport{Room: string(ms.room),
		Parent: []byte(parent), Speaker: []byte(speaker), Kind: uint8(kind)})
	if err != nil {
		ms.m.log.Warn("report a bad parent", "room", ms.room, "parent", parent, "err", err)
		v.Move = true // the host cannot be asked: move anyway
	}
	if !v.Blamed && !v.Move {
		return
	}
	ms.guard.reset()
	ms.mu.Lock()
	if ms.parent == parent && ms.linkCancel != nil {
		ms.avoidNext = parent
		ms.linkCancel()
	}
	ms.mu.Unlock()
}

// takeAvoid returns, once, the parent this node left after reporting it:
// upstream asks the host for a place away from it.
func (ms *mediaSession) takeAvoid() peer.ID {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	p := ms.avoidNext
	ms.avoidNext = ""
	return p
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
	if !ms.noteReport(from, accused) {
		return tamperVerdict{}, nil
	}
	t := time.NewTimer(deliberation)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return tamperVerdict{}, ctx.Err()
	case <-t.C:
	}
	return tamperVerdict{Blamed: ms.judge(accused, from), Move: true}, nil
}

// noteReport records that from accused its parent, and says whether the
// accusation stands: a node can accuse only the parent it hangs under, and
// nobody the host itself. Every report is remembered as a sign that its
// reporter was fed bad audio, valid or not: a relay below a speaker whose
// stream nobody can verify reports the host, and so is not blamed by its
// own children for what it passed on.
func (ms *mediaSession) noteReport(from, accused peer.ID) bool {
	now := ms.m.now()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.reported[from] = now
	if ms.tree == nil || accused == ms.self() {
		return false
	}
	if p, ok := ms.tree.Parent(from); !ok || p != accused {
		return ms.distrusted[accused] // blamed already: the reporter moves
	}
	if ms.accusers[accused] == nil {
		ms.accusers[accused] = map[peer.ID]time.Time{}
	}
	ms.accusers[accused][from] = now
	for p, at := range ms.reported {
		if now.Sub(at) > accusedFor {
			delete(ms.reported, p)
		}
	}
	for p, acc := range ms.accusers {
		for c, at := range acc {
			if now.Sub(at) > accusedFor {
				delete(acc, c)
			}
		}
		if len(acc) == 0 {
			delete(ms.accusers, p)
		}
	}
	return true
}

// judge decides whether accused changed or withheld the audio: yes when
// quorum of its children reported it within accusedFor, unless accused
// reported its own parent meanwhile (then it was fed the bad audio and
// passed it on, as relays do, and the blame is for a node above). A blamed
// relay stays a listener but carries nobody: its children are orphaned in
// the tree and placed elsewhere when they ask.
func (ms *mediaSession) judge(accused, reporter peer.ID) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.tree == nil {
		return false
	}
	if ms.distrusted[accused] {
		return true
	}
	now := ms.m.now()
	if at, ok := ms.reported[accused]; ok && now.Sub(at) < accusedFor {
		return false
	}
	n := 0
	for _, at := range ms.accusers[accused] {
		if now.Sub(at) < accusedFor {
			n++
		}
	}
	if n < quorum {
		ms.m.log.Info("relay reported by one child: the child moves, the relay stays", "room", ms.room,
			"relay", accused, "reporter", reporter)
		return false
	}
	ms.distrusted[accused] = true
	ms.tree.Demote(accused)
	ms.m.log.Warn("relay blamed for changing audio", "room", ms.room, "relay", accused, "reporters", n)
	return true
}
