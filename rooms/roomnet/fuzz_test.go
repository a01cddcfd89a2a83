package roomnet

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomkey"
)

// FuzzRequestFrames: the host's request reader and the client's reply
// reader never panic, stay within their frame limits, and whatever
// request decodes is checked by rooms.ParseRequest before use.
func FuzzRequestFrames(f *testing.F) {
	key, _ := identity.GenerateKey()
	id, _ := peer.IDFromPrivateKey(key)
	room, _ := rooms.NewRoomID()
	req, err := rooms.SignRequest(key, rooms.Request{Room: room, Kind: rooms.KindJoin, Time: time.Now()})
	if err != nil {
		f.Fatal(err)
	}
	st, _ := rooms.NewState(rooms.RoomConfig{Network: "net-x", Host: id, Title: "t", Type: rooms.TypeOpen, Now: time.Now()})
	signed, err := rooms.SignState(key, st)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{requestMsg{Request: req.Bytes}, stateReply{State: signed.Bytes}} {
		data, _ := wire.Marshal(v)
		f.Add(append(binary.AppendUvarint(nil, uint64(len(data))), data...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m requestMsg
		if wire.NewReader(bytes.NewReader(data), maxRequestFrame).ReadFrame(&m) == nil {
			if len(m.Request) > maxRequestFrame {
				t.Fatal("request larger than its frame")
			}
			_, _ = rooms.ParseRequest(m.Request)
		}
		var r stateReply
		if wire.NewReader(bytes.NewReader(data), maxReplyFrame).ReadFrame(&r) == nil {
			_, _ = rooms.ParseState(r.State)
		}
	})
}

// FuzzNoticeFrames: the block list, ticket and catch-up readers never
// panic, stay within their frame limits, and a block list that parses
// names at most MaxBlockList valid peers of one canonical room.
func FuzzNoticeFrames(f *testing.F) {
	key, _ := identity.GenerateKey()
	id, _ := peer.IDFromPrivateKey(key)
	room, _ := rooms.NewRoomID()
	tk, err := rooms.IssueTicket(key, room, id, time.Now().Add(time.Hour), time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{blocksMsg{Room: string(room), Blocked: [][]byte{[]byte(id)}}, blocksMsg{Room: "x"},
		ticketMsg{Ticket: tk.Bytes}, catchUpMsg{Room: string(room)}} {
		data, _ := wire.Marshal(v)
		f.Add(append(binary.AppendUvarint(nil, uint64(len(data))), data...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b blocksMsg
		if wire.NewReader(bytes.NewReader(data), maxBlocksFrame).ReadFrame(&b) == nil {
			if r, set, err := b.parse(); err == nil {
				if _, perr := rooms.ParseRoomID(string(r)); perr != nil || len(set) > MaxBlockList {
					t.Fatalf("accepted block list: room %q, %d peers", r, len(set))
				}
				for p := range set {
					if p.Validate() != nil {
						t.Fatalf("accepted an invalid peer ID %q", p)
					}
				}
			}
		}
		var m ticketMsg
		if wire.NewReader(bytes.NewReader(data), maxTicketFrame).ReadFrame(&m) == nil {
			if len(m.Ticket) > maxTicketFrame {
				t.Fatal("ticket larger than its frame")
			}
			_, _ = rooms.ParseTicket(m.Ticket)
		}
		var c catchUpMsg
		if wire.NewReader(bytes.NewReader(data), maxCatchUpFrame).ReadFrame(&c) == nil {
			if len(c.Room) > maxCatchUpFrame {
				t.Fatal("room ID larger than its frame")
			}
			_, _ = rooms.ParseRoomID(c.Room)
		}
	})
}

// FuzzMediaFrames: the tree's placement and link frames never panic and
// stay within their limits; what decodes goes through the same parsers
// the handlers use (room ID, peer IDs, the signed assignment).
func FuzzMediaFrames(f *testing.F) {
	key, _ := identity.GenerateKey()
	id, _ := peer.IDFromPrivateKey(key)
	room, _ := rooms.NewRoomID()
	a, err := rooms.Assign(key, room, id, "12D3KooWD8CfQmtAQaHF6ZNjazue1Rjq8FEUu3pqAYzaHVvmaxX7", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{
		placeRequest{Room: string(room), Capacity: 2, Avoid: []byte(id), Children: [][]byte{[]byte(id)}},
		placeRequest{Room: string(room), RTTs: []placeRTT{{Peer: []byte(id), Micros: 12_500}, {Peer: []byte("x"), Micros: 0}}},
		placeReply{Assignment: a.Bytes}, linkHello{Assignment: a.Bytes}, linkHello{Assignment: a.Bytes, Standby: true},
		linkHello{Assignment: a.Bytes, TURN: [][]byte{[]byte(id), []byte(id)}},
		linkHello{Assignment: a.Bytes, TURN: [][]byte{[]byte("not a peer ID")}},
		capacityReport{Room: string(room), Capacity: 3},
	} {
		data, _ := wire.Marshal(v)
		f.Add(append(binary.AppendUvarint(nil, uint64(len(data))), data...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req placeRequest
		if wire.NewReader(bytes.NewReader(data), maxPlaceFrame).ReadFrame(&req) == nil {
			_, _ = rooms.ParseRoomID(req.Room)
			_, _ = peer.IDFromBytes(req.Avoid)
			for _, c := range req.Children {
				_, _ = peer.IDFromBytes(c)
			}
			if rtts, err := parseRTTs(req.RTTs); err == nil && len(rtts) > rooms.MaxMeasuredRTTs {
				t.Fatalf("%d round trips accepted", len(rtts))
			}
		}
		var cr capacityReport
		if wire.NewReader(bytes.NewReader(data), maxCapacityFrame).ReadFrame(&cr) == nil {
			_, _ = rooms.ParseRoomID(cr.Room)
		}
		var reply placeReply
		if wire.NewReader(bytes.NewReader(data), maxPlaceFrame).ReadFrame(&reply) == nil {
			_, _ = rooms.ParseAssignment(reply.Assignment)
		}
		var hello linkHello
		if wire.NewReader(bytes.NewReader(data), maxLinkFrame).ReadFrame(&hello) == nil {
			if len(hello.Assignment) > maxLinkFrame {
				t.Fatal("assignment larger than its frame")
			}
			_, _ = rooms.ParseAssignment(hello.Assignment)
			if turn, err := helloTURN(hello); err == nil && (len(turn) > maxHelloTURN || len(turn) != len(hello.TURN)) {
				t.Fatalf("%d TURN servers taken from a hello naming %d", len(turn), len(hello.TURN))
			}
		}
	})
}

// The most a hello names, beside the largest assignment, fits in the
// link frame that older nodes read too, and helloTURN refuses more
// servers than that or names that are no peer IDs.
func TestLinkHelloTURNFits(t *testing.T) {
	var ids [][]byte
	for range maxHelloTURN + 1 {
		key, _ := identity.GenerateKey()
		id, _ := peer.IDFromPrivateKey(key)
		ids = append(ids, []byte(id))
	}
	full := linkHello{Assignment: make([]byte, rooms.MaxAssignmentSize), Standby: true, TURN: ids[:maxHelloTURN]}
	data, err := wire.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > maxLinkFrame {
		t.Fatalf("a full hello is %d bytes, the frame %d", len(data), maxLinkFrame)
	}
	if got, err := helloTURN(full); err != nil || len(got) != maxHelloTURN {
		t.Fatalf("a full hello's servers: %v, %v", got, err)
	}
	for _, bad := range [][][]byte{ids, {[]byte("not a peer ID")}} {
		if got, err := helloTURN(linkHello{TURN: bad}); err == nil {
			t.Errorf("a hello naming %d servers (%q...) was taken: %v", len(bad), bad[0][:4], got)
		}
	}
}

// FuzzMediaNotices: the tamper report a host reads from a child, and the
// room key request and reply, decode within their frames; a reply's
// delivery parses or is refused, and nothing else is read from them.
func FuzzMediaNotices(f *testing.F) {
	key, _ := identity.GenerateKey()
	id, _ := peer.IDFromPrivateKey(key)
	room, _ := rooms.NewRoomID()
	secret, err := roomkey.New(room, 1, roomkey.DefaultSuite, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	d, err := roomkey.Deliver(key, secret, id)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range []any{tamperReport{Room: string(room), Parent: []byte(id), Speaker: []byte(id), Kind: 2},
		keyRequest{Room: string(room)}, keyReply{Delivery: d.Bytes}} {
		data, _ := wire.Marshal(v)
		f.Add(append(binary.AppendUvarint(nil, uint64(len(data))), data...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r tamperReport
		if wire.NewReader(bytes.NewReader(data), maxReportFrame).ReadFrame(&r) == nil {
			if p, err := peer.IDFromBytes(r.Parent); err == nil && p.Validate() != nil {
				t.Fatalf("accepted an invalid peer ID %q", p)
			}
		}
		var k keyReply
		if wire.NewReader(bytes.NewReader(data), keyProto.MaxReply).ReadFrame(&k) == nil {
			if sd, err := roomkey.ParseDelivery(k.Delivery); err == nil && sd.Recipient == "" {
				t.Fatal("a delivery for nobody")
			}
		}
	})
}
