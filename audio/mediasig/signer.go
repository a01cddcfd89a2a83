package mediasig

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"
)

// DefaultBatch is how many packets one signature covers unless configured:
// 4 packets of 20 ms, so the first packet of a batch waits 60 ms for its
// signature (see the package comment for the arithmetic).
const DefaultBatch = 4

// SignerConfig sets up a Signer.
type SignerConfig struct {
	// Stream is the room and speaker; Key must be the speaker's.
	Stream Stream
	// Key is the speaker's Ed25519 node key.
	Key crypto.PrivKey
	// Batch is how many packets a signature covers: 1..MaxBatch, default
	// DefaultBatch.
	Batch int
	// NoParity leaves the parity digest out of frames: 16 bytes less per
	// batch, but a batch with a lost packet can no longer be verified
	// until the packet arrives.
	NoParity bool
	// Now is the clock; default time.Now. It stamps frames and seeds the
	// extended sequence numbers.
	Now func() time.Time
}

// ErrDuplicate: Sign was given a sequence number it has signed or batched
// already.
var ErrDuplicate = errors.New("mediasig: sequence number already signed")

// Signer signs one speaker's outgoing RTP stream: it appends a one-byte
// trailer to every payload, and every Batch packets (or when told to
// flush) a signature frame covering the packets since the last one. Safe
// for concurrent use, though a stream has one writer.
type Signer struct {
	mu      sync.Mutex
	priv    ed25519.PrivateKey
	context []byte
	batch   int
	parity  bool
	now     func() time.Time

	started bool
	high    uint64 // highest extended sequence number seen
	pending []pendingSign
	signed  window // what was signed, to refuse duplicates
	scratch []byte
}

type pendingSign struct {
	ext    uint64
	digest [DigestSize]byte
}

// NewSigner checks cfg and makes a Signer.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if cfg.Key == nil || cfg.Key.Type() != crypto.Ed25519 {
		return nil, errors.New("mediasig: signer needs an Ed25519 key")
	}
	id, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("mediasig: %w", err)
	}
	if id != cfg.Stream.Speaker {
		return nil, fmt.Errorf("mediasig: key is %s's, stream is %s's", id, cfg.Stream.Speaker)
	}
	ctx, err := cfg.Stream.context()
	if err != nil {
		return nil, err
	}
	raw, err := cfg.Key.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, errors.New("mediasig: unreadable Ed25519 key")
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Batch < 1 || cfg.Batch > MaxBatch {
		return nil, fmt.Errorf("mediasig: batch %d out of range (1..%d)", cfg.Batch, MaxBatch)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Signer{priv: ed25519.PrivateKey(raw), context: ctx, batch: cfg.Batch,
		parity: !cfg.NoParity, now: cfg.Now}, nil
}

// Sign returns a copy of pkt whose payload carries the trailer, and a
// signature frame when the batch is full or flush is set. A packet with an
// empty payload is never covered itself; with flush, it carries the
// signature of what is pending (the way to sign the tail of a stream that
// stops: send one more, empty, packet with the next sequence number).
// The packet must follow the stream's sequence numbers (they are extended
// to 64 bits here); one already signed is refused with ErrDuplicate.
func (s *Signer) Sign(pkt *rtp.Packet, flush bool) (*rtp.Packet, error) {
	if len(pkt.Payload) > MaxPayload-MaxFrameSize-1 {
		return nil, fmt.Errorf("mediasig: payload of %d bytes is too long to sign", len(pkt.Payload))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ext := s.extend(pkt.SequenceNumber)
	if s.signed.has(ext) || slices.ContainsFunc(s.pending, func(p pendingSign) bool { return p.ext == ext }) {
		return nil, fmt.Errorf("%w: %d", ErrDuplicate, pkt.SequenceNumber)
	}
	var frame []byte
	media := len(pkt.Payload) > 0
	if media && len(s.pending) > 0 && !fits(s.pending, ext) {
		// Out of the current batch's span: sign the batch here, start anew.
		frame = s.closeBatch()
	}
	if media {
		s.pending = append(s.pending, pendingSign{ext: ext, digest: digest(ext, pkt.Timestamp, pkt.Marker, pkt.Payload)})
		s.signed.add(ext)
	}
	if frame == nil && len(s.pending) > 0 && (len(s.pending) >= s.batch || flush) {
		frame = s.closeBatch()
	}
	out := *pkt
	out.Header.CSRC = slices.Clone(pkt.CSRC)
	out.Header.Extensions = nil
	out.Header.Extension = false
	payload := make([]byte, 0, len(pkt.Payload)+len(frame)+1)
	payload = append(append(payload, pkt.Payload...), frame...)
	out.Payload = append(payload, byte(len(frame)))
	return &out, nil
}

// Pending is how many packets wait for a signature.
func (s *Signer) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// extend maps a 16-bit sequence number to 64 bits. The first one starts at
// the clock's Unix milliseconds times 2^16, so a speaker whose node
// restarts continues above every number it used before (a verifier refuses
// numbers that go back as replays) without storing anything.
func (s *Signer) extend(seq uint16) uint64 {
	if !s.started {
		s.started = true
		s.high = uint64(s.now().UnixMilli())<<16 | uint64(seq)
		return s.high
	}
	ext := s.high + uint64(int64(int16(seq-uint16(s.high))))
	if ext > s.high {
		s.high = ext
	}
	return ext
}

// fits reports whether ext can join the batch: within MaxSpan of its
// lowest packet, not before it.
func fits(batch []pendingSign, ext uint64) bool {
	lo := batch[0].ext
	for _, p := range batch[1:] {
		lo = min(lo, p.ext)
	}
	return ext > lo && ext-lo < MaxSpan
}

// closeBatch signs the pending packets and returns the frame.
func (s *Signer) closeBatch() []byte {
	slices.SortFunc(s.pending, func(a, b pendingSign) int { return cmp.Compare(a.ext, b.ext) })
	f := sigFrame{first: s.pending[0].ext, time: uint32(s.now().Unix())}
	digests := make([][DigestSize]byte, len(s.pending))
	for i, p := range s.pending {
		f.cover |= 1 << (p.ext - f.first)
		digests[i] = p.digest
		xorInto(&f.parity, p.digest)
	}
	if s.parity {
		f.flags |= flagParity
	}
	unsigned := f.appendUnsigned(make([]byte, 0, MaxFrameSize))
	s.scratch = signedMessage(s.scratch[:0], s.context, unsigned, digests)
	frame := append(unsigned, ed25519.Sign(s.priv, s.scratch)...)
	s.pending = s.pending[:0]
	return frame
}
