package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Suite is an SFrame cipher suite, by its value in the RFC's registry
// (Section 8.1).
type Suite uint16

// The cipher suites of RFC 9605, Table 2.
const (
	AES128CTRHMACSHA256_80 Suite = 0x0001
	AES128CTRHMACSHA256_64 Suite = 0x0002
	AES128CTRHMACSHA256_32 Suite = 0x0003
	AES128GCMSHA256_128    Suite = 0x0004
	AES256GCMSHA512_128    Suite = 0x0005
)

// ErrUnknownSuite: a suite this package does not implement.
var ErrUnknownSuite = errors.New("sframe: unknown cipher suite")

// params are a suite's constants (RFC 9605, Table 1).
type params struct {
	name    string
	newHash func() hash.Hash
	nh      int // hash output size
	nka     int // AES key size of the CTR-HMAC construction; 0 for GCM
	nk, nn  int // AEAD key and nonce sizes
	nt      int // tag size
	ctrHMAC bool
}

var suites = map[Suite]params{
	AES128CTRHMACSHA256_80: {name: "AES_128_CTR_HMAC_SHA256_80", newHash: sha256.New, nh: 32, nka: 16, nk: 48, nn: 12, nt: 10, ctrHMAC: true},
	AES128CTRHMACSHA256_64: {name: "AES_128_CTR_HMAC_SHA256_64", newHash: sha256.New, nh: 32, nka: 16, nk: 48, nn: 12, nt: 8, ctrHMAC: true},
	AES128CTRHMACSHA256_32: {name: "AES_128_CTR_HMAC_SHA256_32", newHash: sha256.New, nh: 32, nka: 16, nk: 48, nn: 12, nt: 4, ctrHMAC: true},
	AES128GCMSHA256_128:    {name: "AES_128_GCM_SHA256_128", newHash: sha256.New, nh: 32, nk: 16, nn: 12, nt: 16},
	AES256GCMSHA512_128:    {name: "AES_256_GCM_SHA512_128", newHash: sha512.New, nh: 64, nk: 32, nn: 12, nt: 16},
}

func (s Suite) params() (params, error) {
	p, ok := suites[s]
	if !ok {
		return params{}, fmt.Errorf("%w: 0x%04x", ErrUnknownSuite, uint16(s))
	}
	return p, nil
}

// Valid reports whether the package implements s.
func (s Suite) Valid() bool {
	_, ok := suites[s]
	return ok
}

func (s Suite) String() string {
	if p, ok := suites[s]; ok {
		return p.name
	}
	return fmt.Sprintf("suite(0x%04x)", uint16(s))
}

// Overhead is the tag length: what encryption adds to a frame besides the
// header.
func (s Suite) Overhead() int { return suites[s].nt }

// newAEAD makes the suite's AEAD from an sframe_key of nk bytes.
func (p params) newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != p.nk {
		return nil, fmt.Errorf("sframe: %s key is %d bytes, want %d", p.name, len(key), p.nk)
	}
	if p.ctrHMAC {
		return newCTRHMAC(key[:p.nka], key[p.nka:], p.newHash, p.nt)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sframe: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sframe: %w", err)
	}
	return gcm, nil
}

// ctrHMAC is the synthetic AEAD of RFC 9605 Section 4.5.1: AES-CTR, then an
// HMAC over the lengths, nonce, AAD and ciphertext, truncated to nt bytes.
// Not safe for concurrent use (the HMAC state is reused across calls).
type ctrHMAC struct {
	block cipher.Block
	mac   hash.Hash
	nt    int
	sum   []byte
}

func newCTRHMAC(encKey, authKey []byte, newHash func() hash.Hash, nt int) (*ctrHMAC, error) {
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("sframe: %w", err)
	}
	mac := hmac.New(newHash, authKey)
	return &ctrHMAC{block: block, mac: mac, nt: nt, sum: make([]byte, 0, mac.Size())}, nil
}

const nonceSize = 12

func (c *ctrHMAC) NonceSize() int { return nonceSize }
func (c *ctrHMAC) Overhead() int  { return c.nt }

// tag computes compute_tag(auth_key, nonce, aad, ct).
func (c *ctrHMAC) tag(nonce, aad, ct []byte) []byte {
	var lens [24]byte
	binary.BigEndian.PutUint64(lens[0:], uint64(len(aad)))
	binary.BigEndian.PutUint64(lens[8:], uint64(len(ct)))
	binary.BigEndian.PutUint64(lens[16:], uint64(c.nt))
	c.mac.Reset()
	c.mac.Write(lens[:])
	c.mac.Write(nonce)
	c.mac.Write(aad)
	c.mac.Write(ct)
	c.sum = c.mac.Sum(c.sum[:0])
	return c.sum[:c.nt]
}

func (c *ctrHMAC) stream(nonce []byte) cipher.Stream {
	var iv [aes.BlockSize]byte // nonce followed by a 32-bit block counter from 0
	copy(iv[:], nonce)
	return cipher.NewCTR(c.block, iv[:])
}

// Seal is cipher.AEAD's: nonce must be NonceSize bytes, which every caller
// in this package guarantees.
func (c *ctrHMAC) Seal(dst, nonce, plaintext, aad []byte) []byte {
	out, ct := grow(dst, len(plaintext)+c.nt)
	ct = ct[:len(plaintext)]
	c.stream(nonce).XORKeyStream(ct, plaintext)
	tag := c.tag(nonce, aad, ct)
	copy(out[len(out)-c.nt:], tag)
	return out
}

var errAuth = errors.New("sframe: authentication failed")

func (c *ctrHMAC) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != nonceSize || len(ciphertext) < c.nt {
		return nil, errAuth
	}
	inner, tag := ciphertext[:len(ciphertext)-c.nt], ciphertext[len(ciphertext)-c.nt:]
	if !hmac.Equal(tag, c.tag(nonce, aad, inner)) {
		return nil, errAuth
	}
	out, pt := grow(dst, len(inner))
	c.stream(nonce).XORKeyStream(pt, inner)
	return out, nil
}

// grow extends dst by n bytes and returns the whole slice and the new part.
func grow(dst []byte, n int) (whole, tail []byte) {
	total := len(dst) + n
	if cap(dst) >= total {
		whole = dst[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, dst)
	}
	return whole, whole[len(dst):]
}
