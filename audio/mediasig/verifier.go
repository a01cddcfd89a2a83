package mediasig

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/identity"
)

// Defaults and limits of a Verifier.
const (
	DefaultMaxPending = 64 // packets waiting for a signature: 1.3 s of one speaker
	maxMaxPending     = 1024
	DefaultMaxWait    = 500 * time.Millisecond
	maxFrames         = 8  // signature frames waiting for their packets
	ringSize          = 64 // verified batches remembered: a Window's worth at 4 per batch
)

// VerifierConfig sets up a Verifier.
type VerifierConfig struct {
	// Stream is the room and the speaker whose key must sign.
	Stream Stream
	// MaxPending bounds the packets held while they wait for their
	// signature; past it the oldest is dropped. Default DefaultMaxPending.
	MaxPending int
	// MaxWait is how long a packet or frame may wait for the rest of its
	// batch; then it is dropped as unverified. Default DefaultMaxWait.
	MaxWait time.Duration
	// MaxSkew is how far a frame's time may be from the verifier's clock.
	// Default identity.ClockSkew.
	MaxSkew time.Duration
	// OnFailure, if set, is called for every failure, after Push has done
	// its work, on Push's goroutine.
	OnFailure func(Failure)
}

// Packet is a packet a Verifier released: covered by a valid signature of
// the speaker.
type Packet struct {
	Header  rtp.Header // as received from the last hop (its SSRC and PT)
	Media   []byte     // the payload without the trailer: Opus, or SFrame
	Ext     uint64     // the signer's extended sequence number
	Arrival time.Time  // when the packet itself arrived (not its signature)
}

// Verifier checks one speaker's signed stream and releases only packets
// covered by a valid signature of that speaker: altered, injected or
// replayed packets, and packets reordered beyond Window, are never
// released. Safe for concurrent use.
type Verifier struct {
	mu         sync.Mutex
	pub        ed25519.PublicKey
	context    []byte
	maxPending int
	maxWait    time.Duration
	maxSkew    time.Duration
	onFailure  func(Failure)

	pending  map[uint16]*pendingPacket // by 16-bit sequence number
	frames   []*pendingFrame
	ring     [ringSize]batch
	ringNext int
	released window
	oldest   time.Time // no pending packet or frame arrived before this
	stats    Stats
	failures []Failure
	scratch  []byte
	digests  [][DigestSize]byte
}

type pendingPacket struct {
	hdr     rtp.Header
	media   []byte
	arrival time.Time
}

type pendingFrame struct {
	f       sigFrame
	arrival time.Time
}

// batch is a verified frame's cover and digests.
type batch struct {
	used     bool
	first    uint64
	cover    uint32
	digests  [MaxBatch][DigestSize]byte // in cover order
	sig      [sigSize]byte
	verified time.Time
}

// NewVerifier checks cfg and makes a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	ctx, err := cfg.Stream.context()
	if err != nil {
		return nil, err
	}
	pk, err := cfg.Stream.Speaker.ExtractPublicKey()
	if err != nil || pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("mediasig: speaker %s has no Ed25519 key", cfg.Stream.Speaker)
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("mediasig: unreadable speaker key")
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxPending < MaxBatch || cfg.MaxPending > maxMaxPending {
		return nil, fmt.Errorf("mediasig: max pending %d out of range (%d..%d)", cfg.MaxPending, MaxBatch, maxMaxPending)
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = identity.ClockSkew
	}
	if cfg.MaxWait < 0 || cfg.MaxSkew < 0 {
		return nil, errors.New("mediasig: negative wait or skew")
	}
	return &Verifier{pub: ed25519.PublicKey(raw), context: ctx, maxPending: cfg.MaxPending,
		maxWait: cfg.MaxWait, maxSkew: cfg.MaxSkew, onFailure: cfg.OnFailure,
		pending: map[uint16]*pendingPacket{}}, nil
}

// Stats returns the counters so far.
func (v *Verifier) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stats
}

// Push takes a packet of the stream that arrived at now and appends to dst
// the packets it releases: this one, or a whole batch whose signature it
// completed, in sequence order within a batch. Packets are copies; the
// caller may reuse pkt.
func (v *Verifier) Push(dst []Packet, pkt *rtp.Packet, now time.Time) []Packet {
	v.mu.Lock()
	dst = v.push(dst, pkt, now)
	failures := v.failures
	v.failures = nil
	v.mu.Unlock()
	if v.onFailure != nil {
		for _, f := range failures {
			v.onFailure(f)
		}
	}
	return dst
}

