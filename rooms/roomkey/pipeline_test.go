package roomkey

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/mediasig"
)

// listener is a node that plays a closed room's audio: it verifies, then
// decrypts.
type listener struct {
	keys   *Keyring
	verify *mediasig.Verifier
	played [][]byte
	failed int // released (authentic) frames that did not decrypt
}

// path is one speaker's audio from encoder to listeners, without the
// network: encrypt (SFrame), sign (mediasig), and a relay in between.
type path struct {
	t         *testing.T
	speaker   member
	tx        *Sender
	signer    *mediasig.Signer
	listeners []*listener
	sent      [][]byte
	seq       uint16
	ts        uint32
	now       time.Time
}

func newPath(t *testing.T, speaker member, room string) *path {
	signer, err := mediasig.NewSigner(mediasig.SignerConfig{Stream: mediasig.Stream{Room: room, Speaker: speaker.id},
		Key: speaker.key, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return &path{t: t, speaker: speaker, signer: signer, seq: 40000, now: t0.Add(5 * time.Second)}
}

func (p *path) listen(k *Keyring) *listener {
	v, err := mediasig.NewVerifier(mediasig.VerifierConfig{Stream: mediasig.Stream{Room: string(k.room), Speaker: p.speaker.id}})
	if err != nil {
		p.t.Fatal(err)
	}
	l := &listener{keys: k, verify: v}
	p.listeners = append(p.listeners, l)
	return l
}

// hear gives pkt to every listener.
func (p *path) hear(pkt *rtp.Packet) {
	for _, l := range p.listeners {
		for _, rel := range l.verify.Push(nil, pkt, p.now) {
			if plain, err := l.keys.Decrypt(nil, p.speaker.id, rel.Media); err != nil {
				l.failed++
			} else {
				l.played = append(l.played, plain)
			}
		}
	}
}

// speak sends n frames; relay (if set) decides what the listeners get of
// each packet.
func (p *path) speak(n int, relay func(i int, pkt *rtp.Packet) []*rtp.Packet) {
	for i := range n {
		opus := []byte(fmt.Sprintf("frame %d of the speaker, epoch %d....................................", len(p.sent), p.tx.Epoch()))
		ct, err := p.tx.Encrypt(nil, opus, p.now)
		if err != nil {
			p.t.Fatal(err)
		}
		pkt, err := p.signer.Sign(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: p.ts}, Payload: ct}, false)
		if err != nil {
			p.t.Fatal(err)
		}
		p.sent = append(p.sent, opus)
		p.seq, p.ts, p.now = p.seq+1, p.ts+960, p.now.Add(20*time.Millisecond)
		out := []*rtp.Packet{pkt}
		if relay != nil {
			out = relay(i, pkt)
		}
		for _, q := range out {
			p.hear(q)
		}
	}
}

// stop sends the empty packet that carries the signature of the tail.
func (p *path) stop() {
	flush, err := p.signer.Sign(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: p.ts}}, true)
	if err != nil {
		p.t.Fatal(err)
	}
	p.hear(flush)
}

// tamper alters packet 5 and injects an altered copy of packet 9 just
// before the genuine one.
func tamper(i int, pkt *rtp.Packet) []*rtp.Packet {
	q := pkt.Clone()
	switch i {
	case 5:
		q.Payload[3] ^= 0x40
		return []*rtp.Packet{q}
	case 9:
		q.Payload[10] ^= 0x40
		return []*rtp.Packet{q, pkt}
	}
	return []*rtp.Packet{pkt}
}

// The listener who stays plays every genuine frame and nothing else,
// across a key change; the relay and the removed participant can check
// signatures (they are public) but decrypt nothing of what follows.
func TestClosedRoomPipeline(t *testing.T) {
	host, speaker, stays, removed := newMember(t), newMember(t), newMember(t), newMember(t)
	room := newRoomID(t)
	p := newPath(t, speaker, string(room))
	l, r, relay := p.listen(NewKeyring(room)), p.listen(NewKeyring(room)), p.listen(NewKeyring(room))
	e1 := newSecret(t, room, 1)
	for _, k := range []struct {
		l *listener
		m member
	}{{l, stays}, {r, removed}} {
		if err := k.l.keys.Add(deliver(t, host, e1, k.m)); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if p.tx, err = NewSender(deliver(t, host, e1, speaker), speaker.id, t0); err != nil {
		t.Fatal(err)
	}
	p.speak(16, tamper)
	// removed leaves: epoch 2 for the others. The speaker switches once the
	// listener has the key; one frame of epoch 1 is still in flight.
	if err := l.keys.Add(deliver(t, host, newSecret(t, room, 2), stays)); err != nil {
		t.Fatal(err)
	}
	p.speak(1, nil)
	e2, _ := l.keys.Current()
	if p.tx, err = NewSender(e2, speaker.id, p.now); err != nil {
		t.Fatal(err)
	}
	p.speak(32, nil)
	p.stop()

	// Every genuine frame but the two batches of 4 the relay broke;
	// nothing altered, nothing twice.
	if st := l.verify.Stats(); st.Tampering() == 0 {
		t.Fatalf("no tampering reported: %+v", st)
	}
	for _, got := range l.played {
		if n := countIn(p.sent, got); n != 1 {
			t.Fatalf("played %q, sent %d times", got, n)
		}
	}
	if len(l.played) != len(p.sent)-8 || l.failed != 0 || !bytes.Contains(l.played[len(l.played)-1], []byte("epoch 2")) {
		t.Fatalf("stays: played %d of %d, %d failed to decrypt", len(l.played), len(p.sent), l.failed)
	}
	for _, got := range r.played {
		if bytes.Contains(got, []byte("epoch 2")) {
			t.Fatalf("the removed participant heard %q", got)
		}
	}
	if r.failed != 32 || len(relay.played) != 0 || relay.failed != len(l.played) {
		t.Fatalf("removed: played %d, failed %d; relay: played %d, failed %d", len(r.played), r.failed, len(relay.played), relay.failed)
	}
	t.Logf("stays played %d of %d frames; removed played %d (epoch 1), failed on %d; relay decrypted 0 of %d",
		len(l.played), len(p.sent), len(r.played), r.failed, relay.failed)
}

func countIn(sent [][]byte, b []byte) int {
	n := 0
	for _, s := range sent {
		if bytes.Equal(s, b) {
			n++
		}
	}
	return n
}
