package roomnet

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

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