func (v *Verifier) push(dst []Packet, pkt *rtp.Packet, now time.Time) []Packet {
	v.expire(now)
	if pkt == nil || len(pkt.Payload) == 0 {
		return dst
	}
	v.stats.Packets++
	media, rawFrame, err := splitPayload(pkt.Payload)
	var f sigFrame
	if err == nil && rawFrame != nil {
		f, err = parseFrame(rawFrame)
	}
	if err != nil {
		v.fail(Malformed, pkt.SequenceNumber, err)
		return dst
	}
	if len(media) > 0 {
		dst = v.takePacket(dst, pkt, media, now)
	}
	if rawFrame != nil {
		f.raw = append([]byte(nil), f.raw...)
		dst = v.takeFrame(dst, &f, pkt.SequenceNumber, now)
	}
	return dst
}

func (v *Verifier) fail(k Kind, seq uint16, err error) {
	v.stats.count(k)
	v.failures = append(v.failures, Failure{Kind: k, Seq: seq, Err: err})
}

// takePacket handles a packet's media: checked against a verified batch if
// one covers it, else held until a frame does.
func (v *Verifier) takePacket(dst []Packet, pkt *rtp.Packet, media []byte, now time.Time) []Packet {
	seq := pkt.SequenceNumber
	if b, ext, i, ok := v.verifiedSeq(seq, now); ok {
		if digest(ext, pkt.Timestamp, pkt.Marker, media) != b.digests[i] {
			v.fail(BadPacket, seq, fmt.Errorf("packet %d differs from what its speaker signed", ext))
			return dst
		}
		return v.release(dst, pkt.Header, media, ext, now, true)
	}
	if p := v.pending[seq]; p != nil {
		if p.hdr.Timestamp == pkt.Timestamp && p.hdr.Marker == pkt.Marker && string(p.media) == string(media) {
			v.stats.Duplicates++
		} else {
			v.fail(Conflict, seq, fmt.Errorf("two different packets with sequence number %d", seq))
		}
		return dst
	}
	if len(v.pending) >= v.maxPending {
		v.evictOldest()
	}
	hdr := pkt.Header
	hdr.CSRC, hdr.Extensions, hdr.Extension = nil, nil, false
	v.pending[seq] = &pendingPacket{hdr: hdr, media: append([]byte(nil), media...), arrival: now}
	v.noteArrival(now)
	for i := 0; i < len(v.frames); i++ {
		pf := v.frames[i]
		if !coversSeq(&pf.f, seq) {
			continue
		}
		var done bool
		if dst, done = v.attempt(dst, &pf.f, now); done {
			v.frames = append(v.frames[:i], v.frames[i+1:]...)
			i--
		}
	}
	return dst
}

// takeFrame handles a signature frame: refused if stale, replayed or a
// repeat; else verified now if its packets are here (all, or all but one
// with parity), or held until they are.
func (v *Verifier) takeFrame(dst []Packet, f *sigFrame, seq uint16, now time.Time) []Packet {
	v.stats.Frames++
	signed := time.Unix(int64(f.time), 0)
	if now.Sub(signed) > v.maxSkew || signed.Sub(now) > v.maxSkew {
		v.fail(Stale, seq, fmt.Errorf("frame signed at %s", signed.UTC().Format(time.RFC3339)))
		return dst
	}
	if v.released.tooOld(f.last()) {
		v.fail(Replay, seq, fmt.Errorf("frame for packets %d..%d, behind the window", f.first, f.last()))
		return dst
	}
	repeat, overlap := false, false
	f.covered(func(ext uint64) {
		if b, _, ok := v.batchOf(ext); ok {
			overlap = true
			repeat = repeat || b.sig == f.sig
		}
	})
	for _, pf := range v.frames {
		repeat = repeat || pf.f.sig == f.sig
	}
	switch {
	case repeat:
		v.stats.Duplicates++
		return dst
	case overlap:
		v.fail(Replay, seq, fmt.Errorf("frame for packets %d..%d, already signed otherwise", f.first, f.last()))
		return dst
	}
	dst, done := v.attempt(dst, f, now)
	if done {
		return dst
	}
	if len(v.frames) >= maxFrames {
		v.fail(Unverified, seq, errors.New("too many frames waiting for their packets"))
		v.frames = v.frames[1:]
	}
	v.frames = append(v.frames, &pendingFrame{f: *f, arrival: now})
	v.noteArrival(now)
	return dst
}

