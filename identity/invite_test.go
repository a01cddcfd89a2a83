package identity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

var testBootstrap = []string{"/ip4/192.0.2.1/udp/4001/quic-v1", "/ip6/2001:db8::1/tcp/4001"}

func TestBearerInvite(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	inv, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 5, Expires: now.Add(48 * time.Hour), Bootstrap: testBootstrap}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Bearer() || inv.For != "" || inv.Cert != nil {
		t.Fatal("bearer invite is bound")
	}
	if inv.Network() != w.network || inv.Inviter() != w.B.id || inv.Uses != 5 || len(inv.Nonce) != nonceSize {
		t.Fatalf("invite %+v", inv.Invite)
	}
	if inv.ID() == "" {
		t.Fatal("empty ID")
	}
	if err := inv.InviterChain.Verify(w.network, w.B.id, nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.BoundChain(); err == nil {
		t.Fatal("a bearer invite gave a chain without the inviter's node")
	}

	text := inv.Text()
	if !strings.HasPrefix(text, InvitePrefix) || strings.ContainsAny(text, " \n\t") {
		t.Fatalf("text %q", text)
	}
	for _, pasted := range []string{text, "  " + text + "\n", "\t" + text + "\r\n"} {
		back, err := ParseInviteText(pasted)
		if err != nil {
			t.Fatal(err)
		}
		if back.ID() != inv.ID() || back.Uses != 5 || back.Inviter() != w.B.id || !back.Expires.Equal(inv.Expires) ||
			strings.Join(back.Bootstrap, ",") != strings.Join(testBootstrap, ",") {
			t.Fatalf("round trip changed the invite: %+v", back.Invite)
		}
	}

	// Two invites never share a nonce: the inviter's ledger tells them apart.
	inv2, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 5, Expires: now.Add(48 * time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if inv2.ID() == inv.ID() {
		t.Fatal("two invites with the same ID")
	}
}

func TestBoundInvite(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	_, xid := testKey(t, "X")
	inv, err := NewInvite(w.C.key, w.C.chain, InviteOptions{Uses: 1, Expires: now.Add(time.Hour), For: xid, Bootstrap: testBootstrap}, now)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseInviteText(inv.Text())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []*SignedInvite{inv, back} {
		if i.Bearer() || i.For != xid || i.Cert == nil || i.Cert.Member != xid || i.Cert.Inviter != w.C.id {
			t.Fatalf("bound invite %+v", i.Invite)
		}
		chain, err := i.BoundChain()
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Verify(w.network, xid, NewRevocations(w.network), now); err != nil {
			t.Fatal(err)
		}
		if got := chain.Members(); len(got) != 4 || got[3] != xid || got[2] != w.C.id {
			t.Fatalf("bound chain members %v", got)
		}
		// The chain proves X, nobody else.
		wantErr(t, chain.Verify(w.network, w.C.id, nil, now), ErrBrokenChain)
	}
}

func TestNewInviteRefuses(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	_, xid := testKey(t, "X")
	later := now.Add(time.Hour)
	many := make([]string, MaxBootstrapAddrs+1)
	for i := range many {
		many[i] = fmt.Sprintf("/ip4/192.0.2.%d/tcp/4001", i+1)
	}
	tests := []struct {
		name string
		opts InviteOptions
		want error // nil: any error
	}{
		{"zero uses", InviteOptions{Uses: 0, Expires: later}, ErrMalformed},
		{"negative uses", InviteOptions{Uses: -1, Expires: later}, ErrMalformed},
		{"too many uses", InviteOptions{Uses: MaxInviteUses + 1, Expires: later}, ErrMalformed},
		{"bound with two uses", InviteOptions{Uses: 2, Expires: later, For: xid}, ErrMalformed},
		{"bound with zero uses", InviteOptions{Uses: 0, Expires: later, For: xid}, ErrMalformed},
		{"expires now", InviteOptions{Uses: 1, Expires: now}, nil},
		{"expired", InviteOptions{Uses: 1, Expires: now.Add(-time.Hour)}, nil},
		{"bad bootstrap address", InviteOptions{Uses: 1, Expires: later, Bootstrap: []string{"192.0.2.1:4001"}}, ErrMalformed},
		{"too many bootstrap addresses", InviteOptions{Uses: 1, Expires: later, Bootstrap: many}, ErrMalformed},
		{"bootstrap address too long", InviteOptions{Uses: 1, Expires: later, Bootstrap: []string{"/dns4/" + strings.Repeat("a", 300) + "/tcp/1"}}, ErrMalformed},
		{"bound to a member of the inviter's chain", InviteOptions{Uses: 1, Expires: later, For: w.B.id}, ErrBrokenChain},
		{"bound to the inviter", InviteOptions{Uses: 1, Expires: later, For: w.C.id}, ErrBrokenChain},
		{"bound to a bad peer ID", InviteOptions{Uses: 1, Expires: later, For: peer.ID("junk")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := NewInvite(w.C.key, w.C.chain, tt.opts, now)
			if inv != nil || err == nil {
				t.Fatalf("made an invite (err %v)", err)
			}
			if tt.want != nil {
				wantErr(t, err, tt.want)
			}
		})
	}
	_, err := NewInvite(w.B.key, w.C.chain, InviteOptions{Uses: 1, Expires: later}, now)
	wantErr(t, err, ErrNotAuthorized)

	// The bounds themselves are allowed.
	for _, uses := range []int{1, MaxInviteUses} {
		if _, err := NewInvite(w.C.key, w.C.chain, InviteOptions{Uses: uses, Expires: later, Bootstrap: many[:MaxBootstrapAddrs]}, now); err != nil {
			t.Errorf("uses %d with %d bootstrap addresses: %v", uses, MaxBootstrapAddrs, err)
		}
	}
}

func TestInviteCheckTime(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	inv, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 1, Expires: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	exp := inv.Expires
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"made", now, nil},
		{"just before expiry", exp.Add(-time.Second), nil},
		{"at expiry", exp, nil},
		{"within clock skew", exp.Add(ClockSkew / 2), nil},
		{"at the end of clock skew", exp.Add(ClockSkew), nil},
		{"a nanosecond past clock skew", exp.Add(ClockSkew + time.Nanosecond), ErrExpired},
		{"a day later", exp.Add(24 * time.Hour), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, inv.CheckTime(tt.now), errs(tt.want)...)
		})
	}
}

