package mediasig

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSign is the speaker's CPU per packet: the digest of every
// packet, and one Ed25519 signature per batch.
func BenchmarkSign(b *testing.B) {
	for _, batch := range []int{1, 4, 5, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sp := newSpeaker(b)
			sg := sp.signer(b, batch, false, t0)
			src := newSource(30)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sg.Sign(src.next(), false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is a listener's (or a checking relay's) CPU per packet:
// parsing, digests, one Ed25519 verification per batch, release.
func BenchmarkVerify(b *testing.B) {
	for _, batch := range []int{1, 4, 5, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sp := newSpeaker(b)
			// Enough of the stream that packet numbers never repeat.
			_, out := signed(b, sp.signer(b, batch, false, t0), newSource(31), 1<<15)
			v := sp.verifier(b, nil)
			var released []Packet
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(out) {
					b.StopTimer()
					_, out = signed(b, sp.signer(b, batch, false, t0.Add(time.Duration(i)*time.Millisecond)), newSource(uint64(i)), 1<<15)
					v = sp.verifier(b, nil)
					i = 0
					b.StartTimer()
				}
				released = v.Push(released[:0], out[i], t0)
				i++
			}
		})
	}
}

// BenchmarkOverhead reports the bytes per second a speaker's signatures add
// to a 50 packet/s stream, for several batch sizes (the benchmark's time
// is meaningless; read the bytes/s metric).
func BenchmarkOverhead(b *testing.B) {
	for _, noParity := range []bool{false, true} {
		for _, batch := range []int{1, 2, 3, 4, 5, 8, 16} {
			b.Run(fmt.Sprintf("batch=%d/parity=%v", batch, !noParity), func(b *testing.B) {
				sp := newSpeaker(b)
				sg := sp.signer(b, batch, noParity, t0)
				src := newSource(32)
				const packets = 800 // 16 s of audio
				var extra int
				for b.Loop() {
					extra = 0
					for range packets {
						p := src.next()
						s, err := sg.Sign(p, false)
						if err != nil {
							b.Fatal(err)
						}
						extra += len(s.Payload) - len(p.Payload)
					}
				}
				perSecond := float64(extra) / (packets * 0.020)
				b.ReportMetric(perSecond, "bytes/s")
				b.ReportMetric(perSecond*8/1000, "kbit/s")
				b.ReportMetric(float64((batch-1)*20), "ms-wait")
			})
		}
	}
}
