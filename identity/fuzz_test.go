package identity

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/record"
)

// Every fuzzer checks the same properties of its decoder:
//   - it never panics;
//   - it returns either a value or an error wrapping one of the package's
//     sentinel errors, never both, never neither;
//   - a value it returns re-encodes (Bytes, Chain.Marshal, Text, or the
//     payload's MarshalRecord) to something that decodes to an equal value;
//   - input past the decoder's size limit is refused as ErrTooLarge, before
//     decoding: the fuzz input padded past the limit must give ErrTooLarge,
//     not the error the input itself would give.
//
// Seeds are real objects made with deterministic keys (see testKey), so a
// crasher kept in testdata/fuzz stays meaningful.
//
// Run one with, for example:
//
//	go test ./identity -run='^$' -fuzz='^FuzzParseChain$' -fuzztime=20s -fuzzminimizetime=2s
//
// Without -fuzzminimizetime the workers can spend most of a short run
// minimising new inputs (each one several signature checks) and stall.

var sentinels = []error{ErrTooLarge, ErrMalformed, ErrBadSignature, ErrBadVersion, ErrExpired,
	ErrNotYetValid, ErrWrongNetwork, ErrRevoked, ErrBrokenChain, ErrNotAuthorized, ErrUnsupportedKey}

func checkResult(t *testing.T, ok bool, err error) {
	t.Helper()
	if ok == (err != nil) {
		t.Fatalf("returned a value %v and error %v", ok, err)
	}
	if err == nil {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %q wraps no sentinel error", err)
}

// checkOversize appends limit+1 fill bytes to data and requires
// ErrTooLarge, whatever data itself would give.
func checkOversize(t *testing.T, data []byte, limit int, fill byte, parse func([]byte) error) {
	t.Helper()
	over := append(bytes.Clone(data), bytes.Repeat([]byte{fill}, limit+1)...)
	if err := parse(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%d bytes (limit %d): %v, want %v", len(over), limit, err, ErrTooLarge)
	}
}

func mustEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s changed in a round trip:\n got %+v\nwant %+v", what, got, want)
	}
}

// recordRoundTrip re-encodes a decoded payload and decodes it again.
func recordRoundTrip[R any, P interface {
	*R
	record.Record
}](t *testing.T, rec P) {
	t.Helper()
	payload, err := rec.MarshalRecord()
	if err != nil {
		t.Fatalf("re-encode %s: %v", rec.Domain(), err)
	}
	back := P(new(R))
	if err := back.UnmarshalRecord(payload); err != nil {
		t.Fatalf("decode re-encoded %s: %v", rec.Domain(), err)
	}
	mustEqual(t, rec.Domain(), back, rec)
}

// fuzzObjects are the seeds: real objects of every type.
type fuzzObjects struct {
	w                    *world
	charters             [][]byte
	certs                [][]byte
	chains               []*Chain
	invites              []*SignedInvite
	revocations, profile [][]byte
}

func makeFuzzObjects(f *testing.F) *fuzzObjects {
	f.Helper()
	w := newWorld(f)
	now := t0.Add(24 * time.Hour)
	_, xid := testKey(f, "X")
	o := &fuzzObjects{w: w}

	other, err := FoundNetwork(w.F.key, "ü club", t0)
	if err != nil {
		f.Fatal(err)
	}
	o.charters = [][]byte{w.charter.Bytes, other.Bytes}
	for _, m := range []*member{w.B, w.C, w.D, w.E} {
		o.certs = append(o.certs, m.chain.Certs[len(m.chain.Certs)-1].Bytes)
	}
	o.chains = []*Chain{w.F.chain, w.B.chain, w.D.chain, w.E.chain}
	for _, opts := range []InviteOptions{
		{Uses: 1, Expires: now.Add(time.Hour), For: xid, Bootstrap: testBootstrap},
		{Uses: 7, Expires: now.Add(time.Hour), Bootstrap: testBootstrap},
		{Uses: 1, Expires: now.Add(time.Hour)},
	} {
		for _, m := range []*member{w.F, w.C} {
			inv, err := NewInvite(m.key, m.chain, opts, now)
			if err != nil {
				f.Fatal(err)
			}
			o.invites = append(o.invites, inv)
		}
	}
	boundChain, err := o.invites[0].BoundChain()
	if err != nil {
		f.Fatal(err)
	}
	o.chains = append(o.chains, boundChain)
	for _, r := range []struct {
		by, subject *member
		with        bool
	}{{w.F, w.B, false}, {w.B, w.D, true}, {w.C, w.D, false}} {
		rev, err := Revoke(r.by.key, r.subject.chain, r.with, nil, now)
		if err != nil {
			f.Fatal(err)
		}
		o.revocations = append(o.revocations, rev.Bytes)
	}
	for _, p := range []struct {
		by *member
		p  Profile
	}{
		{w.C, Profile{Network: w.network, Peer: w.C.id, Name: "Cé", Bio: "likes\tjazz\nand radio", Updated: now}},
		{w.F, Profile{Network: w.network, Peer: w.F.id, Updated: now}},
	} {
		sp, err := SignProfile(p.by.key, p.p)
		if err != nil {
			f.Fatal(err)
		}
		o.profile = append(o.profile, sp.Bytes)
	}
	return o
}

