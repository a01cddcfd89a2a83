package mediasig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Wire constants of version 1.
const (
	version1     = 1
	flagParity   = 0x01
	knownFlags   = flagParity
	DigestSize   = 16 // bytes of a packet digest (SHA-256, truncated)
	sigSize      = ed25519.SignatureSize
	fixedSize    = 1 + 8 + 4 // version and flags, first sequence number, time
	minFrameSize = fixedSize + 1 + sigSize
	// MaxFrameSize is the longest signature frame: with parity and a
	// 32-bit cover in five varint bytes. It fits the trailer's length byte.
	MaxFrameSize = fixedSize + binary.MaxVarintLen32 + DigestSize + sigSize
	// MaxSpan is how many sequence numbers one frame's cover may span.
	MaxSpan = 32
	// MaxBatch is the most packets one frame may cover.
	MaxBatch = 16
	// MaxPayload bounds an RTP payload the verifier accepts: more than any
	// MTU-sized packet, so anything larger is not from a signer.
	MaxPayload = 1500
)

// ErrMalformed: a payload whose trailer or signature frame does not parse.
var ErrMalformed = errors.New("mediasig: malformed")

// Stream names what a speaker signs: their audio in one room. Binding the
// room means audio signed for one room cannot be replayed into another;
// the speaker's peer ID carries the Ed25519 key that signs.
type Stream struct {
	Room    string
	Speaker peer.ID
}

// maxRoomBytes bounds the room name in the signed context.
const maxRoomBytes = 128

// context is what every signed message of the stream starts with.
func (s Stream) context() ([]byte, error) {
	if s.Room == "" || len(s.Room) > maxRoomBytes {
		return nil, fmt.Errorf("mediasig: room name of %d bytes (1..%d)", len(s.Room), maxRoomBytes)
	}
	if s.Speaker == "" {
		return nil, errors.New("mediasig: no speaker")
	}
	b := []byte("clubnode/mediasig/v1\x00")
	b = binary.AppendUvarint(b, uint64(len(s.Room)))
	b = append(b, s.Room...)
	b = binary.AppendUvarint(b, uint64(len(s.Speaker)))
	return append(b, s.Speaker...), nil
}

// sigFrame is a parsed signature frame.
type sigFrame struct {
	flags  byte
	first  uint64 // extended sequence number of the first covered packet
	time   uint32 // signer's clock, Unix seconds
	cover  uint32 // bit i: packet first+i is covered; bit 0 always set
	parity [DigestSize]byte
	sig    [sigSize]byte
	raw    []byte // the encoded frame (aliases the payload it came from)
}

func (f *sigFrame) hasParity() bool { return f.flags&flagParity != 0 }

// count is how many packets the frame covers.
func (f *sigFrame) count() int { return bits.OnesCount32(f.cover) }

// last is the extended sequence number of the last covered packet.
func (f *sigFrame) last() uint64 { return f.first + uint64(31-bits.LeadingZeros32(f.cover)) }

// covered calls fn with each covered extended sequence number, in order.
func (f *sigFrame) covered(fn func(ext uint64)) {
	for c := f.cover; c != 0; c &= c - 1 {
		fn(f.first + uint64(bits.TrailingZeros32(c)))
	}
}

// appendFrame encodes f's fields (not raw) without the signature; the
// caller appends the signature.
func (f *sigFrame) appendUnsigned(b []byte) []byte {
	b = append(b, version1<<4|f.flags)
	b = binary.BigEndian.AppendUint64(b, f.first)
	b = binary.BigEndian.AppendUint32(b, f.time)
	b = binary.AppendUvarint(b, uint64(f.cover))
	if f.hasParity() {
		b = append(b, f.parity[:]...)
	}
	return b
}

