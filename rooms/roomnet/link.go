package roomnet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// LinkProtocol opens the link from a child to the parent its assignment
// names: the assignment first, then the WebRTC signalling of package rtc on
// the same stream, so the DTLS fingerprints in the SDP travel over a
// channel authenticated by both peers' libp2p keys. Version 1.1.0 trickles
// ICE candidates on the stream (rtc's Trickle options); version 1.2.0 adds
// standby links to a backup (linkHello.Standby, standby.go), opened over
// 1.2.0 or later only; version 1.3.0 adds the TURN servers the child asks
// (linkHello.TURN), left out of hellos to older parents, whose strict
// decoding would refuse the field. A node still answers and falls back to
// 1.1.0 and 1.0.0, whose descriptions wait for gathering.
const (
	LinkProtocol        protocol.ID = "/clubnode/room-media/1.3.0"
	LinkProtocolStandby protocol.ID = "/clubnode/room-media/1.2.0"
	LinkProtocolTrickle protocol.ID = "/clubnode/room-media/1.1.0"
	LinkProtocolGather  protocol.ID = "/clubnode/room-media/1.0.0"
)

const (
	maxLinkFrame = rooms.MaxAssignmentSize + 512
	placeTimeout = 5 * time.Second
)

type linkHello struct {
	Assignment []byte `cbor:"0,keyasint"`
	// Standby asks a backup parent for a standby link (rtc's
	// ChildOptions.Standby); only sent over LinkProtocol 1.2.0.
	Standby bool `cbor:"1,keyasint,omitempty"`
	// TURN names the always-on nodes (peer IDs, maxHelloTURN at most)
	// the child asks for the link's TURN credentials, so that the parent
	// asks the same ones: their servers let the relay reach an end only
	// once both ends asked them (node/turn.go). A hello without it (an
	// older child's, or one that knows no always-on node) leaves the
	// parent asking the ones it is connected to. Four peer IDs fit in
	// maxLinkFrame's room beside the largest assignment, so an older
	// parent reads the hello as before and ignores the field.
	TURN [][]byte `cbor:"2,keyasint,omitempty"`
}

// maxHelloTURN bounds linkHello.TURN: the always-on nodes one link asks
// (node's maxTURNAsked).
const maxHelloTURN = 4

// helloTURN are the always-on nodes a hello names, as peer ID strings
// (rtc's TURNServers), or an error when there are too many or one is
// not a peer ID.
func helloTURN(hello linkHello) ([]string, error) {
	if len(hello.TURN) > maxHelloTURN {
		return nil, fmt.Errorf("%w: %d TURN servers named, at most %d", rooms.ErrNotAllowed, len(hello.TURN), maxHelloTURN)
	}
	var out []string
	for _, b := range hello.TURN {
		id, err := peer.IDFromBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%w: a TURN server named is not a peer ID: %v", rooms.ErrNotAllowed, err)
		}
		out = append(out, id.String())
	}
	return out, nil
}

// withTURN names in hello the always-on nodes this node asks for a
// link's TURN credentials now (Config.TURNServers), and returns them as
// rtc's TURNServers: the child asks exactly those it named.
func (m *media) withTURN(hello linkHello) (linkHello, []string) {
	if m.turnServers == nil {
		return hello, nil
	}
	var names []string
	for _, s := range m.turnServers() {
		if len(hello.TURN) == maxHelloTURN {
			break
		}
		hello.TURN = append(hello.TURN, []byte(s))
		names = append(names, s.String())
	}
	return hello, names
}

var linkProto = rpc.Protocol[linkHello, struct{}]{ID: LinkProtocol,
	Older: []protocol.ID{LinkProtocolStandby, LinkProtocolTrickle, LinkProtocolGather}, Adapt: helloFor,
	MaxRequest: maxLinkFrame, MaxReply: maxLinkFrame, Timeout: placeTimeout, Codes: Codes, Limited: true}

