package identity

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestFounderChain(t *testing.T) {
	w := newWorld(t)
	c := w.F.chain
	if c.Member() != w.F.id || c.Founder() != w.F.id || c.InvitedBy() != "" || c.Network() != w.network {
		t.Fatalf("founder chain: member %s founder %s invited by %q network %s", c.Member(), c.Founder(), c.InvitedBy(), c.Network())
	}
	if got := c.Members(); !slices.Equal(got, []peer.ID{w.F.id}) {
		t.Fatalf("members %v", got)
	}
	wantErr(t, c.Verify(w.network, w.F.id, NewRevocations(w.network), t0))
	back, err := ParseChain(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if back.Member() != w.F.id || len(back.Certs) != 0 {
		t.Fatal("founder chain round trip")
	}
}

// TestInvitationChains: the founder invites, and a member the founder
// invited invites in turn, in each of the three ways (a certificate issued
// directly, a bound invite, a bearer invite redeemed at the inviter's node);
// every resulting chain verifies, also after a marshal/parse round trip,
// and lists the right members.
func TestInvitationChains(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	ways := map[string]func(t *testing.T, inviter *member, invitee peer.ID, now time.Time) *Chain{
		"certificate":   chainByCert,
		"bound invite":  chainByBoundInvite,
		"bearer invite": chainByBearerInvite,
	}
	for label, inviter := range map[string]*member{"founder": w.F, "B": w.B, "C": w.C} {
		for way, invite := range ways {
			name := fmt.Sprintf("%s invites by %s", label, way)
			t.Run(name, func(t *testing.T) {
				_, invitee := testKey(t, "invitee "+name)
				chain := invite(t, inviter, invitee, now)
				for _, c := range []*Chain{chain, mustParseChain(t, chain.Marshal())} {
					checkInvitedChain(t, w, c, inviter, invitee, now)
				}
			})
		}
	}
	// And the fixed world itself: F -> B -> C -> D, F -> E.
	for _, m := range []*member{w.B, w.C, w.D, w.E} {
		if err := mustParseChain(t, m.chain.Marshal()).Verify(w.network, m.id, nil, now); err != nil {
			t.Fatal(err)
		}
	}
}

// checkInvitedChain wants c to be inviter's chain and then invitee.
func checkInvitedChain(t *testing.T, w *world, c *Chain, inviter *member, invitee peer.ID, now time.Time) {
	t.Helper()
	if err := c.Verify(w.network, invitee, NewRevocations(w.network), now); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(w.network, invitee, nil, now); err != nil {
		t.Fatal(err)
	}
	want := append(inviter.chain.Members(), invitee)
	if got := c.Members(); !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	if c.Member() != invitee || c.InvitedBy() != inviter.id || c.Founder() != w.F.id || c.Network() != w.network {
		t.Fatalf("member %s invited by %s", c.Member(), c.InvitedBy())
	}
}

// chainByCert: the inviter certifies the invitee directly.
func chainByCert(t *testing.T, inviter *member, invitee peer.ID, now time.Time) *Chain {
	cert, err := IssueCert(inviter.key, inviter.chain, invitee, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := inviter.chain.Extend(cert)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// chainByBoundInvite: an invite bound to the invitee, taken offline.
func chainByBoundInvite(t *testing.T, inviter *member, invitee peer.ID, now time.Time) *Chain {
	inv, err := NewInvite(inviter.key, inviter.chain, InviteOptions{Uses: 1, Expires: now.Add(time.Hour), For: invitee}, now)
	if err != nil {
		t.Fatal(err)
	}
	// The invitee gets the text, offline.
	got, err := ParseInviteText(inv.Text())
	if err != nil {
		t.Fatal(err)
	}
	c, err := got.BoundChain()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// chainByBearerInvite: a bearer invite, redeemed online.
func chainByBearerInvite(t *testing.T, inviter *member, invitee peer.ID, now time.Time) *Chain {
	inv, err := NewInvite(inviter.key, inviter.chain, InviteOptions{Uses: 3, Expires: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseInviteText(inv.Text())
	if err != nil {
		t.Fatal(err)
	}
	// Redeemed online: the inviter's node issues the certificate under
	// the chain the invite carries.
	cert, err := IssueCert(inviter.key, got.InviterChain, invitee, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := got.InviterChain.Extend(cert)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustParseChain(t *testing.T, data []byte) *Chain {
	t.Helper()
	c, err := ParseChain(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueCertRefuses(t *testing.T) {
	w := newWorld(t)
	_, xid := testKey(t, "X")
	tests := []struct {
		name   string
		key    crypto.PrivKey
		chain  *Chain
		member peer.ID
		want   error
	}{
		{"signer does not own the chain", w.C.key, w.B.chain, xid, ErrNotAuthorized},
		{"member already in the chain", w.C.key, w.C.chain, w.B.id, ErrBrokenChain},
		{"invites the founder", w.C.key, w.C.chain, w.F.id, ErrBrokenChain},
		{"invites itself", w.C.key, w.C.chain, w.C.id, ErrBrokenChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := IssueCert(tt.key, tt.chain, tt.member, t0)
			wantErr(t, err, tt.want)
		})
	}
	if _, err := IssueCert(w.C.key, w.C.chain, peer.ID("junk"), t0); err == nil {
		t.Error("IssueCert accepted an invalid peer ID")
	}
}

func TestParseCertRefuses(t *testing.T) {
	w := newWorld(t)
	_, xid := testKey(t, "X")
	issued := t0.Add(time.Hour)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		// Says "X invited by B" but is signed by C: a non-inviter.
		{"signed by a non-inviter", forgeCert(t, w.C.key, Cert{Network: w.network, Member: xid, Inviter: w.B.id, Issued: issued}), ErrBadSignature},
		{"invites itself", forgeCert(t, w.C.key, Cert{Network: w.network, Member: w.C.id, Inviter: w.C.id, Issued: issued}), ErrBrokenChain},
		{"serial too long", forgeCert(t, w.C.key, Cert{Network: w.network, Member: xid, Inviter: w.C.id, Issued: issued, Serial: make([]byte, 33)}), ErrMalformed},
		{"member not a peer ID", sealWire(t, &Cert{}, w.C.key, certWire{V: Version, Network: string(w.network), Member: []byte("x"), Inviter: []byte(w.C.id)}), ErrMalformed},
		{"inviter not a peer ID", sealWire(t, &Cert{}, w.C.key, certWire{V: Version, Network: string(w.network), Member: []byte(xid), Inviter: nil}), ErrMalformed},
		{"a charter is not a certificate", w.charter.Bytes, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCert(tt.data)
			wantErr(t, err, tt.want)
		})
	}
	// 32 bytes of serial is the limit, not past it.
	if _, err := ParseCert(forgeCert(t, w.C.key, Cert{Network: w.network, Member: xid, Inviter: w.C.id, Issued: issued, Serial: make([]byte, 32)})); err != nil {
		t.Fatalf("32-byte serial: %v", err)
	}
}

// TestBrokenChains: chains whose every signature is good but whose links do
// not connect are refused by ParseChain, by Extend and by Verify.
func TestBrokenChains(t *testing.T) {
	w := newWorld(t)
	B, C, D := w.B.chain.Certs[0], w.C.chain.Certs[1], w.D.chain.Certs[2]

	// C invites B again: a cert for someone already in the chain.
	repeatB := mustParseCert(t, forgeCert(t, w.C.key, Cert{Network: w.network, Member: w.B.id, Inviter: w.C.id, Issued: t0}))
	repeatF := mustParseCert(t, forgeCert(t, w.C.key, Cert{Network: w.network, Member: w.F.id, Inviter: w.C.id, Issued: t0}))

	// F founds a second network and invites B there; the founder is the
	// same person, so only the network ID tells the certificates apart.
	other, err := FoundNetwork(w.F.key, "other club", t0)
	if err != nil {
		t.Fatal(err)
	}
	otherB, err := IssueCert(w.F.key, FounderChain(other), w.B.id, t0)
	if err != nil {
		t.Fatal(err)
	}
	// A certificate "X invited by C" made by C for a network C is not in.
	_, xid := testKey(t, "X")
	foreignX := mustParseCert(t, forgeCert(t, w.C.key, Cert{Network: other.Network, Member: xid, Inviter: w.C.id, Issued: C.Issued}))
	// D's certificate dated before C's own: C cannot have invited anyone yet.
	earlyD := mustParseCert(t, forgeCert(t, w.C.key, Cert{Network: w.network, Member: w.D.id, Inviter: w.C.id, Issued: C.Issued.Add(-time.Second)}))

	tests := []struct {
		name  string
		certs []*SignedCert
		want  error
	}{
		{"link skipped (B missing)", []*SignedCert{C}, ErrBrokenChain},
		{"middle link skipped (C missing)", []*SignedCert{B, D}, ErrBrokenChain},
		{"links out of order", []*SignedCert{C, B}, ErrBrokenChain},
		{"member repeated", []*SignedCert{B, C, repeatB}, ErrBrokenChain},
		{"founder repeated", []*SignedCert{B, C, repeatF}, ErrBrokenChain},
		{"first cert for another network", []*SignedCert{otherB}, ErrWrongNetwork},
		{"last cert for another network", []*SignedCert{B, C, foreignX}, ErrWrongNetwork},
		{"cert dated before its inviter's", []*SignedCert{B, C, earlyD}, ErrBrokenChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChain(chainBytes(w.charter, tt.certs...))
			wantErr(t, err, tt.want)

			// Extend refuses the last link the same way.
			prefix := &Chain{Charter: w.charter, Certs: tt.certs[:len(tt.certs)-1]}
			if prefix.checkLinks() == nil {
				_, err = prefix.Extend(tt.certs[len(tt.certs)-1])
				wantErr(t, err, tt.want)
			}

			// Verify, the check every gate uses, refuses a chain put
			// together by hand.
			hand := &Chain{Charter: w.charter, Certs: tt.certs}
			err = hand.Verify(w.network, hand.Member(), nil, t0.Add(24*time.Hour))
			wantErr(t, err, tt.want)
		})
	}
}

func TestChainTooLong(t *testing.T) {
	fk, _ := testKey(t, "F")
	charter, err := FoundNetwork(fk, "long", t0)
	if err != nil {
		t.Fatal(err)
	}
	chain := FounderChain(charter)
	key := fk
	var certs []*SignedCert
	for i := 0; i < MaxChainLength+20; i++ {
		nk, nid := testKey(t, fmt.Sprint("long-", i))
		// Sign by hand: IssueCert refuses to go past the limit.
		cert := mustParseCert(t, forgeCert(t, key, Cert{Network: charter.Network, Member: nid, Inviter: chain.Member(), Issued: t0}))
		certs = append(certs, cert)
		chain = &Chain{Charter: charter, Certs: certs}
		key = nk
	}

	full := &Chain{Charter: charter, Certs: certs[:MaxChainLength]}
	parsed, err := ParseChain(full.Marshal())
	if err != nil {
		t.Fatalf("a chain of exactly %d links: %v", MaxChainLength, err)
	}
	if err := parsed.Verify(charter.Network, full.Member(), nil, t0); err != nil {
		t.Fatal(err)
	}
	_, err = full.Extend(certs[MaxChainLength])
	wantErr(t, err, ErrTooLarge)

	for _, n := range []int{MaxChainLength + 1, MaxChainLength + 2, MaxChainLength + 16, MaxChainLength + 17, MaxChainLength + 20} {
		t.Run(fmt.Sprint(n, " links"), func(t *testing.T) {
			data := chainBytes(charter, certs[:n]...)
			if len(data) > MaxChainSize {
				t.Fatalf("test chain is %d bytes, over the byte limit: it would not test the link limit", len(data))
			}
			_, err := ParseChain(data)
			wantErr(t, err, ErrTooLarge)
			hand := &Chain{Charter: charter, Certs: certs[:n]}
			wantErr(t, hand.Verify(charter.Network, hand.Member(), nil, t0), ErrTooLarge)
		})
	}
}

func TestChainVerify(t *testing.T) {
	w := newWorld(t)
	issued := w.C.chain.Certs[1].Issued
	tests := []struct {
		name    string
		chain   *Chain
		network NetworkID
		member  peer.ID
		now     time.Time
		want    error
	}{
		{"valid", w.C.chain, w.network, w.C.id, issued, nil},
		{"wrong network", w.C.chain, "net-other", w.C.id, issued, ErrWrongNetwork},
		{"proves someone else", w.C.chain, w.network, w.B.id, issued, ErrBrokenChain},
		{"founder chain for another peer", w.F.chain, w.network, w.C.id, issued, ErrBrokenChain},
		{"issued within clock skew", w.C.chain, w.network, w.C.id, issued.Add(-ClockSkew), nil},
		{"issued in the future", w.C.chain, w.network, w.C.id, issued.Add(-ClockSkew - time.Second), ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.chain.Verify(tt.network, tt.member, nil, tt.now), errs(tt.want)...)
		})
	}
}

func errs(err error) []error {
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestParseChainRefuses(t *testing.T) {
	w := newWorld(t)
	good := w.C.chain
	tamperedCert := flip(good.Certs[1].Bytes, len(good.Certs[1].Bytes)-1, 1)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"not CBOR", []byte{0xff, 0x00}, ErrMalformed},
		{"trailing bytes", append(good.Marshal(), 0), ErrMalformed},
		{"no charter", mustMarshal(t, chainWire{V: Version}), ErrMalformed},
		{"charter is a cert", mustMarshal(t, chainWire{V: Version, Charter: good.Certs[0].Bytes}), ErrMalformed},
		{"tampered certificate", mustMarshal(t, chainWire{V: Version, Charter: w.charter.Bytes, Certs: [][]byte{good.Certs[0].Bytes, tamperedCert}}), ErrBadSignature},
		{"version 2", mustMarshal(t, chainWire{V: 2, Charter: w.charter.Bytes}), ErrBadVersion},
		{"version 0", mustMarshal(t, chainWire{V: 0, Charter: w.charter.Bytes}), ErrBadVersion},
		{"unknown field", mustMarshal(t, struct {
			chainWire
			X int `cbor:"9,keyasint"`
		}{chainWire{V: Version, Charter: w.charter.Bytes}, 1}), ErrMalformed},
		{"duplicate key", []byte{0xa2, 0x00, 0x01, 0x00, 0x01}, ErrMalformed},
		{"indefinite length", []byte{0xbf, 0x00, 0x01, 0xff}, ErrMalformed},
		{"tagged", []byte{0xc1, 0xa1, 0x00, 0x01}, ErrMalformed},
		{"array not map", []byte{0x81, 0x01}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChain(tt.data)
			wantErr(t, err, tt.want)
		})
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	data, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
