package rtc

import (
	"testing"
	"time"

	"github.com/pion/interceptor"

	"github.com/clubnode/clubnode/internal/testutil"
)

// LinkStats reports each live link once per end, with its label and what
// it carried: packets and bytes both ways, the NACKs a lossy hop causes,
// the RTT from receiver reports; a closed link is gone from it.
func TestLinkStats(t *testing.T) {
	loss := DropRandomly(0.05, 7).(*lossFactory)
	parentAPI := newTestAPI(t, Config{Interceptors: func(r *interceptor.Registry) error {
		r.Add(loss)
		return nil
	}})
	childAPI := newTestAPI(t, Config{})
	root := newTestForwarder(t, "alice")
	child := newTestForwarder(t, "alice")
	l := connect(t, parentAPI, root, childAPI, child,
		ChildOptions{Label: LinkLabel{Room: "r1", Peer: "the-child"}},
		ParentOptions{Label: LinkLabel{Room: "r1", Peer: "the-parent"}})
	got := newCollector()
	defer child.AddSink(got.sink)()
	src := &source{speaker: "alice", ssrc: 9}
	warmUp(t, got, root.Write, src)
	burst(300, 3*time.Millisecond, "n", root.Write, src)

	var down, up LinkStats
	testutil.Eventually(t, 10*time.Second, func() error {
		l.up(t)
		// Receiver reports go every second: keep the stream going.
		burst(10, 3*time.Millisecond, "more", root.Write, src)
		ps, cs := parentAPI.LinkStats(nil), childAPI.LinkStats(nil)
		if len(ps) != 1 || len(cs) != 1 {
			return errorf("links: parent side %d, child side %d", len(ps), len(cs))
		}
		down, up = ps[0], cs[0]
		if down.PacketsSent < 300 || up.PacketsReceived < 250 || down.RTT == 0 || up.NACKsSent == 0 || down.NACKsReceived == 0 {
			return errorf("not all counted yet: parent end %+v, child end %+v", down, up)
		}
		return nil
	})
	t.Logf("parent end %+v", down)
	t.Logf("child end %+v", up)
	if down.Role != RoleChild || down.Peer != "the-child" || down.Room != "r1" || up.Role != RoleParent || up.Peer != "the-parent" {
		t.Fatalf("labels: %+v / %+v", down.LinkLabel, up.LinkLabel)
	}
	if down.BytesSent == 0 || up.BytesReceived == 0 || down.RTT > time.Second {
		t.Fatalf("bytes or RTT: %+v / %+v", down, up)
	}
	l.stop()
	if n := len(parentAPI.LinkStats(nil)) + len(childAPI.LinkStats(nil)); n != 0 {
		t.Fatalf("%d links still listed after both ends stopped", n)
	}
}