// standbyProto opens standby links: 1.2.0 or later only, so that a
// backup of an older version, which would forward at once, is not asked.
var standbyProto = func() rpc.Protocol[linkHello, struct{}] {
	p := linkProto
	p.Older = []protocol.ID{LinkProtocolStandby}
	return p
}()

// helloFor is hello as a parent that agreed on version reads it: a
// parent before 1.3.0 knows no TURN field (and asks its own always-on
// nodes, as it always did).
func helloFor(version protocol.ID, hello linkHello) linkHello {
	if version != LinkProtocol {
		hello.TURN = nil
	}
	return hello
}

// linkParent opens the link to parent, the one a names or one of its
// backups, and runs it until it fails or ctx ends.
func (ms *mediaSession) linkParent(ctx context.Context, a *rooms.SignedAssignment, parent peer.ID, opts rtc.ParentOptions) error {
	if parent != a.Parent {
		ms.m.failovers.Add(1)
	}
	opts.SubtreeChanged = ms.resized // a standby link reports no subtree of its own
	return ms.dialParent(ctx, linkProto, linkHello{Assignment: a.Bytes}, mediaTag(ms.room), parent, opts)
}

// dialParent opens a link of proto to parent with hello and runs it
// with opts (their room-wide fields filled in) until it fails or ctx
// ends. tag protects the connection meanwhile.
func (ms *mediaSession) dialParent(ctx context.Context, proto rpc.Protocol[linkHello, struct{}], hello linkHello, tag string, parent peer.ID, opts rtc.ParentOptions) error {
	hello, opts.TURNServers = ms.m.withTURN(hello)
	_, str, err := proto.Open(ctx, ms.m.host, parent, hello)
	if err != nil {
		return fmt.Errorf("link to %s: %w", parent, err)
	}
	defer str.Close()
	// A stream blocked in a read does not see ctx; resetting it does.
	stop := context.AfterFunc(ctx, func() { _ = str.Reset() })
	defer stop()
	// The audio's connection must not be trimmed as idle by the
	// connection manager: a media link carries nothing it can see.
	ms.m.host.ConnManager().Protect(parent, tag)
	defer ms.m.host.ConnManager().Unprotect(parent, tag)
	opts.Timeout, opts.Uplink, opts.Subtree = ms.m.timeout, ms.uplink, ms.subtree
	opts.Label, opts.Proof = rtc.LinkLabel{Room: string(ms.room), Peer: parent.String()}, hello.Assignment
	opts.Stall, opts.ProbeTimeout, opts.Trickle = ms.m.stall, probeTimeout, str.Protocol() != LinkProtocolGather
	return rtc.DialParent(ctx, ms.m.api, str, ms.fwd, opts)
}

// acceptChild is a parent's side of LinkProtocol: check the assignment,
// then serve the child until the link ends.
func (m *media) acceptChild(_ context.Context, child peer.ID, hello linkHello) (struct{}, func(context.Context, network.Stream), error) {
	ms, err := m.admitChild(child, hello)
	var turn []string
	if err == nil {
		turn, err = helloTURN(hello)
	}
	if err != nil {
		m.log.Debug("refused child", "peer", child, "err", err)
		return struct{}{}, nil, err
	}
	return struct{}{}, func(ctx context.Context, str network.Stream) { ms.serveChild(ctx, child, hello, turn, str) }, nil
}

