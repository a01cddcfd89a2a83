package identity

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestRevokeAuthority(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	tests := []struct {
		name    string
		revoker *member
		subject *member
		want    error
	}{
		{"founder revokes B", w.F, w.B, nil},
		{"founder revokes D, three links down", w.F, w.D, nil},
		{"inviter B revokes C", w.B, w.C, nil},
		{"ancestor B revokes D, two links down", w.B, w.D, nil},
		{"inviter C revokes D", w.C, w.D, nil},
		{"C revokes its inviter B", w.C, w.B, ErrNotAuthorized},
		{"D revokes its ancestor B", w.D, w.B, ErrNotAuthorized},
		{"sibling E revokes B", w.E, w.B, ErrNotAuthorized},
		{"E revokes C, in another branch", w.E, w.C, ErrNotAuthorized},
		{"B revokes sibling E", w.B, w.E, ErrNotAuthorized},
		{"C revokes itself", w.C, w.C, ErrNotAuthorized},
		{"founder revokes itself", w.F, w.F, ErrNotAuthorized},
		{"B revokes the founder", w.B, w.F, ErrNotAuthorized},
	}
	for _, tt := range tests {
		for _, withInvitees := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				r, err := Revoke(tt.revoker.key, tt.subject.chain, withInvitees, nil, now)
				if tt.want != nil {
					if r != nil {
						t.Fatal("returned a revocation")
					}
					wantErr(t, err, tt.want)

					// Signed anyway, by hand: ParseRevocation refuses
					// it for the same reason.
					forged := sealWire(t, &Revocation{}, tt.revoker.key, revocationWire{V: Version,
						Network: string(w.network), Subject: []byte(tt.subject.id), Revoker: []byte(tt.revoker.id),
						WithInvitees: withInvitees, At: now.Unix(), SubjectChain: tt.subject.chain.Marshal()})
					_, err = ParseRevocation(forged)
					wantErr(t, err, tt.want)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Subject != tt.subject.id || r.Revoker != tt.revoker.id || r.Network != w.network ||
					r.WithInvitees != withInvitees || !r.At.Equal(now) || r.SubjectChain.Member() != tt.subject.id {
					t.Fatalf("revocation %+v", r.Revocation)
				}
				back, err := ParseRevocation(r.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				if back.Subject != r.Subject || back.Revoker != r.Revoker || !back.At.Equal(r.At) || back.WithInvitees != withInvitees {
					t.Fatal("round trip changed the revocation")
				}
			})
		}
	}
}

func TestParseRevocationRefuses(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	other, err := FoundNetwork(w.F.key, "other club", t0)
	if err != nil {
		t.Fatal(err)
	}
	base := func() revocationWire {
		return revocationWire{V: Version, Network: string(w.network), Subject: []byte(w.C.id), Revoker: []byte(w.B.id),
			At: now.Unix(), SubjectChain: w.C.chain.Marshal()}
	}
	tests := []struct {
		name string
		key  *member
		wire func(*revocationWire)
		want error
	}{
		{"valid", w.B, func(*revocationWire) {}, nil},
		{"signed by someone other than the revoker", w.F, func(*revocationWire) {}, ErrBadSignature},
		{"network differs from the subject's chain", w.B, func(r *revocationWire) { r.Network = string(other.Network) }, ErrWrongNetwork},
		{"chain proves someone else", w.B, func(r *revocationWire) { r.SubjectChain = w.D.chain.Marshal() }, ErrBrokenChain},
		{"subject's chain broken", w.B, func(r *revocationWire) { r.SubjectChain = chainBytes(w.charter, w.C.chain.Certs[1]) }, ErrBrokenChain},
		{"no subject's chain", w.B, func(r *revocationWire) { r.SubjectChain = nil }, ErrMalformed},
		{"subject not a peer ID", w.B, func(r *revocationWire) { r.Subject = []byte("x") }, ErrMalformed},
		{"revoker not a peer ID", w.B, func(r *revocationWire) { r.Revoker = nil }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := base()
			tt.wire(&rw)
			_, err := ParseRevocation(sealWire(t, &Revocation{}, tt.key.key, rw))
			wantErr(t, err, errs(tt.want)...)
		})
	}
}

