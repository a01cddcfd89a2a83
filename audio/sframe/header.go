package sframe

import (
	"errors"
	"fmt"
	"math/bits"
)

// Header is an SFrame header: which key (KID) and which nonce (CTR) a frame
// was encrypted with.
type Header struct {
	KID uint64
	CTR uint64
}

// MaxHeaderSize is the longest header: the config byte and two 8-byte
// values.
const MaxHeaderSize = 17

// ErrMalformed: a frame too short for its header, or a header that is not
// in the RFC's minimal encoding.
var ErrMalformed = errors.New("sframe: malformed frame")

// Size is the length of h's encoding.
func (h Header) Size() int { return 1 + extraLen(h.KID) + extraLen(h.CTR) }

// extraLen is how many bytes follow the config byte for a value: none for
// 0-7, which fit in the config byte, else the minimum big-endian length.
func extraLen(v uint64) int {
	if v < 8 {
		return 0
	}
	return (bits.Len64(v) + 7) / 8
}

// Append appends h's encoding (RFC 9605 Section 4.3) to b.
func (h Header) Append(b []byte) []byte {
	kl, cl := extraLen(h.KID), extraLen(h.CTR)
	var config byte
	if kl == 0 {
		config |= byte(h.KID) << 4
	} else {
		config |= 0x80 | byte(kl-1)<<4
	}
	if cl == 0 {
		config |= byte(h.CTR)
	} else {
		config |= 0x08 | byte(cl-1)
	}
	b = append(b, config)
	b = appendBE(b, h.KID, kl)
	return appendBE(b, h.CTR, cl)
}

func appendBE(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// ParseHeader reads the header at the start of frame and returns it with
// its length. Values not in minimal form (a length byte where the value
// would fit in the config byte, or leading zero bytes) are refused: the RFC
// says they MUST be minimal, and two encodings of one header would let a
// relay change the AAD without changing the key or nonce.
func ParseHeader(frame []byte) (Header, int, error) {
	if len(frame) == 0 {
		return Header{}, 0, fmt.Errorf("%w: empty", ErrMalformed)
	}
	config := frame[0]
	n := 1
	var h Header
	var err error
	if h.KID, n, err = readValue(frame, n, config>>4); err != nil {
		return Header{}, 0, fmt.Errorf("KID: %w", err)
	}
	if h.CTR, n, err = readValue(frame, n, config&0x0f); err != nil {
		return Header{}, 0, fmt.Errorf("CTR: %w", err)
	}
	return h, n, nil
}

// readValue decodes one value from its 4-bit field of the config byte
// (flag and 3 bits) and the bytes at frame[at:].
func readValue(frame []byte, at int, field byte) (uint64, int, error) {
	if field&0x08 == 0 {
		return uint64(field & 0x07), at, nil
	}
	l := int(field&0x07) + 1
	if len(frame) < at+l {
		return 0, 0, fmt.Errorf("%w: %d-byte value past the end", ErrMalformed, l)
	}
	var v uint64
	for _, c := range frame[at : at+l] {
		v = v<<8 | uint64(c)
	}
	if extraLen(v) != l {
		return 0, 0, fmt.Errorf("%w: value %d not minimally encoded in %d bytes", ErrMalformed, v, l)
	}
	return v, at + l, nil
}
