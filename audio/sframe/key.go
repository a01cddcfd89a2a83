package sframe

import (
	"crypto/cipher"
	"crypto/hkdf"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrDecrypt: the frame does not authenticate under its key (altered,
// forged, or encrypted with another key).
var ErrDecrypt = errors.New("sframe: decryption failed")

// MinBaseKey is the shortest base key accepted: a base key is the only
// secret, so less than 128 bits is refused.
const MinBaseKey = 16

// Key is one KID's keys: the AEAD keyed with sframe_key, and sframe_salt.
// Not safe for concurrent use; Sender and Receiver serialize their calls.
type Key struct {
	suite Suite
	kid   uint64
	aead  aead
	salt  [nonceSize]byte
}

// aead is the part of cipher.AEAD this package uses.
type aead interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	Overhead() int
}

// DeriveKey runs derive_key_salt (RFC 9605 Section 4.4.2) for kid and
// baseKey under suite.
func DeriveKey(suite Suite, kid uint64, baseKey []byte) (*Key, error) {
	p, err := suite.params()
	if err != nil {
		return nil, err
	}
	if len(baseKey) < MinBaseKey {
		return nil, fmt.Errorf("sframe: base key of %d bytes, want at least %d", len(baseKey), MinBaseKey)
	}
	key, salt, err := deriveKeySalt(p, suite, kid, baseKey)
	if err != nil {
		return nil, err
	}
	a, err := p.newAEAD(key)
	if err != nil {
		return nil, err
	}
	k := &Key{suite: suite, kid: kid, aead: a}
	copy(k.salt[:], salt)
	return k, nil
}

// deriveKeySalt returns sframe_key and sframe_salt.
func deriveKeySalt(p params, suite Suite, kid uint64, baseKey []byte) (key, salt []byte, err error) {
	secret, err := hkdf.Extract(p.newHash, baseKey, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("sframe: extract: %w", err)
	}
	if key, err = hkdf.Expand(p.newHash, secret, label("SFrame 1.0 Secret key ", kid, suite), p.nk); err != nil {
		return nil, nil, fmt.Errorf("sframe: expand key: %w", err)
	}
	if salt, err = hkdf.Expand(p.newHash, secret, label("SFrame 1.0 Secret salt ", kid, suite), p.nn); err != nil {
		return nil, nil, fmt.Errorf("sframe: expand salt: %w", err)
	}
	return key, salt, nil
}

// label is prefix + KID (8 bytes, big-endian) + cipher suite (2 bytes).
func label(prefix string, kid uint64, suite Suite) string {
	b := make([]byte, 0, len(prefix)+10)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, kid)
	b = binary.BigEndian.AppendUint16(b, uint16(suite))
	return string(b)
}

// Suite is the key's cipher suite.
func (k *Key) Suite() Suite { return k.suite }

// KID is the key's KID.
func (k *Key) KID() uint64 { return k.kid }

// nonce is sframe_salt XOR CTR (big-endian, right-aligned).
func (k *Key) nonce(ctr uint64) [nonceSize]byte {
	n := k.salt
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], ctr)
	for i := range c {
		n[nonceSize-8+i] ^= c[i]
	}
	return n
}

// Seal encrypts plaintext as the frame with counter ctr (RFC 9605 Section
// 4.4.3) and appends header and ciphertext to dst. The AAD is the header
// followed by metadata. The caller must never use a (key, ctr) pair twice;
// Sender does that bookkeeping.
func (k *Key) Seal(dst []byte, ctr uint64, metadata, plaintext []byte) []byte {
	start := len(dst)
	dst = Header{KID: k.kid, CTR: ctr}.Append(dst)
	hdrEnd := len(dst)
	aad := dst[start:hdrEnd]
	if len(metadata) > 0 {
		aad = append(append(make([]byte, 0, len(aad)+len(metadata)), aad...), metadata...)
	}
	nonce := k.nonce(ctr)
	return k.aead.Seal(dst, nonce[:], plaintext, aad)
}

// Open decrypts frame, whose header must name this key's KID, and appends
// the plaintext to dst. It returns the frame's header, so the caller can
// check its CTR against a replay window.
func (k *Key) Open(dst, metadata, frame []byte) ([]byte, Header, error) {
	h, n, err := ParseHeader(frame)
	if err != nil {
		return nil, Header{}, err
	}
	if h.KID != k.kid {
		return nil, h, fmt.Errorf("%w: frame has KID %d, key is %d", ErrDecrypt, h.KID, k.kid)
	}
	return k.open(dst, metadata, frame, h, n)
}

func (k *Key) open(dst, metadata, frame []byte, h Header, n int) ([]byte, Header, error) {
	if len(frame)-n < k.aead.Overhead() {
		return nil, h, fmt.Errorf("%w: %d bytes after the header, the tag alone is %d", ErrMalformed, len(frame)-n, k.aead.Overhead())
	}
	aad := frame[:n]
	if len(metadata) > 0 {
		aad = append(append(make([]byte, 0, n+len(metadata)), aad...), metadata...)
	}
	nonce := k.nonce(h.CTR)
	out, err := k.aead.Open(dst, nonce[:], frame[n:], aad)
	if err != nil {
		return nil, h, fmt.Errorf("%w: KID %d CTR %d", ErrDecrypt, h.KID, h.CTR)
	}
	return out, h, nil
}

var _ aead = cipher.AEAD(nil)