// addEnvelopeSeeds adds real envelopes, then edge cases made from them.
func addEnvelopeSeeds(f *testing.F, real [][]byte, others ...[]byte) {
	for _, d := range real {
		f.Add(d)
		f.Add(d[:len(d)/2])                       // truncated
		f.Add(d[:len(d)-66])                      // signature cut off
		f.Add(flip(d, len(d)-1, 1))               // bad signature
		f.Add(append(bytes.Clone(d), 0x00, 0x01)) // trailing bytes
	}
	for _, d := range others {
		f.Add(d)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
}

func FuzzParseCharter(f *testing.F) {
	o := makeFuzzObjects(f)
	addEnvelopeSeeds(f, o.charters, o.certs[0])
	parse := func(b []byte) error { _, err := ParseCharter(b); return err }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCharter(data)
		checkResult(t, c != nil, err)
		checkOversize(t, data, MaxCharterSize, 0, parse)
		if err != nil {
			return
		}
		again, err := ParseCharter(c.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "charter", again, c)
		recordRoundTrip(t, &c.Charter)
		pub, _ := c.Founder.ExtractPublicKey()
		if id, _ := DeriveNetworkID(pub, c.Name); id != c.Network {
			t.Fatalf("network %s, derived %s", c.Network, id)
		}
	})
}

func FuzzParseCert(f *testing.F) {
	o := makeFuzzObjects(f)
	addEnvelopeSeeds(f, o.certs, o.charters[0])
	parse := func(b []byte) error { _, err := ParseCert(b); return err }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCert(data)
		checkResult(t, c != nil, err)
		checkOversize(t, data, MaxCertSize, 0, parse)
		if err != nil {
			return
		}
		again, err := ParseCert(c.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "certificate", again, c)
		recordRoundTrip(t, &c.Cert)
		if c.Member == c.Inviter || len(c.Serial) > 32 {
			t.Fatalf("accepted certificate %+v", c.Cert)
		}
	})
}

func FuzzParseChain(f *testing.F) {
	o := makeFuzzObjects(f)
	for _, c := range o.chains {
		d := c.Marshal()
		f.Add(d)
		f.Add(d[:len(d)-1])
		f.Add(append(bytes.Clone(d), 0))
	}
	f.Add(chainBytes(o.w.charter, o.w.C.chain.Certs[1]))                       // link skipped
	f.Add(chainBytes(o.w.charter, o.w.B.chain.Certs[0], o.w.B.chain.Certs[0])) // repeated
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x00, 0x01})
	f.Add([]byte{0xa3, 0x00, 0x01, 0x01, 0x40, 0x02, 0x98, 0x31}) // 49 certificates announced
	parse := func(b []byte) error { _, err := ParseChain(b); return err }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseChain(data)
		checkResult(t, c != nil, err)
		checkOversize(t, data, MaxChainSize, 0, parse)
		if err != nil {
			return
		}
		if len(c.Certs) > MaxChainLength || c.checkLinks() != nil {
			t.Fatalf("accepted a chain of %d links: %v", len(c.Certs), c.checkLinks())
		}
		again, err := ParseChain(c.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "chain", again, c)
		if err := c.Verify(c.Network(), c.Member(), NewRevocations(c.Network()), time.Unix(1<<40, 0)); err != nil &&
			!errors.Is(err, ErrNotYetValid) {
			t.Fatalf("a parsed chain does not verify: %v", err)
		}
	})
}