func TestParseInviteTextRefuses(t *testing.T) {
	w := newWorld(t)
	inv, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 1, Expires: t0.Add(48 * time.Hour)}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(inv.Text(), InvitePrefix)
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"prefix only", InvitePrefix, ErrMalformed},
		{"no prefix", body, ErrMalformed},
		{"wrong prefix", "clubnode-invitation:" + body, ErrMalformed},
		{"prefix in upper case", strings.ToUpper(InvitePrefix) + body, ErrMalformed},
		{"another app's token", "otherapp-invite:" + body, ErrMalformed},
		{"standard base64", InvitePrefix + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+/", ErrMalformed},
		{"space inside", InvitePrefix + body[:10] + " " + body[10:], ErrMalformed},
		{"too long", InvitePrefix + strings.Repeat("A", MaxInviteTextLength), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInviteText(tt.text)
			wantErr(t, err, tt.want)
		})
	}
}

// TestTruncatedInviteText cuts a pasted token at every length: it must fail
// cleanly, and say that the token is truncated, corrupted or malformed, not
// something that sends the user looking for a forger.
func TestTruncatedInviteText(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	_, xid := testKey(t, "X")
	bearer, err := NewInvite(w.C.key, w.C.chain, InviteOptions{Uses: 3, Expires: now.Add(time.Hour), Bootstrap: testBootstrap}, now)
	if err != nil {
		t.Fatal(err)
	}
	bound, err := NewInvite(w.C.key, w.C.chain, InviteOptions{Uses: 1, Expires: now.Add(time.Hour), For: xid}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range []*SignedInvite{bearer, bound} {
		text := inv.Text()
		for n := 0; n < len(text); n++ {
			got, err := ParseInviteText(text[:n])
			if err == nil || got != nil {
				t.Fatalf("cut at %d of %d: parsed", n, len(text))
			}
			msg := err.Error()
			if !errors.Is(err, ErrMalformed) || !(strings.Contains(msg, "cut off") || n < len(InvitePrefix) && strings.Contains(msg, "not a clubnode invite")) {
				t.Fatalf("cut at %d of %d: %v", n, len(text), err)
			}
		}
		// The same for the binary form.
		for n := 0; n < len(inv.Bytes); n++ {
			if _, err := ParseInvite(inv.Bytes[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("bytes cut at %d of %d: %v", n, len(inv.Bytes), err)
			}
		}
	}
}

// TestForgedInvites: invites signed with a valid signature whose content is
// wrong are refused by ParseInvite.
func TestForgedInvites(t *testing.T) {
	w := newWorld(t)
	now := t0.Add(24 * time.Hour)
	_, xid := testKey(t, "X")
	exp := now.Add(time.Hour).Unix()
	nonce := make([]byte, nonceSize)
	xByC, err := IssueCert(w.C.key, w.C.chain, xid, now)
	if err != nil {
		t.Fatal(err)
	}
	xByB, err := IssueCert(w.B.key, w.B.chain, xid, now)
	if err != nil {
		t.Fatal(err)
	}
	broken := chainBytes(w.charter, w.C.chain.Certs[1]) // B's link skipped
	base := func() inviteWire {
		return inviteWire{V: Version, InviterChain: w.C.chain.Marshal(), Expires: exp, Uses: 1, Nonce: nonce}
	}
	tests := []struct {
		name string
		key  *member
		wire func(*inviteWire)
		want error
	}{
		{"valid", w.C, func(*inviteWire) {}, nil},
		{"signed by a member who does not own the chain", w.B, func(*inviteWire) {}, ErrBadSignature},
		{"inviter's chain with a skipped link", w.C, func(i *inviteWire) { i.InviterChain = broken }, ErrBrokenChain},
		{"inviter's chain missing", w.C, func(i *inviteWire) { i.InviterChain = nil }, ErrMalformed},
		{"short nonce", w.C, func(i *inviteWire) { i.Nonce = nonce[:8] }, ErrMalformed},
		{"uses 0", w.C, func(i *inviteWire) { i.Uses = 0 }, ErrMalformed},
		{"bearer carrying a certificate", w.C, func(i *inviteWire) { i.Cert = xByC.Bytes }, ErrMalformed},
		{"bound without certificate", w.C, func(i *inviteWire) { i.For = []byte(xid) }, ErrMalformed},
		{"bound to X, certificate for someone else", w.C, func(i *inviteWire) {
			_, yid := testKey(t, "Y")
			i.For, i.Cert = []byte(yid), xByC.Bytes
		}, ErrBrokenChain},
		{"bound certificate issued by another member", w.C, func(i *inviteWire) { i.For, i.Cert = []byte(xid), xByB.Bytes }, ErrBrokenChain},
		{"bound with 2 uses", w.C, func(i *inviteWire) { i.For, i.Cert, i.Uses = []byte(xid), xByC.Bytes, 2 }, ErrMalformed},
		{"bound, for not a peer ID", w.C, func(i *inviteWire) { i.For, i.Cert = []byte("junk"), xByC.Bytes }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iw := base()
			tt.wire(&iw)
			_, err := ParseInvite(sealWire(t, &Invite{}, tt.key.key, iw))
			wantErr(t, err, errs(tt.want)...)
		})
	}
}

// TestLargestHonestInvite: an invite from a member as deep as a chain can
// go (one link short of the limit, so the invitee fits), with as many and
// as long bootstrap addresses as allowed, fits in MaxInviteSize and parses.
func TestLargestHonestInvite(t *testing.T) {
	fk, _ := testKey(t, "F")
	charter, err := FoundNetwork(fk, strings.Repeat("🎙", MaxNameLength), t0)
	if err != nil {
		t.Fatal(err)
	}
	inviter := &member{key: fk, chain: FounderChain(charter)}
	w := &world{charter: charter, network: charter.Network}
	for i := 0; i < MaxChainLength-1; i++ {
		inviter = w.invite(t, inviter, fmt.Sprint("deep-", i), t0)
	}
	addrs := make([]string, MaxBootstrapAddrs)
	for i := range addrs {
		host := fmt.Sprintf("%02d", i) + strings.Repeat("a", maxBootstrapLength-len("/dns4//tcp/65535")-2)
		addrs[i] = "/dns4/" + host + "/tcp/65535"
		if len(addrs[i]) != maxBootstrapLength {
			t.Fatalf("address of %d bytes", len(addrs[i]))
		}
	}
	_, xid := testKey(t, "X")
	for _, opts := range []InviteOptions{
		{Uses: 1, Expires: t0.Add(time.Hour), For: xid, Bootstrap: addrs},
		{Uses: MaxInviteUses, Expires: t0.Add(time.Hour), Bootstrap: addrs},
	} {
		inv, err := NewInvite(inviter.key, inviter.chain, opts, t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseInviteText(inv.Text()); err != nil {
			t.Fatal(err)
		}
		if !inv.Bearer() {
			chain, err := inv.BoundChain()
			if err != nil {
				t.Fatal(err)
			}
			if len(chain.Certs) != MaxChainLength {
				t.Fatalf("bound chain of %d links", len(chain.Certs))
			}
		}
		t.Logf("invite of %d bytes (limit %d), text of %d characters", len(inv.Bytes), MaxInviteSize, len(inv.Text()))
	}
}
