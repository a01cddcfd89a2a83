package roomkey

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/sframe"
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/rooms"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type member struct {
	key crypto.PrivKey
	id  peer.ID
}

func newMember(tb testing.TB) member {
	tb.Helper()
	key, err := identity.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	return member{key: key, id: id}
}

func newRoomID(tb testing.TB) rooms.RoomID {
	tb.Helper()
	id, err := rooms.NewRoomID()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func newSecret(tb testing.TB, room rooms.RoomID, epoch uint64) Secret {
	tb.Helper()
	s, err := New(room, epoch, DefaultSuite, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// deliver wraps s for m and has m parse, check and open it, as a
// participant does.
func deliver(tb testing.TB, host member, s Secret, m member) Secret {
	tb.Helper()
	d, err := Deliver(host.key, s, m.id)
	if err != nil {
		tb.Fatal(err)
	}
	parsed, err := ParseDelivery(d.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	got, err := parsed.Open(m.key)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

var opus = bytes.Repeat([]byte{0x42}, 80)

// The recipient unwraps the secret the host wrapped; nobody else can, and
// changing what the wrapping is bound to breaks it.
func TestDeliveryOpensOnlyForItsRecipient(t *testing.T) {
	host, alice, bob := newMember(t), newMember(t), newMember(t)
	s := newSecret(t, newRoomID(t), 3)
	if got := deliver(t, host, s, alice); got != s {
		t.Fatalf("unwrapped %+v, want %+v", got, s)
	}
	d, err := Deliver(host.key, s, alice.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(bob.key); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("bob opened alice's delivery: %v", err)
	}
	if _, err := d.Open(host.key); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("the host opened alice's delivery: %v", err)
	}
	// Presenting the wrapped secret as another epoch's, room's or
	// recipient's fails: all are bound into the HPKE info.
	for name, edit := range map[string]func(*Delivery){
		"epoch":     func(x *Delivery) { x.Epoch++ },
		"room":      func(x *Delivery) { x.Room = newRoomID(t) },
		"recipient": func(x *Delivery) { x.Recipient = bob.id },
		"suite":     func(x *Delivery) { x.Suite = sframe.AES128GCMSHA256_128 },
		"created":   func(x *Delivery) { x.Created = x.Created.Add(time.Millisecond) },
		"host":      func(x *Delivery) { x.Host = bob.id },
	} {
		x := d.Delivery
		edit(&x)
		if _, err := x.Open(alice.key); !errors.Is(err, ErrUnwrap) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
}

// A delivery's envelope: every byte is covered by the host's signature,
// the host must be the one who signed, and the room's host for it to
// count.
func TestDeliveryEnvelope(t *testing.T) {
	host, alice, mallory := newMember(t), newMember(t), newMember(t)
	s := newSecret(t, newRoomID(t), 1)
	d, err := Deliver(host.key, s, alice.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Bytes) > MaxDeliverySize {
		t.Fatalf("%d bytes", len(d.Bytes))
	}
	t.Logf("a delivery is %d bytes", len(d.Bytes))
	for i := range d.Bytes {
		bad := bytes.Clone(d.Bytes)
		bad[i] ^= 0x01
		if _, err := ParseDelivery(bad); err == nil {
			t.Fatalf("byte %d changed, delivery parsed", i)
		}
	}
	if _, err := ParseDelivery(append(bytes.Clone(d.Bytes), make([]byte, MaxDeliverySize)...)); err == nil {
		t.Fatal("oversized delivery parsed")
	}
	st := &rooms.State{Room: s.Room, Host: host.id}
	parsed, _ := ParseDelivery(d.Bytes)
	if err := parsed.Check(st, alice.id); err != nil {
		t.Fatal(err)
	}
	if err := parsed.Check(st, mallory.id); !errors.Is(err, rooms.ErrNotAllowed) {
		t.Fatalf("check for someone else: %v", err)
	}
	// Mallory wraps a secret of her own for alice: well signed, but not by
	// the room's host.
	forged, err := Deliver(mallory.key, s, alice.id)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := ParseDelivery(forged.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := fp.Check(st, alice.id); !errors.Is(err, rooms.ErrNotAllowed) {
		t.Fatalf("delivery from a non-host: %v", err)
	}
}

// A participant removed at an epoch change cannot decrypt what is sent in
// the new epoch, with the old epoch's secret or any; those who stay hear
// the speaker throughout, frames of both epochs in flight included; a
// relay with no secret hears nothing.
func TestEpochChangeLocksOutTheRemoved(t *testing.T) {
	host, speaker, stays, removed := newMember(t), newMember(t), newMember(t), newMember(t)
	room := newRoomID(t)
	e1 := newSecret(t, room, 1)
	keep, gone := NewKeyring(room), NewKeyring(room)
	if err := keep.Add(deliver(t, host, e1, stays)); err != nil {
		t.Fatal(err)
	}
	if err := gone.Add(deliver(t, host, e1, removed)); err != nil {
		t.Fatal(err)
	}
	tx1, err := NewSender(deliver(t, host, e1, speaker), speaker.id, t0)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := tx1.Encrypt(nil, opus, t0.Add(time.Second))
	for name, k := range map[string]*Keyring{"stays": keep, "removed": gone} {
		if got, err := k.Decrypt(nil, speaker.id, before); err != nil || !bytes.Equal(got, opus) {
			t.Fatalf("%s, epoch 1: %v", name, err)
		}
	}

	// removed leaves; the host starts epoch 2 for the others only.
	e2 := newSecret(t, room, 2)
	if err := keep.Add(deliver(t, host, e2, stays)); err != nil {
		t.Fatal(err)
	}
	tx2, err := NewSender(deliver(t, host, e2, speaker), speaker.id, t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	inFlight, _ := tx1.Encrypt(nil, opus, t0.Add(2*time.Second))
	after, _ := tx2.Encrypt(nil, opus, t0.Add(2*time.Second))
	for i, f := range [][]byte{after, inFlight} {
		if got, err := keep.Decrypt(nil, speaker.id, f); err != nil || !bytes.Equal(got, opus) {
			t.Fatalf("stays, frame %d across the change: %v", i, err)
		}
	}
	if _, err := gone.Decrypt(nil, speaker.id, after); !errors.Is(err, ErrNoKey) {
		t.Fatalf("removed, epoch 2: %v", err)
	}
	// Even trying epoch 1's secret on epoch 2's frames fails.
	k, _ := sframe.DeriveKey(DefaultSuite, 2, e1.BaseKey(speaker.id))
	if _, _, err := k.Open(nil, nil, after); !errors.Is(err, sframe.ErrDecrypt) {
		t.Fatalf("old secret on a new frame: %v", err)
	}
	// A relay that is not a participant.
	relay := NewKeyring(room)
	if _, err := relay.Decrypt(nil, speaker.id, after); !errors.Is(err, ErrNoKey) {
		t.Fatalf("relay: %v", err)
	}
	// Another speaker's key (or a participant pretending) does not open it.
	if _, err := keep.Decrypt(nil, stays.id, after); err == nil {
		t.Fatal("a frame decrypted as another speaker's")
	}
	// Once the change has settled, epoch 1 is dropped.
	keep.Drop(2)
	late, _ := tx1.Encrypt(nil, opus, t0.Add(3*time.Second))
	if _, err := keep.Decrypt(nil, speaker.id, late); !errors.Is(err, ErrNoKey) {
		t.Fatalf("after drop: %v", err)
	}
}

func TestKeyringBounds(t *testing.T) {
	room := newRoomID(t)
	k := NewKeyring(room)
	for e := uint64(1); e <= MaxEpochs+3; e++ {
		if err := k.Add(newSecret(t, room, e)); err != nil {
			t.Fatal(err)
		}
	}
	if len(k.secrets) != MaxEpochs || k.secrets[0].Epoch != 4 {
		t.Fatalf("epochs kept: %d from %d", len(k.secrets), k.secrets[0].Epoch)
	}
	if err := k.Add(newSecret(t, room, 1)); err == nil {
		t.Fatal("an epoch older than those kept was added")
	}
	cur, _ := k.Current()
	if err := k.Add(cur); err != nil {
		t.Fatalf("the same epoch again: %v", err)
	}
	other := cur
	other.Key[0] ^= 1
	if err := k.Add(other); err == nil {
		t.Fatal("an epoch with a second secret")
	}
	if err := k.Add(newSecret(t, newRoomID(t), 9)); !errors.Is(err, rooms.ErrUnknownRoom) {
		t.Fatalf("another room's secret: %v", err)
	}
}

// The CTR starts from the clock: a sender made again later (a restarted
// node) starts above everything the first one used, in 3 bytes; it cannot
// run ahead of the clock; a clock far behind the host's falls back to Unix
// milliseconds.
func TestSenderCounter(t *testing.T) {
	sp := newMember(t)
	s := newSecret(t, newRoomID(t), 1)
	a, err := NewSender(s, sp.id, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var last sframe.Header
	for i := range 500 {
		f, err := a.Encrypt(nil, opus, t0.Add(time.Minute+time.Duration(i)*20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		last, _, _ = sframe.ParseHeader(f)
	}
	if last.Size() != 4 {
		t.Fatalf("header of %d bytes (KID %d CTR %d)", last.Size(), last.KID, last.CTR)
	}
	b, _ := NewSender(s, sp.id, t0.Add(time.Minute+10*time.Second+time.Millisecond))
	f, _ := b.Encrypt(nil, opus, t0.Add(time.Minute+10*time.Second+time.Millisecond))
	first, _, _ := sframe.ParseHeader(f)
	if first.CTR <= last.CTR {
		t.Fatalf("restarted sender starts at CTR %d, the first reached %d", first.CTR, last.CTR)
	}
	// More frames than milliseconds: refused.
	c, _ := NewSender(s, sp.id, t0)
	var tooFast error
	for range 10 {
		if _, tooFast = c.Encrypt(nil, opus, t0); tooFast != nil {
			break
		}
	}
	if !errors.Is(tooFast, ErrTooFast) {
		t.Fatalf("burst at one instant: %v", tooFast)
	}
	// A clock an hour behind the host's.
	d, _ := NewSender(s, sp.id, t0.Add(-time.Hour))
	f, err = d.Encrypt(nil, opus, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := sframe.ParseHeader(f)
	if h.CTR != uint64(t0.Add(-time.Hour).UnixMilli()) {
		t.Fatalf("slow clock: CTR %d", h.CTR)
	}
}

func TestSecretChecks(t *testing.T) {
	room := newRoomID(t)
	for name, s := range map[string]Secret{
		"no room":  {Epoch: 1, Suite: DefaultSuite, Created: t0},
		"epoch 0":  {Room: room, Suite: DefaultSuite, Created: t0},
		"suite 9":  {Room: room, Epoch: 1, Suite: 9, Created: t0},
		"no time":  {Room: room, Epoch: 1, Suite: DefaultSuite},
		"too late": {Room: room, Epoch: MaxEpoch + 1, Suite: DefaultSuite, Created: t0},
	} {
		if err := s.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s := newSecret(t, room, 1)
	a, b := newMember(t), newMember(t)
	if bytes.Equal(s.BaseKey(a.id), s.BaseKey(b.id)) {
		t.Fatal("two speakers share a base key")
	}
	s2 := s
	s2.Epoch = 2
	if bytes.Equal(s.BaseKey(a.id), s2.BaseKey(a.id)) {
		t.Fatal("two epochs share a base key")
	}
}
