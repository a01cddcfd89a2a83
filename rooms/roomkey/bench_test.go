package roomkey

import (
	"testing"
	"time"
)

// BenchmarkDeliver is the host's cost per participant at an epoch change:
// an HPKE seal (one X25519 key generation and exchange) and an Ed25519
// signature.
func BenchmarkDeliver(b *testing.B) {
	host, alice := newMember(b), newMember(b)
	s := newSecret(b, newRoomID(b), 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Deliver(host.key, s, alice.id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenDelivery is a participant's cost to receive an epoch:
// signature check, HPKE open.
func BenchmarkOpenDelivery(b *testing.B) {
	host, alice := newMember(b), newMember(b)
	d, _ := Deliver(host.key, newSecret(b, newRoomID(b), 1), alice.id)
	b.ReportAllocs()
	for b.Loop() {
		p, err := ParseDelivery(d.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Open(alice.key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncrypt and BenchmarkDecrypt are the per-packet costs of a
// speaker and a listener (80-byte Opus frames, the default suite).
func BenchmarkEncrypt(b *testing.B) {
	sp := newMember(b)
	snd, _ := NewSender(newSecret(b, newRoomID(b), 1), sp.id, t0)
	buf := make([]byte, 0, 128)
	now := t0.Add(time.Hour) // the clock is far enough ahead for b.N frames
	b.ReportAllocs()
	for b.Loop() {
		if _, err := snd.Encrypt(buf[:0], opus, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	sp := newMember(b)
	s := newSecret(b, newRoomID(b), 1)
	k := NewKeyring(s.Room)
	_ = k.Add(s)
	snd, _ := NewSender(s, sp.id, t0)
	frames := make([][]byte, 1<<16)
	for i := range frames {
		frames[i], _ = snd.Encrypt(nil, opus, t0.Add(time.Hour))
	}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(frames) {
			b.StopTimer()
			for j := range frames {
				frames[j], _ = snd.Encrypt(frames[j][:0], opus, t0.Add(2*time.Hour))
			}
			i = 0
			b.StartTimer()
		}
		if _, err := k.Decrypt(buf[:0], sp.id, frames[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
