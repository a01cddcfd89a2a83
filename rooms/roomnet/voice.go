package roomnet

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// voice keeps this node's own outgoing stream in one room continuous. What
// a node speaks comes from a succession of local sessions (one WHIP client
// after another, each with its own SSRC, sequence numbers and timestamps),
// but downstream it is one speaker's stream: SRTP on every hop refuses a
// sequence number that jumps backwards as a replay, and jitter buffers
// take a timestamp jump backwards for a restart. So each new source is
// shifted to carry on where the last one stopped, with the time between
// them kept as a pause.
type voice struct {
	mu       sync.Mutex
	started  bool
	ssrc     uint32 // the current source's SSRC
	lastIn   uint16
	seqShift uint16
	tsShift  uint32
	lastSeq  uint16 // last sequence number sent
	lastTS   uint32 // last timestamp sent
	lastAt   time.Time
	lastHdr  rtp.Header // the last packet's header, for tail
}

// maxSeqJump is how far a source's sequence number may move between two
// packets and still be the same source (RFC 3550's misorder bound).
const maxSeqJump = 100

// rewrite returns pkt shifted onto the stream, as a copy.
func (v *voice) rewrite(pkt *rtp.Packet, now time.Time) *rtp.Packet {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := pkt.Clone()
	jump := int16(pkt.SequenceNumber - v.lastIn)
	if v.started && (pkt.SSRC != v.ssrc || jump > maxSeqJump || jump < -maxSeqJump) {
		// A new source: continue the sequence, and the clock after the
		// pause (48 samples per millisecond, at least one frame on).
		pause := uint32(max(now.Sub(v.lastAt).Milliseconds(), 20)) * 48
		v.seqShift = v.lastSeq + 1 - pkt.SequenceNumber
		v.tsShift = v.lastTS + pause - pkt.Timestamp
	}
	v.started, v.ssrc, v.lastIn = true, pkt.SSRC, pkt.SequenceNumber
	out.SequenceNumber = pkt.SequenceNumber + v.seqShift
	out.Timestamp = pkt.Timestamp + v.tsShift
	if int16(out.SequenceNumber-v.lastSeq) > 0 || v.lastAt.IsZero() {
		v.lastSeq, v.lastTS = out.SequenceNumber, out.Timestamp
	}
	v.lastAt = now
	v.lastHdr = out.Header
	return out
}

// tail reserves the stream's next sequence number for a packet without
// media that carries the signature of the last packets (signTail): the
// source's later packets are shifted one further, so none of them takes
// that number. false before the first packet.
func (v *voice) tail() (*rtp.Packet, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.started {
		return nil, false
	}
	v.lastSeq++
	v.seqShift++
	hdr := v.lastHdr
	hdr.SequenceNumber, hdr.Timestamp, hdr.Marker = v.lastSeq, v.lastTS, false
	hdr.CSRC, hdr.Extension, hdr.Extensions = nil, false, nil
	return &rtp.Packet{Header: hdr}, true
}
