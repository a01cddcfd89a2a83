package sframe

import "testing"

// Per-frame cost of encrypting and decrypting one 80-byte Opus packet
// (32 kbit/s, 20 ms), for each suite.
func BenchmarkEncrypt(b *testing.B) {
	for _, suite := range allSuites {
		b.Run(suite.String(), func(b *testing.B) {
			s, _ := NewSender(suite, 9, testBase, 1_800_000_000_000)
			buf := make([]byte, 0, 128)
			b.SetBytes(int64(len(opusFrame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Encrypt(buf[:0], nil, opusFrame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, suite := range allSuites {
		b.Run(suite.String(), func(b *testing.B) {
			s, _ := NewSender(suite, 9, testBase, 1_800_000_000_000)
			r := NewReceiver()
			_ = r.AddKey(suite, 9, testBase)
			frames := make([][]byte, 4096)
			for i := range frames {
				frames[i], _ = s.Encrypt(nil, nil, opusFrame)
			}
			buf := make([]byte, 0, 128)
			b.SetBytes(int64(len(opusFrame)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(frames) { // fresh frames: the replay window refuses repeats
					b.StopTimer()
					for j := range frames {
						frames[j], _ = s.Encrypt(frames[j][:0], nil, opusFrame)
					}
					i = 0
					b.StartTimer()
				}
				if _, _, err := r.Decrypt(buf[:0], nil, frames[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkDeriveKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeriveKey(AES128CTRHMACSHA256_80, 9, testBase); err != nil {
			b.Fatal(err)
		}
	}
}