// attempt verifies f if enough of its packets are here. done is false if
// it must wait for more; true if it was verified (its packets released)
// or failed.
func (v *Verifier) attempt(dst []Packet, f *sigFrame, now time.Time) ([]Packet, bool) {
	v.digests = v.digests[:0]
	missing, nmiss := -1, 0
	f.covered(func(ext uint64) {
		p := v.pending[uint16(ext)]
		if p == nil {
			missing, nmiss = len(v.digests), nmiss+1
			v.digests = append(v.digests, [DigestSize]byte{})
			return
		}
		v.digests = append(v.digests, digest(ext, p.hdr.Timestamp, p.hdr.Marker, p.media))
	})
	if nmiss > 1 || (nmiss == 1 && !f.hasParity()) {
		return dst, false
	}
	if nmiss == 1 {
		rec := f.parity
		for i, d := range v.digests {
			if i != missing {
				xorInto(&rec, d)
			}
		}
		v.digests[missing] = rec
	}
	v.scratch = signedMessage(v.scratch[:0], v.context, f.raw[:len(f.raw)-sigSize], v.digests)
	if !ed25519.Verify(v.pub, v.scratch, f.sig[:]) {
		v.fail(BadSignature, uint16(f.first), fmt.Errorf("signature over packets %d..%d does not verify", f.first, f.last()))
		return dst, true
	}
	v.stats.Verified++
	b := &v.ring[v.ringNext]
	v.ringNext = (v.ringNext + 1) % ringSize
	*b = batch{used: true, first: f.first, cover: f.cover, sig: f.sig, verified: now}
	copy(b.digests[:], v.digests)
	f.covered(func(ext uint64) {
		if p := v.pending[uint16(ext)]; p != nil {
			delete(v.pending, uint16(ext))
			dst = v.release(dst, p.hdr, p.media, ext, p.arrival, false)
		}
	})
	return dst, true
}

// release hands out a verified packet once.
func (v *Verifier) release(dst []Packet, hdr rtp.Header, media []byte, ext uint64, arrival time.Time, copyMedia bool) []Packet {
	if v.released.has(ext) {
		v.stats.Duplicates++
		return dst
	}
	v.released.add(ext)
	v.stats.Released++
	if copyMedia {
		media = append([]byte(nil), media...)
		hdr.CSRC, hdr.Extensions, hdr.Extension = nil, nil, false
	}
	return append(dst, Packet{Header: hdr, Media: media, Ext: ext, Arrival: arrival})
}

// verifiedSeq finds the verified batch, newest first, that covers the
// 16-bit sequence number seq. Batches verified longer than MaxWait ago are
// skipped: a packet that matches their numbers that late is more likely a
// restarted speaker's than a copy (it waits for its own frame instead).
func (v *Verifier) verifiedSeq(seq uint16, now time.Time) (*batch, uint64, int, bool) {
	for k := range ringSize {
		b := &v.ring[(v.ringNext-1-k+2*ringSize)%ringSize]
		if !b.used || now.Sub(b.verified) > v.maxWait {
			continue
		}
		off := uint64(seq - uint16(b.first))
		if off < MaxSpan && b.cover&(1<<off) != 0 {
			return b, b.first + off, coverIndex(b.cover, off), true
		}
	}
	return nil, 0, 0, false
}

// batchOf finds the verified batch that covers ext.
func (v *Verifier) batchOf(ext uint64) (*batch, int, bool) {
	for k := range v.ring {
		b := &v.ring[k]
		if b.used && ext >= b.first && ext-b.first < MaxSpan && b.cover&(1<<(ext-b.first)) != 0 {
			return b, coverIndex(b.cover, ext-b.first), true
		}
	}
	return nil, 0, false
}

// coverIndex is the position of bit off among the set bits of cover.
func coverIndex(cover uint32, off uint64) int {
	n := 0
	for c := cover & (1<<off - 1); c != 0; c &= c - 1 {
		n++
	}
	return n
}

func coversSeq(f *sigFrame, seq uint16) bool {
	off := uint64(seq - uint16(f.first))
	return off < MaxSpan && f.cover&(1<<off) != 0
}
