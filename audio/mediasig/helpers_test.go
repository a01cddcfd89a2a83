package mediasig

import (
	"bytes"
	crand "crypto/rand"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const testRoom = "room-abcdefghijklmnopqrstuvwxyz"

type speaker struct {
	key    crypto.PrivKey
	id     peer.ID
	stream Stream
}

func newSpeaker(tb testing.TB) speaker {
	tb.Helper()
	key, _, err := crypto.GenerateEd25519Key(crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return speaker{key: key, id: id, stream: Stream{Room: testRoom, Speaker: id}}
}

func (s speaker) signer(tb testing.TB, batch int, noParity bool, now time.Time) *Signer {
	tb.Helper()
	sg, err := NewSigner(SignerConfig{Stream: s.stream, Key: s.key, Batch: batch, NoParity: noParity,
		Now: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	return sg
}

func (s speaker) verifier(tb testing.TB, onFailure func(Failure)) *Verifier {
	tb.Helper()
	v, err := NewVerifier(VerifierConfig{Stream: s.stream, OnFailure: onFailure})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// source makes the speaker's plain stream: 80-byte payloads (a 32 kbit/s
// Opus frame), 20 ms apart, starting near a sequence number wrap.
type source struct {
	seq uint16
	ts  uint32
	rng *rand.Rand
}

func newSource(seed uint64) *source {
	return &source{seq: 65530, ts: 1 << 31, rng: rand.New(rand.NewPCG(seed, 1))}
}

func (s *source) next() *rtp.Packet {
	payload := make([]byte, 80)
	for i := range payload {
		payload[i] = byte(s.rng.UintN(256))
	}
	p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: s.seq, Timestamp: s.ts,
		SSRC: 0x1234, Marker: s.seq == 65530}, Payload: payload}
	s.seq++
	s.ts += 960
	return p
}

// signed makes n signed packets and the plain ones they came from.
func signed(tb testing.TB, sg *Signer, src *source, n int) (plain, out []*rtp.Packet) {
	tb.Helper()
	for range n {
		p := src.next()
		s, err := sg.Sign(p, false)
		if err != nil {
			tb.Fatal(err)
		}
		plain, out = append(plain, p), append(out, s)
	}
	return plain, out
}

// hop is what a relay link does to a packet: a new SSRC and payload type.
func hop(p *rtp.Packet) *rtp.Packet {
	out := p.Clone()
	out.SSRC, out.PayloadType = 0xbeef, 96
	return out
}

// collector pushes packets into a verifier and keeps what it releases and
// the failures it reports.
type collector struct {
	v        *Verifier
	released []Packet
	failures []Failure
}

func newCollector(tb testing.TB, s speaker) *collector {
	c := &collector{}
	c.v = s.verifier(tb, func(f Failure) { c.failures = append(c.failures, f) })
	return c
}

// push pushes pkts at now; with none, it only lets the verifier expire
// what waited too long.
func (c *collector) push(now time.Time, pkts ...*rtp.Packet) {
	if len(pkts) == 0 {
		c.released = c.v.Push(c.released, nil, now)
	}
	for _, p := range pkts {
		c.released = c.v.Push(c.released, hop(p), now)
	}
}

// countOf is how many times plain packet p was released intact.
func (c *collector) countOf(p *rtp.Packet) int {
	n := 0
	for _, r := range c.released {
		if r.Header.SequenceNumber == p.SequenceNumber && r.Header.Timestamp == p.Timestamp && bytes.Equal(r.Media, p.Payload) {
			n++
		}
	}
	return n
}

func (c *collector) tampering() int {
	n := 0
	for _, f := range c.failures {
		if f.Kind.Tampering() {
			n++
		}
	}
	return n
}

func (c *collector) kinds() map[Kind]int {
	m := map[Kind]int{}
	for _, f := range c.failures {
		m[f.Kind]++
	}
	return m
}