func FuzzParseInvite(f *testing.F) {
	o := makeFuzzObjects(f)
	var real [][]byte
	for _, inv := range o.invites {
		real = append(real, inv.Bytes)
	}
	addEnvelopeSeeds(f, real, o.revocations[0])
	parse := func(b []byte) error { _, err := ParseInvite(b); return err }
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseInvite(data)
		checkResult(t, inv != nil, err)
		checkOversize(t, data, MaxInviteSize, 0, parse)
		if err != nil {
			return
		}
		checkParsedInvite(t, inv)
	})
}

func checkParsedInvite(t *testing.T, inv *SignedInvite) {
	t.Helper()
	again, err := ParseInvite(inv.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "invite", again, inv)
	fromText, err := ParseInviteText(inv.Text())
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "invite text", fromText, inv)
	recordRoundTrip(t, &inv.Invite)
	if err := inv.validate(); err != nil {
		t.Fatalf("accepted an invalid invite: %v", err)
	}
	_ = inv.CheckTime(t0)
	if !inv.Bearer() {
		// A bound invite's chain is checked when it is built; it may
		// still be refused (the invitee already in the inviter's chain).
		if c, err := inv.BoundChain(); err == nil && c.Member() != inv.For {
			t.Fatalf("bound chain proves %s, invite is for %s", c.Member(), inv.For)
		}
	} else if _, err := inv.BoundChain(); err == nil {
		t.Fatal("a bearer invite gave a bound chain")
	}
}

func FuzzParseInviteText(f *testing.F) {
	o := makeFuzzObjects(f)
	for _, inv := range o.invites {
		text := inv.Text()
		f.Add(text)
		f.Add(text[:len(text)/2])
		f.Add(text[:len(text)-1])
		f.Add(" \n" + text + "\r\n")
		f.Add(text[:len(InvitePrefix)+10] + "\n" + text[len(InvitePrefix)+10:])
	}
	f.Add("")
	f.Add(InvitePrefix)
	f.Add(InvitePrefix + "=")
	f.Add("clubnode-invite")
	parse := func(b []byte) error { _, err := ParseInviteText(string(b)); return err }
	f.Fuzz(func(t *testing.T, text string) {
		inv, err := ParseInviteText(text)
		checkResult(t, inv != nil, err)
		checkOversize(t, []byte(text), MaxInviteTextLength, 'A', parse)
		if err != nil {
			return
		}
		checkParsedInvite(t, inv)
	})
}

func FuzzParseRevocation(f *testing.F) {
	o := makeFuzzObjects(f)
	addEnvelopeSeeds(f, o.revocations, o.invites[0].Bytes)
	parse := func(b []byte) error { _, err := ParseRevocation(b); return err }
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocation(data)
		checkResult(t, r != nil, err)
		checkOversize(t, data, MaxRevocationSize, 0, parse)
		if err != nil {
			return
		}
		checkParsedRevocation(t, r)
	})
}

func checkParsedRevocation(t *testing.T, r *SignedRevocation) {
	t.Helper()
	again, err := ParseRevocation(r.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "revocation", again, r)
	recordRoundTrip(t, &r.Revocation)
	if err := r.checkAuthority(); err != nil {
		t.Fatalf("accepted a revocation without authority: %v", err)
	}
	// Once known, it revokes its subject.
	revs := NewRevocations(r.Network)
	if changed, err := revs.Add(r); err != nil || !changed {
		t.Fatalf("add: %v %v", changed, err)
	}
	if err := revs.Check(r.SubjectChain); !errors.Is(err, ErrRevoked) {
		t.Fatalf("the subject's chain is not revoked: %v", err)
	}
}

func FuzzParseProfile(f *testing.F) {
	o := makeFuzzObjects(f)
	addEnvelopeSeeds(f, o.profile, o.charters[0])
	parse := func(b []byte) error { _, err := ParseProfile(b); return err }
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data)
		checkResult(t, p != nil, err)
		checkOversize(t, data, MaxProfileSize, 0, parse)
		if err != nil {
			return
		}
		checkParsedProfile(t, p)
	})
}

func checkParsedProfile(t *testing.T, p *SignedProfile) {
	t.Helper()
	again, err := ParseProfile(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "profile", again, p)
	recordRoundTrip(t, &p.Profile)
	if err := ValidateProfileText(p.Name, p.Bio); err != nil {
		t.Fatalf("accepted profile text: %v", err)
	}
}