// parseFrame decodes a signature frame that must fill data exactly.
func parseFrame(data []byte) (sigFrame, error) {
	var f sigFrame
	if len(data) < minFrameSize || len(data) > MaxFrameSize {
		return f, fmt.Errorf("%w: signature frame of %d bytes", ErrMalformed, len(data))
	}
	if v := data[0] >> 4; v != version1 {
		return f, fmt.Errorf("%w: signature frame version %d", ErrMalformed, v)
	}
	f.flags = data[0] & 0x0f
	if f.flags&^knownFlags != 0 {
		return f, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, f.flags)
	}
	f.first = binary.BigEndian.Uint64(data[1:])
	f.time = binary.BigEndian.Uint32(data[9:])
	rest := data[fixedSize:]
	cover, n := binary.Uvarint(rest)
	if n <= 0 || cover > 1<<MaxSpan-1 || n != uvarintLen(cover) {
		return f, fmt.Errorf("%w: cover", ErrMalformed)
	}
	f.cover = uint32(cover)
	if f.cover&1 == 0 || f.count() > MaxBatch || f.first > f.first+MaxSpan {
		return f, fmt.Errorf("%w: cover %#x from %d", ErrMalformed, f.cover, f.first)
	}
	rest = rest[n:]
	if f.hasParity() {
		if len(rest) < DigestSize {
			return f, fmt.Errorf("%w: short parity", ErrMalformed)
		}
		copy(f.parity[:], rest)
		rest = rest[DigestSize:]
	}
	if len(rest) != sigSize {
		return f, fmt.Errorf("%w: %d bytes where the signature is", ErrMalformed, len(rest))
	}
	copy(f.sig[:], rest)
	f.raw = data
	return f, nil
}

func uvarintLen(v uint64) int { return len(binary.AppendUvarint(nil, v)) }

// splitPayload separates a signed stream's RTP payload into the media and
// the signature frame, if any. The last byte is the frame's length, 0 for
// none.
func splitPayload(payload []byte) (media, frame []byte, err error) {
	if len(payload) == 0 {
		return nil, nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if len(payload) > MaxPayload {
		return nil, nil, fmt.Errorf("%w: payload of %d bytes", ErrMalformed, len(payload))
	}
	l := int(payload[len(payload)-1])
	body := payload[:len(payload)-1]
	if l > len(body) {
		return nil, nil, fmt.Errorf("%w: trailer of %d bytes in a %d-byte payload", ErrMalformed, l, len(payload))
	}
	if l == 0 {
		return body, nil, nil
	}
	return body[:len(body)-l], body[len(body)-l:], nil
}

// StripTrailer returns the media of a signed stream's payload without
// checking anything: for tools that read a signed stream they trust (a
// recording made after verification). Players use a Verifier.
func StripTrailer(payload []byte) ([]byte, error) {
	media, _, err := splitPayload(payload)
	return media, err
}

// digest is a packet's digest: what survives every hop (extended sequence
// number, timestamp, marker, media), hashed. SSRC and payload type are
// rewritten per link and left out; the stream and speaker are bound by the
// signed message instead.
func digest(ext uint64, ts uint32, marker bool, media []byte) [DigestSize]byte {
	var hdr [len(packetDomain) + 13]byte
	copy(hdr[:], packetDomain)
	binary.BigEndian.PutUint64(hdr[len(packetDomain):], ext)
	binary.BigEndian.PutUint32(hdr[len(packetDomain)+8:], ts)
	if marker {
		hdr[len(packetDomain)+12] = 1
	}
	h := sha256.New()
	h.Write(hdr[:])
	h.Write(media)
	var sum [sha256.Size]byte
	var out [DigestSize]byte
	copy(out[:], h.Sum(sum[:0]))
	return out
}

const packetDomain = "clubnode/mediasig/v1 packet\x00"

// signedMessage is what the Ed25519 signature covers: the stream context,
// the frame without its signature, then the covered packets' digests in
// sequence order.
func signedMessage(dst, context, unsigned []byte, digests [][DigestSize]byte) []byte {
	dst = append(dst, context...)
	dst = append(dst, unsigned...)
	for i := range digests {
		dst = append(dst, digests[i][:]...)
	}
	return dst
}

func xorInto(dst *[DigestSize]byte, d [DigestSize]byte) {
	for i := range dst {
		dst[i] ^= d[i]
	}
}
