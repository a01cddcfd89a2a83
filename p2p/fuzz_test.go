package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// seedEntries returns real membership messages: a profile entry and a
// revocation entry of a small network.
func seedEntries(f *testing.F) [][]byte {
	f.Helper()
	keyA, _ := identity.GenerateKey()
	keyB, _ := identity.GenerateKey()
	charter, err := identity.FoundNetwork(keyA, "Fuzz", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	chainA := identity.FounderChain(charter)
	inv, err := identity.NewInvite(keyA, chainA, identity.InviteOptions{Uses: 1, Expires: time.Now().Add(time.Hour),
		For: mustID(f, keyB)}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	chainB, err := inv.BoundChain()
	if err != nil {
		f.Fatal(err)
	}
	prof, err := identity.SignProfile(keyB, identity.Profile{Network: chainB.Network(), Peer: chainB.Member(), Name: "b", Updated: time.Now()})
	if err != nil {
		f.Fatal(err)
	}
	rev, err := identity.Revoke(keyA, chainB, true, nil, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, e := range []memberEntry{
		{V: 1, Chain: chainB.Marshal(), Profile: prof.Bytes},
		{V: 1, Chain: chainA.Marshal(), Revocation: rev.Bytes},
		{V: 1, Chain: chainA.Marshal()},
	} {
		data, err := wire.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	hello, _ := wire.Marshal(helloMsg{Network: string(chainA.Network()), Chain: chainA.Marshal()})
	redeem, _ := wire.Marshal(redeemRequest{Token: inv.Bytes})
	sync, _ := wire.Marshal(syncRequest{Digest: bytes.Repeat([]byte{7}, 32)})
	return append(out, hello, redeem, sync)
}

func mustID(tb testing.TB, key crypto.PrivKey) peer.ID {
	tb.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// FuzzMemberEntry: no input panics the gossip decoder, anything over the
// limit is refused before decoding, and what decodes re-encodes to an
// equal message.
func FuzzMemberEntry(f *testing.F) {
	for _, s := range seedEntries(f) {
		f.Add(s)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if len(data) > MaxGossipMessage && !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("oversize input not refused: %v", err)
		}
		if err != nil {
			return
		}
		again, err := wire.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if e2.V != e.V || !bytes.Equal(e2.Chain, e.Chain) || !bytes.Equal(e2.Profile, e.Profile) || !bytes.Equal(e2.Revocation, e.Revocation) {
			t.Fatal("round trip changed the entry")
		}
	})
}

// FuzzStreamMessages: hello, redeem and members sync frames read from a
// stream never panic and never allocate past the frame limit.
func FuzzStreamMessages(f *testing.F) {
	for _, s := range seedEntries(f) {
		f.Add(append(binary.AppendUvarint(nil, uint64(len(s))), s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h helloMsg
		_ = wire.NewReader(bytes.NewReader(data), maxHelloFrame).ReadFrame(&h)
		var r redeemRequest
		_ = wire.NewReader(bytes.NewReader(data), maxRedeemFrame).ReadFrame(&r)
		var resp redeemReply
		_ = wire.NewReader(bytes.NewReader(data), maxRedeemFrame).ReadFrame(&resp)
		var sync syncRequest
		_ = wire.NewReader(bytes.NewReader(data), syncProto.MaxRequest).ReadFrame(&sync)
		if h.Chain != nil {
			_, _ = identity.ParseChain(h.Chain)
		}
	})
}