func FuzzUnmarshalKey(f *testing.F) {
	for _, label := range []string{"F", "B"} {
		k, _ := testKey(f, label)
		data, err := MarshalKey(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)-1])
		f.Add(flip(data, len(data)-1, 1)) // public half no longer matches
		f.Add(flip(data, 5, 1))           // seed changed
		raw, _ := k.Raw()
		// The legacy 96-byte form: seed, public key, public key again.
		legacy := append([]byte{0x08, 0x01, 0x12, 0x60}, append(bytes.Clone(raw), raw[32:]...)...)
		f.Add(legacy)
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x02, 0x12, 0x20}) // secp256k1, short
	parse := func(b []byte) error { _, err := UnmarshalKey(b); return err }
	msg := []byte("clubnode fuzz message")
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := UnmarshalKey(data)
		checkResult(t, k != nil, err)
		checkOversize(t, data, 256, 0, parse)
		if err != nil {
			return
		}
		again, err := MarshalKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalKey(again)
		if err != nil {
			t.Fatal(err)
		}
		if !back.Equals(k) {
			t.Fatal("key changed in a round trip")
		}
		// The key signs as the peer it claims to be.
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := k.GetPublic().Verify(msg, sig); !ok || err != nil {
			t.Fatalf("a signature by the key does not verify with its public key: %v", err)
		}
	})
}

// FuzzSignedPayload gets past the signature check, which random bytes never
// do: it signs the fuzzed payload with one of the test keys under a chosen
// type's domain and payload type, so the payload decoders and every check
// made after them are fuzzed too.
func FuzzSignedPayload(f *testing.F) {
	o := makeFuzzObjects(f)
	w := o.w
	signers := []*member{w.F, w.B, w.C, w.D}
	kinds := envelopeKinds()
	payloadOf := func(data []byte) []byte {
		env, err := record.UnmarshalEnvelope(data)
		if err != nil {
			f.Fatal(err)
		}
		return env.RawPayload
	}
	add := func(kind, signer int, env []byte) {
		f.Add(uint8(kind+len(kinds)*signer), payloadOf(env))
	}
	// Kinds: 0 charter, 1 cert, 2 invite, 3 revocation, 4 profile.
	// Signers: 0 F, 1 B, 2 C, 3 D.
	for _, c := range o.charters {
		add(0, 0, c)
	}
	add(1, 0, o.certs[0]) // B's, by F
	add(1, 1, o.certs[1]) // C's, by B
	add(1, 2, o.certs[2]) // D's, by C
	for i, inv := range o.invites {
		add(2, []int{0, 2}[i%2], inv.Bytes)
	}
	add(3, 0, o.revocations[0])
	add(3, 1, o.revocations[1])
	add(3, 2, o.revocations[2])
	add(4, 2, o.profile[0])
	add(4, 0, o.profile[1])
	f.Add(uint8(0), []byte{0xa1, 0x00, 0x01})
	f.Add(uint8(2), []byte{0xa1, 0x00, 0x02})

	f.Fuzz(func(t *testing.T, sel uint8, payload []byte) {
		kind := kinds[int(sel)%len(kinds)]
		signer := signers[int(sel)/len(kinds)%len(signers)]
		env, err := record.Seal(&rawRecord{domain: kind.like.Domain(), codec: kind.like.Codec(), payload: payload}, signer.key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		switch kind.name {
		case "charter":
			c, err := ParseCharter(data)
			checkResult(t, c != nil, err)
			if err == nil {
				recordRoundTrip(t, &c.Charter)
			}
		case "cert":
			c, err := ParseCert(data)
			checkResult(t, c != nil, err)
			if err == nil {
				recordRoundTrip(t, &c.Cert)
			}
		case "invite":
			inv, err := ParseInvite(data)
			checkResult(t, inv != nil, err)
			if err == nil {
				checkParsedInvite(t, inv)
			}
		case "revocation":
			r, err := ParseRevocation(data)
			checkResult(t, r != nil, err)
			if err == nil {
				checkParsedRevocation(t, r)
			}
		case "profile":
			p, err := ParseProfile(data)
			checkResult(t, p != nil, err)
			if err == nil {
				checkParsedProfile(t, p)
			}
		}
	})
}
