package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// GenerateKey makes a new Ed25519 node key. Its public half is the node's
// libp2p peer ID and its identity in every network it joins.
func GenerateKey() (crypto.PrivKey, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	return key, nil
}

// MarshalKey encodes a node key for storage.
func MarshalKey(key crypto.PrivKey) ([]byte, error) {
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedKey, key.Type())
	}
	return crypto.MarshalPrivateKey(key)
}

// UnmarshalKey decodes a stored node key and refuses anything but Ed25519.
func UnmarshalKey(data []byte) (crypto.PrivKey, error) {
	if len(data) > 256 {
		return nil, fmt.Errorf("node key: %w (%d bytes)", ErrTooLarge, len(data))
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("node key: %w: %v", ErrMalformed, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("node key: %w: %s", ErrUnsupportedKey, key.Type())
	}
	// libp2p does not check that the stored public half belongs to the
	// seed; a key where it does not would sign with one key and claim
	// another peer ID.
	raw, err := key.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize ||
		subtle.ConstantTimeCompare(ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), raw) != 1 {
		return nil, fmt.Errorf("node key: %w: public half does not match the seed", ErrMalformed)
	}
	return key, nil
}
