package mediasig

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what went wrong with a packet or frame.
type Kind uint8

const (
	// Malformed: a trailer or signature frame that does not parse. No
	// signer makes one.
	Malformed Kind = iota + 1
	// BadSignature: a frame whose signature does not verify over the
	// packets received: the frame, or a packet it covers, was altered or
	// injected.
	BadSignature
	// BadPacket: a packet that differs from what a verified frame signed
	// for its sequence number.
	BadPacket
	// Conflict: a second, different packet with a pending packet's
	// sequence number (one of the two was injected).
	Conflict
	// Stale: a frame whose time is further from this clock than the
	// allowed skew: an old recording replayed, or a speaker whose clock is
	// wrong.
	Stale
	// Replay: a frame for packets behind the window, or one for packets
	// another frame signed already.
	Replay
	// Unverified: a packet or frame dropped after waiting MaxWait (or for
	// room) without completing a signed batch: lost signatures, lost
	// packets, or a relay withholding them.
	Unverified
	numKinds
)

var kindNames = [numKinds]string{Malformed: "malformed", BadSignature: "bad signature", BadPacket: "bad packet",
	Conflict: "conflict", Stale: "stale", Replay: "replay", Unverified: "unverified"}

func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Tampering reports whether a failure of this kind proves that someone
// between the speaker and here changed the stream: SRTP authenticates
// every hop, and honest relays forward payloads unchanged, so a malformed
// trailer, a bad signature, a packet that differs from its signed digest,
// or two versions of one packet cannot come from the network. Stale,
// Replay and Unverified can also come from clocks, late retransmissions
// and loss, so one of them proves nothing (many of them may).
func (k Kind) Tampering() bool {
	return k == Malformed || k == BadSignature || k == BadPacket || k == Conflict
}

// Failure is one refused packet or frame.
type Failure struct {
	Kind Kind
	Seq  uint16 // the RTP sequence number concerned
	Err  error
}

func (f Failure) Error() string {
	return fmt.Sprintf("mediasig: %s (seq %d): %v", f.Kind, f.Seq, f.Err)
}

// Stats counts what a Verifier did.
type Stats struct {
	Packets    uint64 // non-empty payloads pushed
	Frames     uint64 // signature frames received
	Verified   uint64 // frames whose signature verified
	Released   uint64 // packets released
	Duplicates uint64 // copies of packets or frames already handled (retransmissions)

	Malformed, BadSignature, BadPacket, Conflict, Stale, Replay, Unverified uint64
}

// Tampering is the number of failures that prove tampering.
func (s Stats) Tampering() uint64 { return s.Malformed + s.BadSignature + s.BadPacket + s.Conflict }

func (s *Stats) count(k Kind) {
	switch k {
	case Malformed:
		s.Malformed++
	case BadSignature:
		s.BadSignature++
	case BadPacket:
		s.BadPacket++
	case Conflict:
		s.Conflict++
	case Stale:
		s.Stale++
	case Replay:
		s.Replay++
	case Unverified:
		s.Unverified++
	}
}

var errExpired = errors.New("no signature covered it in time")

// expire drops packets and frames that waited longer than MaxWait.
func (v *Verifier) expire(now time.Time) {
	if v.oldest.IsZero() || now.Sub(v.oldest) <= v.maxWait {
		return
	}
	v.oldest = time.Time{}
	for seq, p := range v.pending {
		if now.Sub(p.arrival) > v.maxWait {
			delete(v.pending, seq)
			v.fail(Unverified, seq, errExpired)
			continue
		}
		v.noteArrival(p.arrival)
	}
	kept := v.frames[:0]
	for _, pf := range v.frames {
		if now.Sub(pf.arrival) > v.maxWait {
			v.fail(Unverified, uint16(pf.f.first), errors.New("its packets did not arrive in time"))
			continue
		}
		kept = append(kept, pf)
		v.noteArrival(pf.arrival)
	}
	clear(v.frames[len(kept):])
	v.frames = kept
}

// noteArrival keeps oldest at the earliest arrival still held.
func (v *Verifier) noteArrival(t time.Time) {
	if v.oldest.IsZero() || t.Before(v.oldest) {
		v.oldest = t
	}
}

// evictOldest drops the pending packet that arrived first, to make room.
func (v *Verifier) evictOldest() {
	var seq uint16
	var first *pendingPacket
	for s, p := range v.pending {
		if first == nil || p.arrival.Before(first.arrival) {
			seq, first = s, p
		}
	}
	if first != nil {
		delete(v.pending, seq)
		v.fail(Unverified, seq, errors.New("dropped to make room"))
	}
}
