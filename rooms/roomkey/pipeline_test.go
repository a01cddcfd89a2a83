package roomkey

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/mediasig"
)

// The whole path of a closed room's audio, without the network: the
// speaker encrypts (SFrame) and signs (mediasig) each frame; a relay
// forwards it and tampers with some; listeners verify, then decrypt. The
// listener who stays plays every genuine frame and nothing else, across a
// key change; the relay and the removed participant can check signatures
// (they are public) but decrypt nothing of what follows.
func TestClosedRoomPipeline(t *testing.T) {
	host, speaker, stays, removed := newMember(t), newMember(t), newMember(t), newMember(t)
	room := newRoomID(t)
	stream := mediasig.Stream{Room: string(room), Speaker: speaker.id}
	signer, err := mediasig.NewSigner(mediasig.SignerConfig{Stream: stream, Key: speaker.key, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	type listener struct {
		keys   *Keyring
		verify *mediasig.Verifier
		played [][]byte
		failed int
	}
	newListener := func() *listener {
		v, err := mediasig.NewVerifier(mediasig.VerifierConfig{Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		return &listener{keys: NewKeyring(room), verify: v}
	}
	l, r, relay := newListener(), newListener(), newListener()
	hear := func(p *rtp.Packet, now time.Time) {
		for _, x := range []*listener{l, r, relay} {
			for _, rel := range x.verify.Push(nil, p, now) {
				if plain, err := x.keys.Decrypt(nil, speaker.id, rel.Media); err != nil {
					x.failed++
				} else {
					x.played = append(x.played, plain)
				}
			}
		}
	}
	e1 := newSecret(t, room, 1)
	for _, x := range []struct {
		k *Keyring
		m member
	}{{l.keys, stays}, {r.keys, removed}} {
		if err := x.k.Add(deliver(t, host, e1, x.m)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := NewSender(deliver(t, host, e1, speaker), speaker.id, t0)
	if err != nil {
		t.Fatal(err)
	}

	var sent [][]byte // every frame the speaker sent
	seq, ts := uint16(40000), uint32(0)
	now := t0.Add(5 * time.Second)
	speak := func(n int, relayEdit func(i int, p *rtp.Packet) []*rtp.Packet) {
		for i := range n {
			opus := []byte(fmt.Sprintf("frame %d of the speaker, epoch %d....................................", len(sent), tx.Epoch()))
			ct, err := tx.Encrypt(nil, opus, now)
			if err != nil {
				t.Fatal(err)
			}
			pkt, err := signer.Sign(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: ct}, false)
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, opus)
			seq, ts, now = seq+1, ts+960, now.Add(20*time.Millisecond)
			out := []*rtp.Packet{pkt}
			if relayEdit != nil {
				out = relayEdit(i, pkt)
			}
			for _, p := range out {
				hear(p, now)
			}
		}
	}

	// Epoch 1, with a relay that alters packet 5 and injects a copy of
	// packet 9 with other content just before it.
	speak(16, func(i int, p *rtp.Packet) []*rtp.Packet {
		switch i {
		case 5:
			q := p.Clone()
			q.Payload[3] ^= 0x40
			return []*rtp.Packet{q}
		case 9:
			q := p.Clone()
			q.Payload[10] ^= 0x40
			return []*rtp.Packet{q, p}
		}
		return []*rtp.Packet{p}
	})
	// removed leaves: epoch 2 for the others. The speaker switches after
	// the listener has the key; a frame of epoch 1 still in flight.
	e2 := newSecret(t, room, 2)
	if err := l.keys.Add(deliver(t, host, e2, stays)); err != nil {
		t.Fatal(err)
	}
	speak(1, nil)
	tx, err = NewSender(deliver(t, host, e2, speaker), speaker.id, now)
	if err != nil {
		t.Fatal(err)
	}
	speak(32, nil)
	// The speaker stops: an empty packet carries the signature of the tail.
	flush, err := signer.Sign(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}}, true)
	if err != nil {
		t.Fatal(err)
	}
	hear(flush, now)

	// The listener who stays: every genuine frame except those of the two
	// batches the relay broke (4 packets each), nothing altered, nothing
	// twice.
	st := l.verify.Stats()
	if st.Tampering() == 0 {
		t.Fatalf("no tampering reported: %+v", st)
	}
	for _, p := range l.played {
		found := 0
		for _, s := range sent {
			if bytes.Equal(p, s) {
				found++
			}
		}
		if found != 1 {
			t.Fatalf("played something the speaker did not send once: %q", p)
		}
	}
	if len(l.played) != len(sent)-8 || l.failed != 0 {
		t.Fatalf("stays: played %d of %d, %d failed to decrypt", len(l.played), len(sent), l.failed)
	}
	last := l.played[len(l.played)-1]
	if !bytes.Contains(last, []byte("epoch 2")) {
		t.Fatalf("last frame played: %q", last)
	}
	// The removed participant verified the same packets but decrypts
	// nothing of epoch 2; the relay decrypts nothing at all.
	for _, p := range r.played {
		if bytes.Contains(p, []byte("epoch 2")) {
			t.Fatalf("the removed participant heard %q", p)
		}
	}
	if r.failed != 32 || len(relay.played) != 0 || relay.failed == 0 {
		t.Fatalf("removed: played %d, failed %d; relay: played %d, failed %d", len(r.played), r.failed, len(relay.played), relay.failed)
	}
	t.Logf("stays played %d of %d frames; removed played %d (epoch 1 only), %d failed; relay decrypted 0 of %d",
		len(l.played), len(sent), len(r.played), r.failed, relay.failed)
}
