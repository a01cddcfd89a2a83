package roomnet

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
)

// A child that speaks only the link protocol before trickle (1.0.0), or
// before standby links (1.1.0), still links to a parent of today, which
// then waits for gathering as 1.0.0 did; two nodes of today agree on
// the newest.
func TestLinkProtocolVersions(t *testing.T) {
	ms := startMembersWith(t, 2, mediaConfig(t, func(int) int { return 4 }, nil))
	h, a := ms[0], ms[1]
	// a is not in the room: its own session would link to h too, and a
	// child's new link replaces its old one.
	id := stage(t, ms, h, nil, nil)
	assignment, err := rooms.Assign(h.key, id, a.id, h.id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		proto   rpc.Protocol[linkHello, struct{}]
		trickle bool
	}{{oldLinkProto(LinkProtocolGather), false}, {oldLinkProto(LinkProtocolTrickle), true}, {linkProto, true}} {
		_, str, err := c.proto.Open(ctx, a.p2p.Host(), h.id, linkHello{Assignment: assignment.Bytes})
		if err != nil {
			t.Fatal(err)
		}
		if str.Protocol() != c.proto.ID {
			t.Fatalf("agreed on %s, want %s", str.Protocol(), c.proto.ID)
		}
		api, err := rtc.NewAPI(rtc.Config{Logger: logger(), LoopbackOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		f := rtc.NewForwarder(logger())
		linkCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- rtc.DialParent(linkCtx, api, str, f, rtc.ParentOptions{Timeout: 5 * time.Second, Trickle: c.trickle,
				Label: rtc.LinkLabel{Room: string(id), Peer: h.id.String()}})
		}()
		testutil.Eventually(t, 20*time.Second, func() error {
			select {
			case err := <-done:
				t.Fatalf("the link over %s ended: %v", str.Protocol(), err)
			default:
			}
			if p := api.LinkPaths(nil); len(p) == 1 && p[0].Path != "" {
				return nil
			}
			return errors.New("the link has not connected yet")
		})
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
			t.Logf("the link over %s ended with %v", str.Protocol(), err)
		}
		f.Close()
	}
}

// oldLinkProto is the link protocol as a node that spoke only version id.
func oldLinkProto(id protocol.ID) rpc.Protocol[linkHello, struct{}] {
	p := linkProto
	p.ID, p.Older = id, nil
	return p
}

// oldHello is linkHello as a node before 1.3.0 decodes it, strictly.
type oldHello struct {
	Assignment []byte `cbor:"0,keyasint"`
	Standby    bool   `cbor:"1,keyasint,omitempty"`
}

// A child of today names its TURN servers only to a parent that reads
// them (1.3.0): a parent that speaks 1.2.0 at most, whose strict decoding
// refuses unknown fields, gets the hello without them and links as before.
func TestLinkHelloTURNOnlyToNewParents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	child, oldParent, newParent := bareHost(t), bareHost(t), bareHost(t)
	old := rpc.Protocol[oldHello, struct{}]{ID: LinkProtocolStandby, MaxRequest: maxLinkFrame, MaxReply: maxLinkFrame,
		Timeout: placeTimeout, Codes: Codes, Limited: true}
	gotOld, gotNew := make(chan oldHello, 1), make(chan linkHello, 1)
	old.HandleSession(ctx, oldParent, func(_ context.Context, _ peer.ID, h oldHello) (struct{}, func(context.Context, network.Stream), error) {
		gotOld <- h
		return struct{}{}, func(context.Context, network.Stream) {}, nil
	})
	linkProto.HandleSession(ctx, newParent, func(_ context.Context, _ peer.ID, h linkHello) (struct{}, func(context.Context, network.Stream), error) {
		gotNew <- h
		return struct{}{}, func(context.Context, network.Stream) {}, nil
	})
	hello := linkHello{Assignment: []byte("assignment"), TURN: [][]byte{[]byte(child.ID())}}
	for _, to := range []host.Host{oldParent, newParent} {
		if err := child.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
			t.Fatal(err)
		}
		_, str, err := linkProto.Open(ctx, child, to.ID(), hello)
		if err != nil {
			t.Fatalf("hello to a parent of %v: %v", to.Mux().Protocols(), err)
		}
		_ = str.Close()
	}
	if h := <-gotOld; string(h.Assignment) != "assignment" {
		t.Fatalf("the old parent read %+v", h)
	}
	if h := <-gotNew; len(h.TURN) != 1 || peer.ID(h.TURN[0]) != child.ID() {
		t.Fatalf("the new parent read TURN servers %q, want the child's one", h.TURN)
	}
}

// bareHost is a libp2p host on loopback, closed when the test ends.
func bareHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}