func TestRevocationsCheck(t *testing.T) {
	w := newWorld(t)
	// B is revoked at tRev; C and D were invited before it (newWorld).
	tRev := t0.Add(10 * time.Hour)
	// After the revocation B (still holding its key) invites Y, and C
	// invites Z: B's certificate is worthless, C's is not.
	Y := w.invite(t, w.B, "Y", tRev.Add(time.Second))
	Z := w.invite(t, w.C, "Z", tRev.Add(time.Hour))
	// Issued in the very second of the revocation: still before it.
	S := w.invite(t, w.B, "S", tRev)

	// Revoked without invitees, keeping those the revoker knew of: C and S.
	// Y was invited after the revocation; Yback is Y's trick, a certificate
	// B dated an hour before the revocation it signed after it.
	Yback := w.invite(t, w.B, "Yback", tRev.Add(-time.Hour))
	without, err := Revoke(w.F.key, w.B.chain, false, []peer.ID{w.C.id, S.id}, tRev)
	if err != nil {
		t.Fatal(err)
	}
	with, err := Revoke(w.F.key, w.B.chain, true, nil, tRev)
	if err != nil {
		t.Fatal(err)
	}
	revokeD, err := Revoke(w.C.key, w.D.chain, false, nil, tRev)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		revs  []*SignedRevocation
		chain *member
		want  error
	}{
		{"nothing revoked: D", nil, w.D, nil},
		{"revoked subject B", []*SignedRevocation{without}, w.B, ErrRevoked},
		{"revoked subject D (leaf)", []*SignedRevocation{revokeD}, w.D, ErrRevoked},
		{"D revoked, its inviter C is not", []*SignedRevocation{revokeD}, w.C, nil},
		{"founder never revoked", []*SignedRevocation{with, revokeD}, w.F, nil},
		{"sibling E unaffected", []*SignedRevocation{with}, w.E, nil},

		{"B without invitees: C invited before stays", []*SignedRevocation{without}, w.C, nil},
		{"B without invitees: D under C stays", []*SignedRevocation{without}, w.D, nil},
		{"B without invitees: S invited in the same second stays", []*SignedRevocation{without}, S, nil},
		{"B without invitees: Y invited after is revoked", []*SignedRevocation{without}, Y, ErrRevoked},
		{"B without invitees: Yback, backdated, is revoked", []*SignedRevocation{without}, Yback, ErrRevoked},
		{"legacy revocation: Yback, backdated, passes the date rule", []*SignedRevocation{legacyRevoke(t, w.F, w.B, tRev)}, Yback, nil},
		{"legacy revocation: Y invited after is revoked", []*SignedRevocation{legacyRevoke(t, w.F, w.B, tRev)}, Y, ErrRevoked},
		{"B without invitees: Z invited by C after stays", []*SignedRevocation{without}, Z, nil},

		{"B with invitees: C revoked", []*SignedRevocation{with}, w.C, ErrRevoked},
		{"B with invitees: D revoked", []*SignedRevocation{with}, w.D, ErrRevoked},
		{"B with invitees: Y revoked", []*SignedRevocation{with}, Y, ErrRevoked},
		{"B with invitees: Z revoked", []*SignedRevocation{with}, Z, ErrRevoked},
		{"B with invitees: B revoked", []*SignedRevocation{with}, w.B, ErrRevoked},
		{"without then with: C revoked", []*SignedRevocation{without, with}, w.C, ErrRevoked},
		{"with then without: C still revoked", []*SignedRevocation{with, without}, w.C, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			revs := NewRevocations(w.network)
			for _, r := range tt.revs {
				if _, err := revs.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			wantErr(t, revs.Check(tt.chain.chain), errs(tt.want)...)
			// Verify gives the same answer, and after a round trip.
			now := tRev.Add(24 * time.Hour)
			wantErr(t, tt.chain.chain.Verify(w.network, tt.chain.id, revs, now), errs(tt.want)...)
			parsed := mustParseChain(t, tt.chain.chain.Marshal())
			wantErr(t, parsed.Verify(w.network, tt.chain.id, revs, now), errs(tt.want)...)
		})
	}
}

func TestRevocationsAdd(t *testing.T) {
	w := newWorld(t)
	revs := NewRevocations(w.network)
	addStrongestPerRevoker(t, w, revs)
	addAnotherSubject(t, w, revs)

	// A revocation for another network is refused.
	_, err := revs.Add(foreignRevocation(t, w))
	wantErr(t, err, ErrWrongNetwork)
	if len(revs.All()) != 3 {
		t.Fatal("a foreign revocation was kept")
	}
}

