package roomnet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
)

// Attack 3 of "members only": during the window a node gives a new
// connection to say hello, an outsider (a go-libp2p host with a fresh key
// and no membership) speaks every rooms protocol to the host of a live
// room. Nothing may answer it: not the host's request handler, not the
// ticket and block-list handlers, not placement or catch-up (whose answer
// would tell that this node hosts the room), not the media link.
func TestRoomsProtocolsAnswerNoOutsider(t *testing.T) {
	ms := startMembers(t, 2)
	h, l := ms[0], ms[1]
	st, err := h.rooms.Create(context.Background(), "Secret plans", rooms.TypeOpen, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	sees(t, l, st.Room, true)
	mustRequest(t, l, st.Room, rooms.KindJoin, nil)

	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	out, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := out.Connect(ctx, peer.AddrInfo{ID: h.id, Addrs: h.p2p.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	// Requests an outsider could sign itself: a join, a ticket for
	// itself, a block list.
	req, err := rooms.SignRequest(key, rooms.Request{Room: st.Room, Kind: rooms.KindJoin, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	self, _ := peer.IDFromPrivateKey(key)
	ticket, err := rooms.IssueTicket(key, st.Room, self, time.Now().Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := rooms.Assign(key, st.Room, self, h.id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tries := []struct {
		name string
		call func() error
	}{
		{"room request", func() error {
			_, err := requestProto.Call(ctx, out, h.id, requestMsg{Request: req.Bytes})
			return err
		}},
		{"ticket", func() error { _, err := ticketProto.Call(ctx, out, h.id, ticketMsg{Ticket: ticket.Bytes}); return err }},
		{"room state", func() error { _, err := stateProto.Call(ctx, out, h.id, stateMsg{State: st.Bytes}); return err }},
		{"catch-up", func() error {
			_, err := catchUpProto.Call(ctx, out, h.id, catchUpMsg{Room: string(st.Room)})
			return err
		}},
		{"block list", func() error {
			_, err := blocksProto.Call(ctx, out, h.id, blocksMsg{Room: string(st.Room)})
			return err
		}},
		{"placement", func() error {
			_, err := placeProto.Call(ctx, out, h.id, placeRequest{Room: string(st.Room), Capacity: 4})
			return err
		}},
		{"media link", func() error {
			_, s, err := linkProto.Open(ctx, out, h.id, linkHello{Assignment: a.Bytes})
			if s != nil {
				s.Close()
			}
			return err
		}},
	}
	for _, try := range tries {
		err := try.call()
		var refused *rpc.RemoteError
		switch {
		case err == nil:
			t.Errorf("%s: the host served an outsider", try.name)
		case errors.As(err, &refused):
			t.Errorf("%s: the host answered an outsider (%q): it should have said nothing", try.name, refused.Message)
		}
	}
	if got := stillTheRoom(t, h, st.Room); got != 2 {
		t.Fatalf("the room has %d people after the outsider's tries, want the host and the listener", got)
	}
	checkOutsiderCannotStay(t, out, h)
}

func stillTheRoom(t *testing.T, m *member, id rooms.RoomID) int {
	t.Helper()
	st, ok := m.rooms.State(id)
	if !ok {
		t.Fatal("the host lost its room")
	}
	return len(st.Speakers) + len(st.Audience)
}

// checkOutsiderCannotStay: the outsider is cut off within the hello window.
func checkOutsiderCannotStay(t *testing.T, out host.Host, h *member) {
	t.Helper()
	deadline := time.Now().Add(harnessHelloTimeout + 5*time.Second)
	for len(out.Network().ConnsToPeer(h.id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the outsider kept its connection to the host past the hello window")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
