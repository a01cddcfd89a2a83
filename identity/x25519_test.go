package identity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The two conversions agree: the X25519 public key computed from a node's
// private key (a scalar multiplication) is the one anyone computes from
// its peer ID (the birational map), so two members share a secret.
func TestX25519FormsAgree(t *testing.T) {
	for range 20 {
		a, _ := GenerateKey()
		b, _ := GenerateKey()
		aID, _ := peer.IDFromPrivateKey(a)
		bID, _ := peer.IDFromPrivateKey(b)
		aPriv, err := X25519PrivateKey(a)
		if err != nil {
			t.Fatal(err)
		}
		aPub, err := X25519PublicKey(aID)
		if err != nil {
			t.Fatal(err)
		}
		if !aPriv.PublicKey().Equal(aPub) {
			t.Fatalf("%s: the private key's public half is not the peer ID's", aID)
		}
		bPriv, _ := X25519PrivateKey(b)
		bPub, _ := X25519PublicKey(bID)
		ab, err1 := aPriv.ECDH(bPub)
		ba, err2 := bPriv.ECDH(aPub)
		if err1 != nil || err2 != nil || !bytes.Equal(ab, ba) {
			t.Fatalf("shared secrets differ: %v %v", err1, err2)
		}
	}
}

func TestX25519RefusesOtherKeys(t *testing.T) {
	if _, err := X25519PrivateKey(nil); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("nil key: %v", err)
	}
	k, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := X25519PrivateKey(k); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("secp256k1 key: %v", err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	if _, err := X25519PublicKey(id); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("secp256k1 peer: %v", err)
	}
	if _, err := X25519PublicKey(peer.ID("not a peer id")); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("no key: %v", err)
	}
}
