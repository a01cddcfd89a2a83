package identity

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

// envelopeKind is one signed object type: how to parse it and a real one.
type envelopeKind struct {
	name  string
	like  record.Record // same domain and payload type
	parse func([]byte) error
	limit int
}

func envelopeKinds() []envelopeKind {
	return []envelopeKind{
		{"charter", &Charter{}, func(b []byte) error { _, err := ParseCharter(b); return err }, MaxCharterSize},
		{"cert", &Cert{}, func(b []byte) error { _, err := ParseCert(b); return err }, MaxCertSize},
		{"invite", &Invite{}, func(b []byte) error { _, err := ParseInvite(b); return err }, MaxInviteSize},
		{"revocation", &Revocation{}, func(b []byte) error { _, err := ParseRevocation(b); return err }, MaxRevocationSize},
		{"profile", &Profile{}, func(b []byte) error { _, err := ParseProfile(b); return err }, MaxProfileSize},
	}
}

// signedSamples makes one real object of each kind (two invites), with
// the key that signed it and its payload in wire form.
type signedSample struct {
	kind  envelopeKind
	name  string
	data  []byte
	key   crypto.PrivKey
	wire  any // the payload's wire struct, for tests to alter
	bytes func(any) []byte
}

func signedSamples(tb testing.TB) []signedSample {
	tb.Helper()
	w := newWorld(tb)
	now := t0.Add(24 * time.Hour)
	_, xid := testKey(tb, "X")
	kinds := envelopeKinds()
	bearer, err := NewInvite(w.C.key, w.C.chain, InviteOptions{Uses: 2, Expires: now.Add(time.Hour), Bootstrap: testBootstrap}, now)
	if err != nil {
		tb.Fatal(err)
	}
	bound, err := NewInvite(w.C.key, w.C.chain, InviteOptions{Uses: 1, Expires: now.Add(time.Hour), For: xid}, now)
	if err != nil {
		tb.Fatal(err)
	}
	rev, err := Revoke(w.B.key, w.D.chain, true, nil, now)
	if err != nil {
		tb.Fatal(err)
	}
	prof, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: "Cé", Bio: "likes\tjazz\nand radio", Updated: now})
	if err != nil {
		tb.Fatal(err)
	}
	cert := w.C.chain.Certs[1]
	return []signedSample{
		{kind: kinds[0], name: "charter", data: w.charter.Bytes, key: w.F.key,
			wire: charterWire{V: Version, Name: w.charter.Name, Founder: []byte(w.F.id), Created: w.charter.Created.Unix()}},
		{kind: kinds[1], name: "cert", data: cert.Bytes, key: w.B.key, wire: certWireOf(cert.Cert)},
		{kind: kinds[2], name: "bearer invite", data: bearer.Bytes, key: w.C.key,
			wire: inviteWire{V: Version, InviterChain: w.C.chain.Marshal(), Expires: bearer.Expires.Unix(), Uses: 2, Nonce: bearer.Nonce, Bootstrap: testBootstrap}},
		{kind: kinds[2], name: "bound invite", data: bound.Bytes, key: w.C.key,
			wire: inviteWire{V: Version, InviterChain: w.C.chain.Marshal(), Expires: bound.Expires.Unix(), Uses: 1, Nonce: bound.Nonce, For: []byte(xid), Cert: bound.Cert.Bytes}},
		{kind: kinds[3], name: "revocation", data: rev.Bytes, key: w.B.key,
			wire: revocationWire{V: Version, Network: string(w.network), Subject: []byte(w.D.id), Revoker: []byte(w.B.id), WithInvitees: true, At: rev.At.Unix(), SubjectChain: w.D.chain.Marshal()}},
		{kind: kinds[4], name: "profile", data: prof.Bytes, key: w.C.key,
			wire: profileWire{V: Version, Network: string(w.network), Peer: []byte(w.C.id), Name: prof.Name, Bio: prof.Bio, Updated: prof.Updated.UnixMilli()}},
	}
}