// addStrongestPerRevoker adds revocations of C by B and F one by one.
func addStrongestPerRevoker(t *testing.T, w *world, revs *Revocations) {
	t.Helper()
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	rev := func(by *member, with bool, h int) *SignedRevocation {
		r, err := Revoke(by.key, w.C.chain, with, nil, at(h))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	without10 := rev(w.B, false, 10)
	without10F := rev(w.F, false, 10)
	without12 := rev(w.B, false, 12)
	without8 := rev(w.B, false, 8)
	with11 := rev(w.B, true, 11)
	with9 := rev(w.B, true, 9)
	with13 := rev(w.B, true, 13)
	with5F := rev(w.F, true, 5)

	// One revocation is kept per revoker (the strongest: with invitees,
	// then earliest); Get gives the strongest of all revokers.
	steps := []struct {
		name    string
		r       *SignedRevocation
		changed bool
		held    *SignedRevocation
	}{
		{"first", without10, true, without10},
		{"same again", without10, false, without10},
		{"later without invitees", without12, false, without10},
		{"earlier without invitees", without8, true, without8},
		{"with invitees upgrades, though later", with11, true, with11},
		{"without invitees after with, though earlier", rev(w.B, false, 1), false, with11},
		{"later with invitees", with13, false, with11},
		{"earlier with invitees", with9, true, with9},
		{"same with invitees again", with9, false, with9},
		{"other revoker, weaker", without10F, true, with9},
		{"other revoker, stronger", with5F, true, with5F},
	}
	for _, s := range steps {
		changed, err := revs.Add(s.r)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if changed != s.changed {
			t.Fatalf("%s: changed %v, want %v", s.name, changed, s.changed)
		}
		got, ok := revs.Get(w.C.id)
		if !ok || got != s.held {
			t.Fatalf("%s: holds the revocation at %s with invitees %v, want at %s with invitees %v",
				s.name, got.At, got.WithInvitees, s.held.At, s.held.WithInvitees)
		}
	}
}

func addAnotherSubject(t *testing.T, w *world, revs *Revocations) {
	t.Helper()
	// Another subject; All is ordered by subject.
	rD, err := Revoke(w.C.key, w.D.chain, false, nil, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := revs.Add(rD); err != nil || !changed {
		t.Fatalf("add D: %v %v", changed, err)
	}
	all := revs.All()
	if len(all) != 3 || all[0].Subject > all[1].Subject || all[1].Subject > all[2].Subject {
		t.Fatalf("All: %d revocations, not ordered", len(all))
	}
	if _, ok := revs.Get(w.B.id); ok {
		t.Fatal("B is not revoked")
	}
}

// foreignRevocation is F revoking C in a network F founded besides.
func foreignRevocation(t *testing.T, w *world) *SignedRevocation {
	t.Helper()
	other, err := FoundNetwork(w.F.key, "other club", t0)
	if err != nil {
		t.Fatal(err)
	}
	xCert, err := IssueCert(w.F.key, FounderChain(other), w.C.id, t0)
	if err != nil {
		t.Fatal(err)
	}
	xChain, err := FounderChain(other).Extend(xCert)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := Revoke(w.F.key, xChain, false, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	return foreign
}

// TestRevocationsConcurrent exercises the lock under the race detector.
func TestRevocationsConcurrent(t *testing.T) {
	w := newWorld(t)
	r1, _ := Revoke(w.F.key, w.B.chain, false, nil, t0.Add(10*time.Hour))
	r2, _ := Revoke(w.F.key, w.B.chain, true, nil, t0.Add(11*time.Hour))
	revs := NewRevocations(w.network)
	done := make(chan struct{})
	for _, r := range []*SignedRevocation{r1, r2} {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				_, _ = revs.Add(r)
				_ = revs.Check(w.D.chain)
				_ = revs.All()
			}
		}()
	}
	<-done
	<-done
	wantErr(t, revs.Check(w.D.chain), ErrRevoked)
}

// TestRevokedMemberCannotRevoke: once F has revoked B (keeping the members
// B invited), B is no longer a member and cannot revoke them, whatever
// order the two revocations arrive in.
func TestRevokedMemberCannotRevoke(t *testing.T) {
	w := newWorld(t)
	byF, err := Revoke(w.F.key, w.B.chain, false, []peer.ID{w.C.id}, t0.Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byB, err := Revoke(w.B.key, w.C.chain, true, nil, t0.Add(11*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]*SignedRevocation{{byF, byB}, {byB, byF}} {
		revs := NewRevocations(w.network)
		for _, r := range order {
			if _, err := revs.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		wantErr(t, revs.Check(w.B.chain), ErrRevoked)
		wantErr(t, revs.Check(w.C.chain))
		wantErr(t, revs.Check(w.D.chain))
	}
}

// legacyRevoke signs a revocation as nodes did before revocations listed
// the invitees they keep: without a list, the dates in certificates decide.
func legacyRevoke(t *testing.T, by, subject *member, at time.Time) *SignedRevocation {
	t.Helper()
	r := &Revocation{Network: subject.chain.Network(), Subject: subject.id, Revoker: by.id, At: at, SubjectChain: subject.chain}
	data, err := seal(r, by.key)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := ParseRevocation(data)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}
