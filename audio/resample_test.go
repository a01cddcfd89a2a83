package audio

import (
	"fmt"
	"math"
	"testing"
)

// resampleAll runs in through a resampler in chunks of the given size.
func resampleAll(inRate int, in []float64, chunk int) []float64 {
	r := newResampler(inRate, SampleRate)
	var out []float64
	buf := make([]float64, 777)
	drain := func() {
		for {
			n := r.read(buf)
			out = append(out, buf[:n]...)
			if n == 0 {
				return
			}
		}
	}
	for off := 0; off < len(in); off += chunk {
		r.feed(in[off:min(off+chunk, len(in))])
		drain()
	}
	r.finish()
	drain()
	return out
}

func sine(rate int, freq float64, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = 0.5 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
	}
	return x
}

// A tone keeps its frequency and level through the resampler, at common
// and odd rates, with the error 60 dB or more below the signal.
func TestResamplerTone(t *testing.T) {
	for _, rate := range []int{8000, 11025, 16000, 22050, 32000, 44100, 44056, 88200, 96000, 191999, 192000} {
		in := sine(rate, 1000, rate/2) // 0.5 s
		out := resampleAll(rate, in, 1000)
		wantLen := (len(in)*SampleRate + rate - 1) / rate
		if len(out) != wantLen {
			t.Errorf("%d Hz: %d samples out, want %d", rate, len(out), wantLen)
		}
		want := sine(SampleRate, 1000, len(out))
		// Leave out the edges, where the kernel reaches past the input.
		edge := SampleRate / 50
		var sig, noise float64
		for i := edge; i < len(out)-edge; i++ {
			sig += want[i] * want[i]
			d := out[i] - want[i]
			noise += d * d
		}
		snr := 10 * math.Log10(sig/noise)
		t.Logf("%d Hz: SNR %.1f dB", rate, snr)
		if snr < 60 {
			t.Errorf("%d Hz: SNR %.1f dB", rate, snr)
		}
	}
}

// Content above 24 kHz in a 96 kHz file must not fold back into the
// audible band.
func TestResamplerRejectsAliases(t *testing.T) {
	in := sine(96000, 30000, 48000)
	out := resampleAll(96000, in, 4096)
	var e float64
	for _, v := range out[1000 : len(out)-1000] {
		e += v * v
	}
	level := 10 * math.Log10(e/float64(len(out)-2000)/(0.5*0.5/2))
	t.Logf("30 kHz tone at 96 kHz comes out at %.1f dB", level)
	if level > -60 {
		t.Errorf("a 30 kHz tone comes out at %.1f dB", level)
	}
}

// Feeding in any chunk size gives the same output.
func TestResamplerChunking(t *testing.T) {
	in := sine(44100, 440, 20000)
	a := resampleAll(44100, in, 1)
	b := resampleAll(44100, in, 20000)
	if len(a) != len(b) {
		t.Fatalf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			t.Fatalf("sample %d: %g vs %g", i, a[i], b[i])
		}
	}
}

func BenchmarkResample(b *testing.B) {
	for _, rate := range []int{44100, 16000, 96000} {
		b.Run(fmt.Sprintf("%dHz", rate), func(b *testing.B) {
			r := newResampler(rate, SampleRate)
			in := sine(rate, 440, rate/50) // one 20 ms frame of input
			out := make([]float64, FrameSamples+2)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r.feed(in)
				for r.read(out) > 0 {
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
		})
	}
}
