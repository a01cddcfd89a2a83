package mediasig

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// A signed stream goes through a hop (new SSRC and payload type) and every
// packet is released once, intact, when the signature of its batch arrives.
func TestSignedStreamIsReleased(t *testing.T) {
	sp := newSpeaker(t)
	sg := sp.signer(t, 4, false, t0)
	c := newCollector(t, sp)
	plain, out := signed(t, sg, newSource(1), 100)
	for i, p := range out {
		before := len(c.released)
		c.push(t0.Add(time.Duration(i)*20*time.Millisecond), p)
		// Packets are released in batches of 4, when the 4th arrives.
		if got, want := len(c.released)-before, map[bool]int{true: 4, false: 0}[i%4 == 3]; got != want {
			t.Fatalf("packet %d released %d packets, want %d", i, got, want)
		}
	}
	for _, p := range plain {
		if c.countOf(p) != 1 {
			t.Fatalf("packet %d released %d times", p.SequenceNumber, c.countOf(p))
		}
	}
	for i := 1; i < len(c.released); i++ {
		if c.released[i].Ext != c.released[i-1].Ext+1 {
			t.Fatalf("extended sequence numbers %d then %d", c.released[i-1].Ext, c.released[i].Ext)
		}
	}
	if len(c.failures) != 0 {
		t.Fatalf("failures: %v", c.failures)
	}
	st := c.v.Stats()
	if st.Released != 100 || st.Verified != 25 || st.Frames != 25 {
		t.Fatalf("stats %+v", st)
	}
	// The first packet of each batch arrived 60 ms before it was released;
	// Arrival keeps when it came, not when its signature did.
	if got := c.released[0].Arrival; !got.Equal(t0) {
		t.Fatalf("arrival of the first packet: %s", got)
	}
}

// Changing any byte of any packet of a batch (header fields that are
// signed, media, signature frame, trailer) means the changed packet is not
// released, nothing that differs from what the speaker sent is, and the
// verifier reports it: as tampering, or (a frame made to point at other
// sequence numbers) as a batch that expires unverified. With parity, the
// other packets of the batch may still be released when the changed one
// is dropped as malformed.
func TestTamperedBatchIsNotReleased(t *testing.T) {
	sp := newSpeaker(t)
	plain, batch := signed(t, sp.signer(t, 4, false, t0), newSource(2), 4)
	type change struct {
		name string
		seq  uint16
		edit func(p *rtp.Packet)
	}
	var changes []change
	for k := range batch {
		for i := range batch[k].Payload {
			changes = append(changes, change{"payload byte", batch[k].SequenceNumber, func(p *rtp.Packet) {
				if p.SequenceNumber == batch[k].SequenceNumber {
					p.Payload[i] ^= 0x10
				}
			}})
		}
		changes = append(changes,
			change{"timestamp", batch[k].SequenceNumber, func(p *rtp.Packet) {
				if p.SequenceNumber == batch[k].SequenceNumber {
					p.Timestamp++
				}
			}},
			change{"marker", batch[k].SequenceNumber, func(p *rtp.Packet) {
				if p.SequenceNumber == batch[k].SequenceNumber {
					p.Marker = !p.Marker
				}
			}})
	}
	expired := 0
	for n, ch := range changes {
		c := newCollector(t, sp)
		for _, p := range batch {
			q := p.Clone()
			ch.edit(q)
			c.push(t0, q)
		}
		intact := 0
		for _, p := range plain {
			intact += c.countOf(p)
		}
		if intact != len(c.released) {
			t.Fatalf("change %d (%s): a changed packet was released", n, ch.name)
		}
		for _, r := range c.released {
			if r.Header.SequenceNumber == ch.seq {
				t.Fatalf("change %d (%s): the changed packet's number was released", n, ch.name)
			}
		}
		if c.tampering() == 0 {
			c.push(t0.Add(time.Second)) // let what waits expire
			if c.kinds()[Unverified] == 0 {
				t.Fatalf("change %d (%s): nothing reported", n, ch.name)
			}
			expired++
		}
	}
	t.Logf("%d changes shown only by expiry", expired)
	t.Logf("%d single-byte or header changes, none released", len(changes))
}

