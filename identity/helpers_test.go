package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

// t0 is the fixed "now" of the tests: every object is made at or after it.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testKey is a deterministic Ed25519 key named by label, so that fuzz seeds
// and the crashers kept in testdata/fuzz stay meaningful from run to run.
func testKey(tb testing.TB, label string) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	seed := sha256.Sum256([]byte("clubnode identity test key: " + label))
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return key, id
}

// member is one node of a test network: its key and its membership chain.
type member struct {
	key   crypto.PrivKey
	id    peer.ID
	chain *Chain
}

// world is a small network: founder F invites B, B invites C, C invites D;
// F also invites E, a sibling of B.
//
//	F ─┬─ B ── C ── D
//	   └─ E
type world struct {
	charter    *SignedCharter
	network    NetworkID
	F, B, C, D *member
	E          *member
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	fk, fid := testKey(tb, "F")
	charter, err := FoundNetwork(fk, "test club", t0)
	if err != nil {
		tb.Fatal(err)
	}
	w := &world{charter: charter, network: charter.Network}
	w.F = &member{key: fk, id: fid, chain: FounderChain(charter)}
	w.B = w.invite(tb, w.F, "B", t0.Add(time.Hour))
	w.C = w.invite(tb, w.B, "C", t0.Add(2*time.Hour))
	w.D = w.invite(tb, w.C, "D", t0.Add(3*time.Hour))
	w.E = w.invite(tb, w.F, "E", t0.Add(4*time.Hour))
	return w
}

// invite makes a new member called label, invited by inviter at now.
func (w *world) invite(tb testing.TB, inviter *member, label string, now time.Time) *member {
	tb.Helper()
	key, id := testKey(tb, label)
	cert, err := IssueCert(inviter.key, inviter.chain, id, now)
	if err != nil {
		tb.Fatalf("%s invites %s: %v", inviter.id, label, err)
	}
	chain, err := inviter.chain.Extend(cert)
	if err != nil {
		tb.Fatalf("extend chain for %s: %v", label, err)
	}
	return &member{key: key, id: id, chain: chain}
}

// rawRecord seals arbitrary payload bytes under a chosen domain and payload
// type: it lets a test sign what the real constructors would refuse to make.
type rawRecord struct {
	domain  string
	codec   []byte
	payload []byte
}

func (r *rawRecord) Domain() string                    { return r.domain }
func (r *rawRecord) Codec() []byte                     { return r.codec }
func (r *rawRecord) MarshalRecord() ([]byte, error)    { return r.payload, nil }
func (r *rawRecord) UnmarshalRecord(data []byte) error { r.payload = data; return nil }

// sealAs signs payload with key as if it were a record of the same type as
// like (same domain, same payload type) and returns the envelope bytes.
func sealAs(tb testing.TB, like record.Record, key crypto.PrivKey, payload []byte) []byte {
	tb.Helper()
	env, err := record.Seal(&rawRecord{domain: like.Domain(), codec: like.Codec(), payload: payload}, key)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := env.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// sealWire encodes v (a wire struct or any test struct) with the package's
// own deterministic encoder and seals it like a record of like's type.
func sealWire(tb testing.TB, like record.Record, key crypto.PrivKey, v any) []byte {
	tb.Helper()
	payload, err := marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return sealAs(tb, like, key, payload)
}

// certWireOf is the wire form of a certificate, for tests to alter.
func certWireOf(c Cert) certWire {
	return certWire{V: Version, Network: string(c.Network), Member: []byte(c.Member),
		Inviter: []byte(c.Inviter), Issued: c.Issued.Unix(), Serial: c.Serial}
}

// forgeCert signs a certificate with key, whatever its fields say.
func forgeCert(tb testing.TB, key crypto.PrivKey, c Cert) []byte {
	tb.Helper()
	if c.Serial == nil {
		c.Serial = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	}
	return sealWire(tb, &Cert{}, key, certWireOf(c))
}

// mustParseCert parses a certificate the test made on purpose.
func mustParseCert(tb testing.TB, data []byte) *SignedCert {
	tb.Helper()
	c, err := ParseCert(data)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// chainBytes encodes a chain of arbitrary certificates, bypassing the link
// checks that Extend would make.
func chainBytes(charter *SignedCharter, certs ...*SignedCert) []byte {
	return (&Chain{Charter: charter, Certs: certs}).Marshal()
}

// wantErr fails unless err wraps one of want (or is nil when want is empty).
func wantErr(tb testing.TB, err error, want ...error) {
	tb.Helper()
	if len(want) == 0 {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("no error, want %v", want)
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	tb.Fatalf("error %q wraps none of %v", err, want)
}

// flip returns a copy of data with the byte at i xored with mask.
func flip(data []byte, i int, mask byte) []byte {
	out := bytes.Clone(data)
	out[i] ^= mask
	return out
}