// envelopeParts finds the payload and the signature inside envelope bytes.
func envelopeParts(tb testing.TB, data []byte) (payloadAt, payloadLen, sigAt int) {
	tb.Helper()
	var e pb.Envelope
	if err := proto.Unmarshal(data, &e); err != nil {
		tb.Fatal(err)
	}
	payloadAt = bytes.Index(data, e.Payload)
	sigAt = bytes.LastIndex(data, e.Signature)
	if payloadAt < 0 || sigAt < 0 || len(e.Signature) != 64 {
		tb.Fatal("cannot find payload and signature")
	}
	return payloadAt, len(e.Payload), sigAt
}

// TestSamplesParse makes sure the hand-made wire forms match the real
// objects, so that the tests that alter them alter only what they say.
func TestSamplesParse(t *testing.T) {
	for _, s := range signedSamples(t) {
		if err := s.kind.parse(s.data); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := s.kind.parse(sealWire(t, s.kind.like, s.key, s.wire)); err != nil {
			t.Fatalf("%s, resealed from its wire form: %v", s.name, err)
		}
	}
}

// TestTamperedEnvelopes flips bytes in the payload and in the signature of
// every kind of signed object: each must fail with ErrBadSignature or
// ErrMalformed. Then it flips every single byte of each envelope: nothing
// may parse.
func TestTamperedEnvelopes(t *testing.T) {
	for _, s := range signedSamples(t) {
		t.Run(s.name, func(t *testing.T) {
			at, n, sig := envelopeParts(t, s.data)
			targeted := map[string]int{
				"payload first byte":  at,
				"payload second byte": at + 1,
				"payload middle":      at + n/2,
				"payload last byte":   at + n - 1,
				"signature first":     sig,
				"signature middle":    sig + 32,
				"signature last":      sig + 63,
			}
			for what, i := range targeted {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					err := s.kind.parse(flip(s.data, i, mask))
					if err == nil {
						t.Fatalf("%s ^%#x: parsed", what, mask)
					}
					wantErr(t, err, ErrBadSignature, ErrMalformed)
				}
			}
			for i := range s.data {
				if err := s.kind.parse(flip(s.data, i, 0x01)); err == nil {
					t.Fatalf("byte %d ^1: parsed", i)
				}
				err := s.kind.parse(flip(s.data, i, 0xff))
				if err == nil {
					t.Fatalf("byte %d ^0xff: parsed", i)
				}
				// A flip in the key type may name another key type.
				wantErr(t, err, ErrBadSignature, ErrMalformed, ErrUnsupportedKey)
			}
		})
	}
}

// TestCrossTypeEnvelopes: an object of one type is never accepted as
// another, whether offered as is (payload type differs) or re-labelled
// with the other type's payload type (the domain in the signature differs).
func TestCrossTypeEnvelopes(t *testing.T) {
	samples := signedSamples(t)
	for _, s := range samples {
		for _, k := range envelopeKinds() {
			if k.name == s.kind.name {
				continue
			}
			t.Run(s.name+" as "+k.name, func(t *testing.T) {
				wantErr(t, k.parse(s.data), ErrMalformed, ErrTooLarge)

				var e pb.Envelope
				if err := proto.Unmarshal(s.data, &e); err != nil {
					t.Fatal(err)
				}
				e.PayloadType = k.like.Codec()
				relabelled, err := proto.Marshal(&e)
				if err != nil {
					t.Fatal(err)
				}
				wantErr(t, k.parse(relabelled), ErrBadSignature, ErrTooLarge)
			})
		}
	}
}

// TestSignedForOtherDomain: the right payload type but a signature over
// another domain string is a bad signature.
func TestSignedForOtherDomain(t *testing.T) {
	for _, s := range signedSamples(t) {
		payload, err := marshal(s.wire)
		if err != nil {
			t.Fatal(err)
		}
		env, err := record.Seal(&rawRecord{domain: "clubnode/something-else/v1", codec: s.kind.like.Codec(), payload: payload}, s.key)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := env.Marshal()
		wantErr(t, s.kind.parse(data), ErrBadSignature)
	}
}

