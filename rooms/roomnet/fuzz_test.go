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
	for _, v := range []any{requestMsg{V: 1, Request: req.Bytes}, replyMsg{V: 1, State: signed.Bytes}, replyMsg{V: 1, Error: "no"}} {
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
		var r replyMsg
		if wire.NewReader(bytes.NewReader(data), maxReplyFrame).ReadFrame(&r) == nil {
			_, _ = rooms.ParseState(r.State)
		}
	})
}
