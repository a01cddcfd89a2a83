package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha512"
	"fmt"
	"math/big"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A member's only key is its Ed25519 node key, and everything that needs a
// Diffie-Hellman key (follow tags, room keys wrapped with HPKE) uses the
// X25519 form of that same key, the standard way (RFC 7748's birational
// map for the public key, the RFC 8032 secret scalar for the private one,
// as libsodium's crypto_sign_ed25519_{pk,sk}_to_curve25519 do), so no
// second key has to be published or certified.

// X25519PrivateKey is the X25519 form of an Ed25519 node key: RFC 8032's
// secret scalar of the seed (the first half of its SHA-512; X25519 clamps
// it as Ed25519 does).
func X25519PrivateKey(key crypto.PrivKey) (*ecdh.PrivateKey, error) {
	if key == nil || key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("x25519 key: %w: want an Ed25519 key", ErrUnsupportedKey)
	}
	raw, err := key.Raw()
	if err != nil || len(raw) < 32 {
		return nil, fmt.Errorf("x25519 key: %w: unreadable Ed25519 key", ErrUnsupportedKey)
	}
	h := sha512.Sum512(raw[:32])
	priv, err := ecdh.X25519().NewPrivateKey(h[:32])
	if err != nil {
		return nil, fmt.Errorf("x25519 key: %w", err)
	}
	return priv, nil
}

// curveP is 2^255 - 19, the field of Curve25519.
var curveP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// X25519PublicKey is the X25519 form of the Ed25519 key in peer ID p (RFC
// 7748's map u = (1+y)/(1-y)). The key is public, so variable-time
// arithmetic is fine.
func X25519PublicKey(p peer.ID) (*ecdh.PublicKey, error) {
	pk, err := p.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("x25519 key: %w: %s carries no public key: %v", ErrUnsupportedKey, p, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("x25519 key: %w: %s has a %s key", ErrUnsupportedKey, p, pk.Type())
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("x25519 key: %w: %s's key is not 32 bytes", ErrUnsupportedKey, p)
	}
	le := bytes.Clone(raw)
	le[31] &= 0x7f // the sign of x: not needed for u
	y := new(big.Int).SetBytes(reversed(le))
	one := big.NewInt(1)
	den := new(big.Int).Sub(one, y)
	den.Mod(den, curveP)
	if den.Sign() == 0 {
		return nil, fmt.Errorf("x25519 key: %w: %s's key is the identity point", ErrUnsupportedKey, p)
	}
	u := new(big.Int).Add(one, y)
	u.Mul(u, den.ModInverse(den, curveP))
	u.Mod(u, curveP)
	out := make([]byte, 32)
	u.FillBytes(out)
	return ecdh.X25519().NewPublicKey(reversed(out))
}

// reversed reverses b in place (little- to big-endian and back).
func reversed(b []byte) []byte {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}