// versioned wraps any wire struct and overrides its version and adds
// fields, as a newer release might.
func withVersion(tb testing.TB, payload any, v int, extra bool) []byte {
	tb.Helper()
	// Round-trip through a generic map so any wire struct can be altered.
	raw, err := marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[int]any
	if err := payloads.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	m[0] = v
	if extra {
		m[15] = "a field from the future"
	}
	out, err := marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// futureCert is a certificate payload from an imagined version 2: a struct
// of its own, sealed with the same domain and payload type as Cert.
type futureCert struct {
	V       int    `cbor:"0,keyasint"`
	Network string `cbor:"1,keyasint"`
	Member  []byte `cbor:"2,keyasint"`
	Inviter []byte `cbor:"3,keyasint"`
	Issued  int64  `cbor:"4,keyasint"`
	Serial  []byte `cbor:"5,keyasint"`
	Expires int64  `cbor:"6,keyasint"`
}

// TestVersionsAndUnknownFields: every signed payload refuses a version it
// does not know (even when that version adds fields) as ErrBadVersion, and
// refuses an unknown field in version 1 as ErrMalformed.
func TestVersionsAndUnknownFields(t *testing.T) {
	w := newWorld(t)
	cert := w.C.chain.Certs[1]
	v2 := futureCert{V: 2, Network: string(w.network), Member: []byte(cert.Member), Inviter: []byte(cert.Inviter),
		Issued: cert.Issued.Unix(), Serial: cert.Serial, Expires: cert.Issued.Add(time.Hour).Unix()}
	_, err := ParseCert(sealWire(t, &Cert{}, w.B.key, v2))
	wantErr(t, err, ErrBadVersion)
	v2.V = 1
	_, err = ParseCert(sealWire(t, &Cert{}, w.B.key, v2))
	wantErr(t, err, ErrMalformed)

	for _, s := range signedSamples(t) {
		tests := []struct {
			name    string
			version int
			extra   bool
			want    error
		}{
			{"version 1", Version, false, nil},
			{"version 2", 2, false, ErrBadVersion},
			{"version 2 with a new field", 2, true, ErrBadVersion},
			{"version 0", 0, false, ErrBadVersion},
			{"version -1", -1, false, ErrBadVersion},
			{"version 1 with an unknown field", Version, true, ErrMalformed},
		}
		for _, tt := range tests {
			t.Run(s.name+" "+tt.name, func(t *testing.T) {
				err := s.kind.parse(sealAs(t, s.kind.like, s.key, withVersion(t, s.wire, tt.version, tt.extra)))
				wantErr(t, err, errs(tt.want)...)
			})
		}
		t.Run(s.name+" no version", func(t *testing.T) {
			payload := withVersion(t, s.wire, Version, false)
			var m map[int]any
			if err := payloads.Unmarshal(payload, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, 0)
			err := s.kind.parse(sealAs(t, s.kind.like, s.key, mustMarshal(t, m)))
			wantErr(t, err, ErrBadVersion)
		})
		t.Run(s.name+" trailing bytes", func(t *testing.T) {
			err := s.kind.parse(sealAs(t, s.kind.like, s.key, append(mustMarshal(t, s.wire), 0x00)))
			wantErr(t, err, ErrMalformed)
		})
		t.Run(s.name+" duplicate key", func(t *testing.T) {
			// {0: 1, 0: 1, ...}: prepend a second version entry.
			payload := mustMarshal(t, s.wire)
			if payload[0]&0xe0 != 0xa0 || payload[0]&0x1f >= 23 {
				t.Skip("payload is not a small map")
			}
			dup := append([]byte{payload[0] + 1, 0x00, 0x01}, payload[1:]...)
			err := s.kind.parse(sealAs(t, s.kind.like, s.key, dup))
			wantErr(t, err, ErrMalformed)
		})
	}
}

type parser struct {
	name  string
	limit int
	parse func([]byte) error
}

func parsers() []parser {
	ps := []parser{
		{"ParseChain", MaxChainSize, func(b []byte) error { _, err := ParseChain(b); return err }},
		{"ParseInviteText", MaxInviteTextLength, func(b []byte) error { _, err := ParseInviteText(string(b)); return err }},
		{"UnmarshalKey", 256, func(b []byte) error { _, err := UnmarshalKey(b); return err }},
	}
	for _, k := range envelopeKinds() {
		ps = append(ps, parser{"Parse " + k.name, k.limit, k.parse})
	}
	return ps
}

// TestOversize: one byte past each decoder's limit is ErrTooLarge, even
// when the input starts with a valid object; at the limit it is not.
func TestOversize(t *testing.T) {
	samples := map[string][]byte{}
	for _, s := range signedSamples(t) {
		samples["Parse "+s.kind.name] = s.data
	}
	w := newWorld(t)
	samples["ParseChain"] = w.D.chain.Marshal()
	key, _ := testKey(t, "K")
	samples["UnmarshalKey"] = mustMarshalKey(t, key)
	inv, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 1, Expires: t0.Add(48 * time.Hour)}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	samples["ParseInviteText"] = []byte(inv.Text())

	for _, p := range parsers() {
		t.Run(p.name, func(t *testing.T) {
			fill := byte(0)
			if p.name == "ParseInviteText" {
				fill = 'A'
			}
			over := bytes.Repeat([]byte{fill}, p.limit+1)
			wantErr(t, p.parse(over), ErrTooLarge)

			padded := append(bytes.Clone(samples[p.name]), bytes.Repeat([]byte{fill}, p.limit+1-len(samples[p.name]))...)
			wantErr(t, p.parse(padded), ErrTooLarge)

			at := bytes.Repeat([]byte{fill}, p.limit)
			if err := p.parse(at); err == nil || errors.Is(err, ErrTooLarge) {
				t.Fatalf("at the limit: %v", err)
			}
		})
	}
}