// serveChild serves child's link, asking the always-on nodes turn (the
// ones the child named) for TURN credentials.
func (ms *mediaSession) serveChild(parent context.Context, child peer.ID, hello linkHello, turn []string, str network.Stream) {
	// The link lives as long as the session, the handler and the stream.
	ctx, cancel := context.WithCancel(ms.ctx)
	defer cancel()
	stopParent := context.AfterFunc(parent, cancel)
	defer stopParent()
	link := &childLink{cancel: cancel}
	held := ms.children
	if hello.Standby {
		held = ms.standbys
	}
	ms.mu.Lock()
	if old, ok := held[child]; ok {
		old.cancel()
		ms.subtreeChanged() // the old link's count is gone with it
	}
	held[child] = link
	ms.mu.Unlock()
	defer ms.dropChild(child, link)
	stop := context.AfterFunc(ctx, func() { _ = str.Reset() })
	defer stop()
	ms.m.host.ConnManager().Protect(child, mediaTag(ms.room))
	defer ms.m.host.ConnManager().Unprotect(child, mediaTag(ms.room))
	opts := rtc.ChildOptions{Timeout: ms.m.timeout, Label: rtc.LinkLabel{Room: string(ms.room), Peer: child.String()},
		Proof: hello.Assignment, TURNServers: turn, Trickle: str.Protocol() != LinkProtocolGather, OnSubtree: func(n int) {
			ms.mu.Lock()
			link.subtree = n
			ms.mu.Unlock()
			ms.subtreeChanged()
		}}
	if hello.Standby {
		opts.Standby, opts.OnActivate = true, func() error { return ms.activateStandby(child, link) }
		opts.OnDeactivate = func() { ms.deactivateStandby(child, link) }
	}
	if st, ok := ms.m.states.State(ms.room); ok && st.Host == ms.self() {
		// Speakers hang under the host; what they send enters the room
		// here, and the forwarder drops anyone not audible.
		opts.Uplink = func(pkt *rtp.Packet) { ms.fwd.Write(child.String(), pkt) }
	}
	err := rtc.ServeChild(ctx, ms.m.api, str, ms.downstream(), opts)
	if err != nil && !errors.Is(err, context.Canceled) {
		ms.m.log.Debug("child link ended", "room", ms.room, "child", child, "err", err)
	}
}

func (m *media) admitChild(child peer.ID, hello linkHello) (*mediaSession, error) {
	a, err := rooms.ParseAssignment(hello.Assignment)
	if err != nil {
		return nil, err
	}
	st, ok := m.states.State(a.Room)
	if !ok {
		return nil, fmt.Errorf("%w: this node is not in %s", rooms.ErrUnknownRoom, a.Room)
	}
	backup := false
	if err := a.Check(st.Room, st.Host, child, m.self(), m.now()); err != nil {
		if a.CheckBackup(st.Room, st.Host, child, m.self(), m.now()) != nil {
			return nil, err
		}
		backup = true
	}
	if hello.Standby && !backup {
		return nil, fmt.Errorf("%w: a standby link is to a backup, this node is the parent", rooms.ErrNotAllowed)
	}
	if st.IsBanned(child) {
		return nil, fmt.Errorf("%w", rooms.ErrBanned)
	}
	ms, ok := m.session(a.Room)
	if !ok {
		return nil, fmt.Errorf("%w: no media for %s here", rooms.ErrNotLive, a.Room)
	}
	switch {
	case hello.Standby:
		err = ms.admitStandby(child)
	case backup:
		err = ms.admitFailover(child)
	}
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// admitFailover checks that this node, named as one of child's backups,
// can take it now: it has room for a failing-over child (see
// rooms.FailoverCapacity) and child is not its own parent (that would
// close a loop; deeper ancestors it does not know, the host chose backups
// outside the child's subtree).
func (ms *mediaSession) admitFailover(child peer.ID) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	_, already := ms.children[child]
	switch {
	case ms.parent == child:
		return fmt.Errorf("%w: %s is this backup's parent", rooms.ErrNotAllowed, child)
	case !already && len(ms.children) >= rooms.FailoverCapacity(ms.m.capacity, false):
		return fmt.Errorf("%w: backup full (%d children)", rooms.ErrNoParent, len(ms.children))
	}
	return nil
}

// mediaTag names a room's media links to the connection manager.
func mediaTag(room rooms.RoomID) string { return "room-media:" + string(room) }
