package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2/pb"
	"github.com/libp2p/go-msgio/pbio"
	ma "github.com/multiformats/go-multiaddr"
)

// AutoNAT v2's dial-back service answers members only: an outsider's
// dial request is reset before the server reads it, a member's is
// answered (with a refusal, as the address it names is not public).
// Without the resource manager's gate the outsider gets the same answer
// as the member.
func TestAutoNATv2AnswersNoOutsider(t *testing.T) {
	a := newNode(t)
	found(t, a, "Night Owls")
	b := newNode(t)
	join(t, b, bearerInvite(t, a, 1))
	r := newRogue(t)
	if err := r.connect(a); err != nil {
		t.Fatal(err)
	}
	if _, err := dialRequest(t, r.h, a.ID()); err == nil {
		t.Fatal("an outsider's AutoNAT v2 dial request was answered")
	} else {
		t.Logf("outsider: %v", err)
	}
	resp, err := dialRequest(t, b.host, a.ID())
	if err != nil {
		t.Fatalf("a member's AutoNAT v2 dial request: %v", err)
	}
	t.Logf("member: %s", resp.GetStatus())
}

// dialRequest asks p's AutoNAT v2 server to dial 127.0.0.1 back, and
// returns its answer.
func dialRequest(t *testing.T, h host.Host, p peer.ID) (*pb.DialResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, autonatv2.DialProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/1")
	req := &pb.Message{Msg: &pb.Message_DialRequest{DialRequest: &pb.DialRequest{Addrs: [][]byte{addr.Bytes()}, Nonce: 1}}}
	if err := pbio.NewDelimitedWriter(s).WriteMsg(req); err != nil {
		return nil, err
	}
	var msg pb.Message
	if err := pbio.NewDelimitedReader(s, 4096).ReadMsg(&msg); err != nil {
		return nil, err
	}
	if msg.GetDialResponse() == nil {
		return nil, errors.New("no dial response")
	}
	return msg.GetDialResponse(), nil
}