// TestOversizeCostsNothing: a huge input is refused before it is decoded,
// so refusing it allocates almost nothing.
func TestOversizeCostsNothing(t *testing.T) {
	huge := make([]byte, 16<<20)
	for _, p := range parsers() {
		t.Run(p.name, func(t *testing.T) {
			if p.name == "ParseInviteText" {
				// Converting to a string copies the input in the test
				// itself; measure the parser on a prepared string.
				s := strings.Repeat("A", 16<<20)
				allocated := measure(func() { _, _ = ParseInviteText(s) })
				if allocated > 64<<10 {
					t.Fatalf("allocated %d bytes refusing 16 MiB", allocated)
				}
				return
			}
			var err error
			allocated := measure(func() { err = p.parse(huge) })
			wantErr(t, err, ErrTooLarge)
			if allocated > 64<<10 {
				t.Fatalf("allocated %d bytes refusing 16 MiB", allocated)
			}
		})
	}
}

func measure(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestErrorsNameTheObject(t *testing.T) {
	names := map[string]string{"charter": "network charter", "cert": "membership certificate",
		"invite": "invite token", "revocation": "revocation", "profile": "profile"}
	for _, k := range envelopeKinds() {
		err := k.parse([]byte{1, 2, 3})
		if err == nil || !strings.HasPrefix(err.Error(), names[k.name]+":") {
			t.Errorf("%s: error %q does not start with %q", k.name, err, names[k.name])
		}
	}
}

// TestEnvelopeNotMalleable: the signature covers the payload, not the
// envelope's bytes, so anyone could re-encode an envelope (an unknown
// protobuf field, fields in another order, a longer length prefix) and get
// a second byte string for the same signed object, defeating replay checks
// keyed on the bytes. Only the canonical encoding is accepted.
func TestEnvelopeNotMalleable(t *testing.T) {
	for _, s := range signedSamples(t) {
		var e pb.Envelope
		if err := proto.Unmarshal(s.data, &e); err != nil {
			t.Fatal(err)
		}
		sig := bytes.LastIndex(s.data, e.Signature) - 2 // the signature field's tag
		keyField := s.data[:2+int(s.data[1])]           // 0x0a, length, key
		variants := map[string][]byte{
			"unknown field appended":  append(bytes.Clone(s.data), 0x78, 0x01),
			"unknown field prepended": append([]byte{0x78, 0x01}, s.data...),
			"signature field first":   append(bytes.Clone(s.data[sig:]), s.data[:sig]...),
			"key field repeated":      append(bytes.Clone(keyField), s.data...),
			"non-minimal key length":  append([]byte{0x0a, s.data[1] | 0x80, 0x00}, s.data[2:]...),
		}
		for name, v := range variants {
			t.Run(s.name+" "+name, func(t *testing.T) {
				wantErr(t, s.kind.parse(v), ErrMalformed)
			})
		}
	}
}