// An injected packet is never released: not ahead of the genuine one (with
// its sequence number), not after it, not with a number nobody signed.
func TestInjectedPacketsAreNotReleased(t *testing.T) {
	sp := newSpeaker(t)
	sg := sp.signer(t, 4, false, t0)
	src := newSource(3)
	_, out := signed(t, sg, src, 8)

	// Ahead of the genuine packet, with its sequence number and a
	// well-formed trailer.
	c := newCollector(t, sp)
	fake := out[1].Clone()
	fake.Payload[0] ^= 0xff
	c.push(t0, out[0], fake, out[1], out[2], out[3])
	if c.countOf(fake) != 0 || len(c.released) != 0 {
		t.Fatalf("injected ahead: %d released", len(c.released))
	}
	if k := c.kinds(); k[Conflict] != 1 || k[BadSignature] != 1 {
		t.Fatalf("injected ahead: failures %v", k)
	}

	// After the batch was verified: checked against the signed digest.
	c = newCollector(t, sp)
	c.push(t0, out[:4]...)
	c.push(t0, fake)
	if n := len(c.released); n != 4 || c.countOf(fake) != 0 || c.kinds()[BadPacket] != 1 {
		t.Fatalf("injected after: %d released, failures %v", n, c.kinds())
	}

	// A sequence number no frame covers: held, then dropped.
	stray := src.next()
	stray.SequenceNumber += 1000
	straySigned, _ := sp.signer(t, 4, false, t0).Sign(stray, false)
	c.push(t0, straySigned)
	c.push(t0.Add(time.Second), out[4:]...)
	if c.countOf(stray) != 0 || len(c.released) != 8 || c.kinds()[Unverified] != 1 {
		t.Fatalf("stray: %d released, failures %v", len(c.released), c.kinds())
	}

	// Signed by another member claiming to be the speaker.
	other := newSpeaker(t)
	forger, err := NewSigner(SignerConfig{Stream: Stream{Room: testRoom, Speaker: other.id}, Key: other.key,
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	_, forged := signed(t, forger, newSource(4), 4)
	c = newCollector(t, sp)
	c.push(t0, forged...)
	if len(c.released) != 0 || c.kinds()[BadSignature] != 1 {
		t.Fatalf("forged: %d released, failures %v", len(c.released), c.kinds())
	}
}

// Replays are refused: copies (retransmissions) are dropped quietly, old
// packets behind the window and old recordings are refused, and a stream
// signed for one room is refused in another.
func TestReplaysAreRefused(t *testing.T) {
	sp := newSpeaker(t)
	sg := sp.signer(t, 4, false, t0)
	src := newSource(5)
	_, first := signed(t, sg, src, 8)
	c := newCollector(t, sp)
	c.push(t0, first...)
	c.push(t0, first...) // every packet again, as NACK might
	// 8 packets and 2 signature frames seen twice.
	if len(c.released) != 8 || len(c.failures) != 0 || c.v.Stats().Duplicates != 10 {
		t.Fatalf("copies: %d released, failures %v, stats %+v", len(c.released), c.kinds(), c.v.Stats())
	}
	// Move the stream on by more than the window, then replay the start.
	_, later := signed(t, sg, src, Window+8)
	c.push(t0.Add(time.Second), later...)
	c.push(t0.Add(2*time.Second), first...)
	if len(c.released) != 8+Window+8 {
		t.Fatalf("replay behind the window: %d released", len(c.released))
	}
	if k := c.kinds(); k[Replay] != 2 {
		t.Fatalf("replay behind the window: failures %v", k)
	}

	// An old recording played to a listener who joins later.
	late := newCollector(t, sp)
	late.push(t0.Add(10*time.Minute), first...)
	if len(late.released) != 0 || late.kinds()[Stale] != 2 {
		t.Fatalf("old recording: %d released, failures %v", len(late.released), late.kinds())
	}

	// The same speaker's stream, replayed into another room.
	elsewhere := sp
	elsewhere.stream.Room = "room-zyxwvutsrqponmlkjihgfedcba"
	other := newCollector(t, elsewhere)
	other.push(t0, first...)
	if len(other.released) != 0 || other.kinds()[BadSignature] != 2 {
		t.Fatalf("other room: %d released, failures %v", len(other.released), other.kinds())
	}
}

// Packets and signatures may arrive in any order within the window; each
// packet is released once.
func TestReorderWithinWindow(t *testing.T) {
	sp := newSpeaker(t)
	plain, out := signed(t, sp.signer(t, 4, false, t0), newSource(6), 40)
	// Swap neighbours, and deliver batch 3 (packets 12-15) after batch 5.
	var order []*rtp.Packet
	for i := 0; i < 12; i += 2 {
		order = append(order, out[i+1], out[i])
	}
	order = append(order, out[16:24]...)
	order = append(order, out[15], out[14], out[13], out[12])
	order = append(order, out[24:]...)
	c := newCollector(t, sp)
	c.push(t0, order...)
	for _, p := range plain {
		if c.countOf(p) != 1 {
			t.Fatalf("packet %d released %d times", p.SequenceNumber, c.countOf(p))
		}
	}
	if len(c.failures) != 0 {
		t.Fatalf("failures %v", c.kinds())
	}
}

// A batch that arrives more than the window late is refused.
func TestReorderBeyondWindow(t *testing.T) {
	sp := newSpeaker(t)
	_, out := signed(t, sp.signer(t, 4, false, t0), newSource(7), Window+12)
	c := newCollector(t, sp)
	c.push(t0, out[4:]...)
	c.push(t0, out[:4]...)
	if len(c.released) != Window+8 {
		t.Fatalf("%d released", len(c.released))
	}
	if k := c.kinds(); k[Replay] != 1 || c.tampering() != 0 {
		t.Fatalf("failures %v", k)
	}
}

// With parity a batch missing one packet is still verified and the others
// released at once; a late copy of the missing one is checked and released
// too. Two missing, or one without parity, hold the batch until it expires.
func TestLossAndParity(t *testing.T) {
	sp := newSpeaker(t)
	plain, out := signed(t, sp.signer(t, 4, false, t0), newSource(8), 8)
	c := newCollector(t, sp)
	c.push(t0, out[0], out[2], out[3])
	if len(c.released) != 3 || c.countOf(plain[1]) != 0 {
		t.Fatalf("one lost: %d released", len(c.released))
	}
	c.push(t0.Add(100*time.Millisecond), out[1]) // a NACK retransmission
	if c.countOf(plain[1]) != 1 {
		t.Fatal("the late packet was not released")
	}
	c.push(t0, out[4], out[7])
	if len(c.released) != 4 {
		t.Fatalf("two lost: %d released", len(c.released))
	}
	c.push(t0.Add(time.Second), out[6]) // now only one is missing
	if len(c.released) != 4 {
		t.Fatalf("after expiry: %d released", len(c.released))
	}
	if k := c.kinds(); k[Unverified] != 3 || c.tampering() != 0 {
		t.Fatalf("failures %v", k)
	}

	// Without parity, one lost packet holds its batch.
	plain, out = signed(t, sp.signer(t, 4, true, t0), newSource(9), 4)
	c = newCollector(t, sp)
	c.push(t0, out[0], out[2], out[3])
	if len(c.released) != 0 {
		t.Fatalf("no parity, one lost: %d released", len(c.released))
	}
	c.push(t0, out[1])
	if len(c.released) != 4 || c.countOf(plain[0]) != 1 {
		t.Fatalf("no parity, all there: %d released", len(c.released))
	}

	// The signature's carrier lost and retransmitted later.
	_, out = signed(t, sp.signer(t, 4, false, t0), newSource(10), 4)
	c = newCollector(t, sp)
	c.push(t0, out[:3]...)
	c.push(t0.Add(80*time.Millisecond), out[3])
	if len(c.released) != 4 {
		t.Fatalf("carrier late: %d released", len(c.released))
	}
}

// Flush signs what is pending at once; an empty packet carries the
// signature of a stream's tail.
func TestFlush(t *testing.T) {
	sp := newSpeaker(t)
	sg := sp.signer(t, 4, false, t0)
	src := newSource(11)
	c := newCollector(t, sp)
	a, _ := sg.Sign(src.next(), false)
	b, _ := sg.Sign(src.next(), true) // e.g. a DTX packet: the speaker pauses
	c.push(t0, a, b)
	if len(c.released) != 2 || sg.Pending() != 0 {
		t.Fatalf("flush: %d released, %d pending", len(c.released), sg.Pending())
	}
	d, _ := sg.Sign(src.next(), false)
	tail := src.next()
	tail.Payload = nil
	e, err := sg.Sign(tail, true)
	if err != nil {
		t.Fatal(err)
	}
	c.push(t0, d, e)
	if len(c.released) != 3 {
		t.Fatalf("tail: %d released", len(c.released))
	}
}

// A speaker whose node restarts begins a new stream (other sequence
// numbers, a later clock) that listeners accept without a reset.
func TestSignerRestart(t *testing.T) {
	sp := newSpeaker(t)
	c := newCollector(t, sp)
	_, out := signed(t, sp.signer(t, 4, false, t0), newSource(12), 8)
	c.push(t0, out...)
	src := newSource(13)
	src.seq = 100 // "behind" the old numbers
	_, out = signed(t, sp.signer(t, 4, false, t0.Add(3*time.Second)), src, 8)
	c.push(t0.Add(3*time.Second), out...)
	if len(c.released) != 16 || len(c.failures) != 0 {
		t.Fatalf("%d released, failures %v", len(c.released), c.kinds())
	}
}

// Memory is bounded: unsigned packets beyond MaxPending and frames beyond
// the limit push out the oldest.
func TestVerifierBounds(t *testing.T) {
	sp := newSpeaker(t)
	c := newCollector(t, sp)
	src := newSource(14)
	for range 3 * DefaultMaxPending {
		p := src.next()
		p.Payload = append(p.Payload, 0) // trailer, no signature ever
		c.push(t0, p)
	}
	if n := len(c.v.pending); n != DefaultMaxPending {
		t.Fatalf("%d packets pending", n)
	}
	// Frames whose packets never come.
	_, out := signed(t, sp.signer(t, 1, true, t0), newSource(15), 3*maxFrames)
	for _, p := range out {
		media, _, _ := splitPayload(p.Payload)
		q := p.Clone()
		q.Payload = q.Payload[len(media):] // the frame without its media
		c.push(t0, q)
	}
	if n := len(c.v.frames); n != maxFrames {
		t.Fatalf("%d frames pending", n)
	}
	if len(c.released) != 0 {
		t.Fatal("released without media")
	}
}

func TestSignerRefuses(t *testing.T) {
	sp := newSpeaker(t)
	other := newSpeaker(t)
	if _, err := NewSigner(SignerConfig{Stream: sp.stream, Key: other.key}); err == nil {
		t.Error("signer with another member's key")
	}
	if _, err := NewSigner(SignerConfig{Stream: sp.stream, Key: sp.key, Batch: MaxBatch + 1}); err == nil {
		t.Error("batch over the limit")
	}
	if _, err := NewVerifier(VerifierConfig{Stream: Stream{Room: "", Speaker: sp.id}}); err == nil {
		t.Error("verifier without a room")
	}
	sg := sp.signer(t, 4, false, t0)
	p := newSource(16).next()
	if _, err := sg.Sign(p, false); err != nil {
		t.Fatal(err)
	}
	if _, err := sg.Sign(p, false); err == nil {
		t.Error("the same packet signed twice")
	}
	p.Payload = make([]byte, MaxPayload)
	p.SequenceNumber++
	if _, err := sg.Sign(p, false); err == nil {
		t.Error("oversized payload signed")
	}
}

func TestStripTrailer(t *testing.T) {
	sp := newSpeaker(t)
	plain, out := signed(t, sp.signer(t, 2, false, t0), newSource(17), 2)
	for i := range out {
		media, err := StripTrailer(out[i].Payload)
		if err != nil || string(media) != string(plain[i].Payload) {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	if _, err := StripTrailer([]byte{5, 9}); err == nil {
		t.Fatal("trailer longer than the payload")
	}
}
