package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

func TestKeyRoundTrip(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if key.Type() != crypto.Ed25519 {
		t.Fatalf("GenerateKey made a %s key", key.Type())
	}
	data, err := MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equals(key) {
		t.Fatal("key changed in a marshal/unmarshal round trip")
	}
	a, _ := peer.IDFromPrivateKey(key)
	b, _ := peer.IDFromPrivateKey(back)
	if a != b {
		t.Fatalf("peer ID changed: %s -> %s", a, b)
	}
}

func TestUnmarshalKeyRefuses(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpBytes, err := crypto.MarshalPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	ecdsa, _, err := crypto.GenerateECDSAKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecdsaBytes, err := crypto.MarshalPrivateKey(ecdsa)
	if err != nil {
		t.Fatal(err)
	}

	// An Ed25519 key whose public half does not belong to its seed (a
	// corrupted file): every signature made with it would fail to verify
	// against the peer ID it claims.
	good, _ := testKey(t, "mismatched")
	raw, _ := good.Raw()
	bad := bytes.Clone(raw)
	bad[ed25519.SeedSize] ^= 1
	mismatched, err := crypto.MarshalPrivateKey(mustEd25519(t, bad))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("not a key at all"), ErrMalformed},
		{"oversize", make([]byte, 257), ErrTooLarge},
		{"oversize valid prefix", append(mustMarshalKey(t, good), make([]byte, 256)...), ErrTooLarge},
		{"secp256k1", secpBytes, ErrUnsupportedKey},
		{"ecdsa", ecdsaBytes, ErrUnsupportedKey},
		{"truncated", mustMarshalKey(t, good)[:40], ErrMalformed},
		{"public half does not match seed", mismatched, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := UnmarshalKey(tt.data)
			if k != nil {
				t.Fatalf("returned a key with error %v", err)
			}
			wantErr(t, err, tt.want)
		})
	}
}

func TestMarshalKeyRefusesOtherTypes(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = MarshalKey(secp)
	wantErr(t, err, ErrUnsupportedKey)
	_, err = FoundNetwork(secp, "club", t0)
	wantErr(t, err, ErrUnsupportedKey)
}

// TestEnvelopeFromOtherKeyType: an envelope signed (validly) by a
// non-Ed25519 key is refused by type, before anything else.
func TestEnvelopeFromOtherKeyType(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(secp)
	payload, err := marshal(profileWire{V: Version, Network: "net-x", Peer: []byte(id), Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := record.Seal(&rawRecord{domain: (&Profile{}).Domain(), codec: (&Profile{}).Codec(), payload: payload}, secp)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := env.Marshal()
	_, err = ParseProfile(data)
	wantErr(t, err, ErrUnsupportedKey)
}

func mustEd25519(t *testing.T, raw []byte) crypto.PrivKey {
	t.Helper()
	k, err := crypto.UnmarshalEd25519PrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustMarshalKey(t *testing.T, k crypto.PrivKey) []byte {
	t.Helper()
	data, err := MarshalKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestNetworkID(t *testing.T) {
	fk, _ := testKey(t, "F")
	gk, _ := testKey(t, "G")
	id1, err := DeriveNetworkID(fk.GetPublic(), "club")
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := DeriveNetworkID(fk.GetPublic(), "club")
	if id1 != id2 {
		t.Fatal("network ID is not deterministic")
	}
	if !strings.HasPrefix(string(id1), "net-") || len(id1) != len("net-")+32 || strings.ToLower(string(id1)) != string(id1) {
		t.Fatalf("network ID %q is not net- and 32 lower-case base32 characters", id1)
	}
	other, _ := DeriveNetworkID(fk.GetPublic(), "club2")
	stolen, _ := DeriveNetworkID(gk.GetPublic(), "club")
	if other == id1 || stolen == id1 {
		t.Fatal("network ID does not depend on both founder and name")
	}
	charter, err := FoundNetwork(fk, "club", t0)
	if err != nil {
		t.Fatal(err)
	}
	if charter.Network != id1 {
		t.Fatalf("charter network %s, derived %s", charter.Network, id1)
	}
}

func TestFoundNetwork(t *testing.T) {
	fk, fid := testKey(t, "F")
	c, err := FoundNetwork(fk, "Friday club", t0.Add(1500*1e6))
	if err != nil {
		t.Fatal(err)
	}
	if c.Founder != fid || c.Name != "Friday club" || !c.Created.Equal(t0.Add(1e9)) {
		t.Fatalf("charter %+v", c.Charter)
	}
	again, err := ParseCharter(c.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if again.Network != c.Network || again.Founder != fid || !again.Created.Equal(c.Created) {
		t.Fatal("charter round trip changed it")
	}

	for _, name := range []string{"", "   ", "bad\x00name", "esc\x1b", "del\x7f", strings.Repeat("n", MaxNameLength+1), "\xff\xfe"} {
		if _, err := FoundNetwork(fk, name, t0); err == nil {
			t.Errorf("FoundNetwork accepted name %q", name)
		}
	}
	if _, err := FoundNetwork(fk, strings.Repeat("é", MaxNameLength), t0); err != nil {
		t.Errorf("a %d-character name with multi-byte characters: %v", MaxNameLength, err)
	}
}

func TestParseCharterRefuses(t *testing.T) {
	fk, fid := testKey(t, "F")
	_, gid := testKey(t, "G")
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"signed by someone else", sealWire(t, &Charter{}, fk, charterWire{V: Version, Name: "club", Founder: []byte(gid)}), ErrBadSignature},
		{"control character in name", sealWire(t, &Charter{}, fk, charterWire{V: Version, Name: "a\x01b", Founder: []byte(fid)}), ErrMalformed},
		{"empty name", sealWire(t, &Charter{}, fk, charterWire{V: Version, Name: "", Founder: []byte(fid)}), ErrMalformed},
		{"founder not a peer ID", sealWire(t, &Charter{}, fk, charterWire{V: Version, Name: "club", Founder: []byte("nope")}), ErrMalformed},
		{"empty", nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCharter(tt.data)
			wantErr(t, err, tt.want)
		})
	}
}
