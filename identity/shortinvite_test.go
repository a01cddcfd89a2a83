package identity

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func shortSample(tb testing.TB, w *world) *SignedInvite {
	tb.Helper()
	inv, err := NewShortInvite(w.B.key, w.network, InviteOptions{Uses: 3, Expires: t0.Add(72 * time.Hour),
		Bootstrap: []string{
			"/ip4/203.0.113.7/tcp/4001/p2p/" + w.B.id.String(),
			"/ip4/203.0.113.7/udp/4001/quic-v1/p2p/" + w.B.id.String(),
			"/ip4/198.51.100.1/tcp/1/p2p/" + w.C.id.String(), // not the inviter's: dropped
		}}, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return inv
}

// TestShortInvite: the short form round-trips through text and links,
// names its inviter and network, keeps only the inviter's addresses, and
// is far shorter than the long form of the same invite.
func TestShortInvite(t *testing.T) {
	w := newWorld(t)
	inv := shortSample(t, w)
	if !inv.Short() || !inv.Bearer() || inv.Inviter() != w.B.id || inv.Network() != w.network || inv.Uses != 3 {
		t.Fatalf("short invite: %+v", inv.Invite)
	}
	if len(inv.Bootstrap) != 2 {
		t.Fatalf("bootstrap %v: want the inviter's two addresses", inv.Bootstrap)
	}
	info, err := inviterInfo(inv)
	if err != nil || len(info) != 2 {
		t.Fatalf("inviter addrs %v: %v", info, err)
	}
	long, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 3, Expires: t0.Add(72 * time.Hour), Bootstrap: inv.Bootstrap}, t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("token length: long form %d characters, short form %d", len(long.Text()), len(inv.Text()))
	if len(inv.Text()) > 240 || len(inv.Text())*3 > len(long.Text()) {
		t.Fatalf("short form %d characters, long %d", len(inv.Text()), len(long.Text()))
	}
	text := inv.Text()
	for _, pasted := range []string{
		text,
		"  " + text + "\n",
		"http://127.0.0.1:7711/#/join/" + text,
		"http://localhost:9000/#/join/" + url.PathEscape(text),
		"http://127.0.0.1:7700/#/join/" + strings.ReplaceAll(text, ":", "%3A") + "&x=1",
		"join my club: <" + text + "> see you",
	} {
		got, err := ParseInviteText(pasted)
		if err != nil {
			t.Fatalf("%q: %v", pasted, err)
		}
		mustEqual(t, "short invite", got, inv)
	}
	// The long form is still read, in a link too.
	got, err := ParseInviteText("http://127.0.0.1:7700/#/join/" + long.Text())
	if err != nil || got.Short() {
		t.Fatalf("long form in a link: %v", err)
	}
}

func inviterInfo(inv *SignedInvite) ([]string, error) {
	var out []string
	for _, b := range inv.Bootstrap {
		if !strings.HasSuffix(b, "/p2p/"+inv.Inviter().String()) {
			return nil, errors.New("address of someone else: " + b)
		}
		out = append(out, b)
	}
	return out, nil
}

// TestShortInviteFriendlyErrors: a token cut short, altered or pasted
// from elsewhere gets a sentence a person can act on, never decoder
// internals, and errors.Is still finds the sentinels.
func TestShortInviteFriendlyErrors(t *testing.T) {
	w := newWorld(t)
	text := shortSample(t, w).Text()
	long, err := NewInvite(w.B.key, w.B.chain, InviteOptions{Uses: 1, Expires: t0.Add(time.Hour)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(text)
	i := len(ShortInvitePrefix) + 60
	flip[i] = map[bool]byte{true: 'B', false: 'A'}[flip[i] == 'A']
	cases := []struct {
		name, text, want string
		is               error
	}{
		{"cut", text[:len(text)-30], "the token looks cut off: copy all of it", ErrCutOff},
		{"cut a lot", text[:40], "the token looks cut off: copy all of it", ErrCutOff},
		{"cut long", long.Text()[:200], "cut off", ErrMalformed},
		{"altered", string(flip), "changed after it was signed", ErrBadSignature},
		{"other", "hello there", "not a clubnode invite", ErrMalformed},
		{"bad chars", ShortInvitePrefix + "ab$$cd", "cut off", ErrMalformed},
	}
	for _, c := range cases {
		_, err := ParseInviteText(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
			t.Errorf("%s: got %v, want %q (%v)", c.name, err, c.want, c.is)
			continue
		}
		for _, internal := range []string{"proto", "cbor", "wire-format", "varint", "multiaddr"} {
			if strings.Contains(strings.ToLower(err.Error()), internal) {
				t.Errorf("%s: %q speaks of %s", c.name, err, internal)
			}
		}
	}
}

// TestShortInviteCanonical: a padded varint or trailing byte makes
// another byte form of the same invite; it is refused.
func TestShortInviteCanonical(t *testing.T) {
	w := newWorld(t)
	inv := shortSample(t, w)
	data := bytes.Clone(inv.Bytes)
	data = append(data[:len(data)-64], 0)
	if _, err := ParseShortInvite(append(data, inv.Bytes[len(inv.Bytes)-64:]...)); err == nil {
		t.Fatal("accepted a trailing byte")
	}
}

func FuzzParseShortInvite(f *testing.F) {
	w := newWorld(f)
	inv := shortSample(f, w)
	f.Add(inv.Bytes)
	f.Add(inv.Bytes[:len(inv.Bytes)-1])
	f.Add([]byte{shortInviteForm})
	f.Add([]byte(inv.Text()))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseShortInvite(data)
		checkResult(t, got != nil, err)
		if len(data) > MaxShortInviteSize && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("over the limit: %v", err)
		}
		if _, terr := ParseInviteText(string(data)); terr != nil && strings.Contains(terr.Error(), "proto") {
			t.Fatalf("text error speaks of protobuf: %v", terr)
		}
		if err != nil {
			return
		}
		if !got.Short() || !got.Bearer() || got.Uses < 1 || len(got.Bootstrap) > MaxShortAddrs {
			t.Fatalf("accepted %+v", got.Invite)
		}
		again, err := ParseInviteText(got.Text())
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "short invite", again, got)
		if !bytes.Equal(again.Bytes, data) {
			t.Fatal("two byte forms of one invite")
		}
	})
}

// TestInviteTokenLengths logs how long a bearer token is in each form,
// for BENCHMARKS.md: from the founder and from a member two links down,
// with the inviter's two usual addresses (TCP and QUIC).
func TestInviteTokenLengths(t *testing.T) {
	w := newWorld(t)
	for _, m := range []*member{w.F, w.C} {
		boot := []string{"/ip4/203.0.113.7/tcp/4001/p2p/" + m.id.String(), "/ip4/203.0.113.7/udp/4001/quic-v1/p2p/" + m.id.String()}
		opts := InviteOptions{Uses: 1, Expires: t0.Add(72 * time.Hour), Bootstrap: boot}
		long, err := NewInvite(m.key, m.chain, opts, t0)
		if err != nil {
			t.Fatal(err)
		}
		short, err := NewShortInvite(m.key, w.network, opts, t0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("inviter %d links from the founder: long form %d characters, short form %d (%d bytes)",
			len(m.chain.Members())-1, len(long.Text()), len(short.Text()), len(short.Bytes))
		if len(short.Text()) >= len(long.Text())/3 {
			t.Errorf("short form %d characters, long %d", len(short.Text()), len(long.Text()))
		}
	}
}
