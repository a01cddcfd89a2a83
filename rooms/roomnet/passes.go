package roomnet

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/rooms"
)

// A supporter pass is handed to its holder's node as a ticket is: the
// issuer's node delivers it (DeliverPass) and the holder's node keeps it
// (Store.SavePass). Joining a supporters' room then presents the pass of
// the room's host (or creator) by itself; the host's node checks it, and
// whether its issuer revoked it (Store.PassRevoked).

// PassProtocol carries one supporter pass from its issuer to its holder.
const PassProtocol protocol.ID = "/clubnode/supporter-pass/1.0.0"

const maxPassFrame = rooms.MaxPassSize + 64

type passMsg struct {
	Pass []byte `cbor:"0,keyasint"`
}

var passProto = noticeProtocol[passMsg](PassProtocol, maxPassFrame)

// DeliverPass gives p, issued by this node, to its holder's node, and
// returns once that node has kept it.
func (s *Service) DeliverPass(ctx context.Context, p *rooms.SignedPass) error {
	return deliver(ctx, s, passProto, "supporter pass", p.Issuer, p.Holder, passMsg{Pass: p.Bytes})
}

// receivePass is the holder's side: keep a live pass for this node that
// its issuer, a member, delivered itself.
func (s *Service) receivePass(_ context.Context, from peer.ID, msg passMsg) (struct{}, error) {
	p, err := rooms.ParsePass(msg.Pass)
	if err != nil {
		return struct{}{}, err
	}
	if p.Issuer != from || !s.isMember(from) {
		return struct{}{}, fmt.Errorf("%w: a pass issued by %s, delivered by %s", rooms.ErrNotAllowed, p.Issuer, from)
	}
	if err := p.Check(s.self(), s.cfg.Now(), p.Issuer); err != nil {
		return struct{}{}, err
	}
	return struct{}{}, s.cfg.Store.SavePass(p)
}

// passFor is the pass this node presents to join room: its host's, or its
// creator's.
func (s *Service) passFor(id rooms.RoomID, host peer.ID) *rooms.SignedPass {
	if p := s.cfg.Store.Pass(host); p != nil {
		return p
	}
	if a, ok := s.dir.Get(id); ok && a.Creator != host {
		return s.cfg.Store.Pass(a.Creator)
	}
	return nil
}

// admitPass adds a presented pass to a joiner's admission.
func (s *Service) admitPass(adm *rooms.Admission, passBytes []byte) error {
	if len(passBytes) == 0 {
		return nil
	}
	p, err := rooms.ParsePass(passBytes)
	if err != nil {
		return err
	}
	adm.Pass = p
	adm.PassRevoked = s.cfg.Store.PassRevoked(p)
	return nil
}
