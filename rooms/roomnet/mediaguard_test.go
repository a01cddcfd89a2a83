package roomnet

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/mediasig"
)

// A second of a speaker's packets with no signature covering any of them
// (a relay that replays, or strips signatures) makes the guard call its
// parent a suspect, once per second; the same packets handled late (this
// node fell behind) do not, nor do they while some verify.
func TestGuardStarvesOnUnsignedStream(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	speaker, _ := peer.IDFromPrivateKey(key)
	var suspects []mediasig.Failure
	g := newGuard("room-test", time.Now, nil, func(_ peer.ID, f mediasig.Failure) { suspects = append(suspects, f) })
	unsigned := func(seq uint16) *rtp.Packet {
		// Opus-like media, then a trailer saying no signature frame.
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960},
			Payload: []byte{0x78, byte(seq), 0xaa, 0}}
	}
	for seq := range uint16(2 * starveAfter) {
		g.push(speaker.String(), unsigned(seq), true)
	}
	if len(suspects) != 0 {
		t.Fatalf("a late node blamed its parent: %v", suspects)
	}
	for seq := range uint16(2*starveAfter + 1) {
		g.push(speaker.String(), unsigned(1000+seq), false)
	}
	if len(suspects) != 2 || !errors.Is(suspects[0].Err, errStarved) || suspects[0].Kind != mediasig.Unverified {
		t.Fatalf("after %d unsigned packets: %v", 2*starveAfter+1, suspects)
	}
	if st := g.statsSnapshot(); st.Starved != 2 || st.Released != 0 {
		t.Fatalf("stats %+v", st)
	}

	// A signed stream never starves.
	signer, err := mediasig.NewSigner(mediasig.SignerConfig{Stream: mediasig.Stream{Room: "room-test", Speaker: speaker}, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	g.reset()
	suspects = nil
	for seq := range uint16(4 * starveAfter) {
		pkt, err := signer.Sign(unsigned(5000+seq), false) // its media ends in the test's 0: no matter
		if err != nil {
			t.Fatal(err)
		}
		g.push(speaker.String(), pkt, false)
	}
	if len(suspects) != 0 || g.statsSnapshot().Released == 0 {
		t.Fatalf("a signed stream: suspects %v, stats %+v", suspects, g.statsSnapshot())
	}
}
