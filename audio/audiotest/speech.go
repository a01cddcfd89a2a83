// Package audiotest makes and compares test audio for clubnode's tests: a
// deterministic speech-like signal, and measures of how well what arrived
// matches what was sent. Tests across the project compare audio with Match
// and MatchThreshold so that "the listener heard the speaker" means the same
// thing everywhere.
package audiotest

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/clubnode/clubnode/audio"
)

// vowel is a set of formant frequencies (Hz) and bandwidths.
type vowel struct{ f, bw [3]float64 }

// vowels are rough adult formants for /a/, /e/, /i/, /o/, /u/ and schwa.
var vowels = []vowel{
	{[3]float64{730, 1090, 2440}, [3]float64{90, 110, 170}},
	{[3]float64{530, 1840, 2480}, [3]float64{70, 100, 160}},
	{[3]float64{270, 2290, 3010}, [3]float64{60, 100, 180}},
	{[3]float64{570, 840, 2410}, [3]float64{80, 90, 160}},
	{[3]float64{300, 870, 2240}, [3]float64{60, 90, 150}},
	{[3]float64{500, 1500, 2500}, [3]float64{80, 100, 160}},
}

// Speech returns d of a deterministic speech-like signal at 48 kHz: a
// glottal pulse train whose pitch glides between about 90 and 250 Hz,
// shaped by three formant resonators that move between vowels, cut into
// syllables of 100-220 ms with smooth attack and release, separated by
// pauses of 30-90 ms and now and then a breath of 200-400 ms: about four
// syllables a second, sounding half the time. The peak is at -6 dBFS. The
// same seed always gives the same samples; other seeds give differently
// timed syllables, which is what Match tells apart.
//
// Why not a sine or noise: Opus's speech mode, DTX, FEC and concealment
// behave on voiced, syllabic audio as they do on people, and a matcher
// tuned on this signal is tuned for what rooms carry.
func Speech(d time.Duration, seed int64) []int16 {
	n := int(d * audio.SampleRate / time.Second)
	if n <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6a09e667f3bcc908))
	out := make([]float64, n)
	tail := int(0.03 * audio.SampleRate)                      // the formant filters ring on into the pause
	pos := int(0.03 * audio.SampleRate * (1 + rng.Float64())) // a breath before the first syllable
	for pos < n {
		sylLen := int((0.10 + 0.12*rng.Float64()) * audio.SampleRate)
		from, to := vowels[rng.IntN(len(vowels))], vowels[rng.IntN(len(vowels))]
		f0a := 90 + 160*rng.Float64()
		f0b := math.Min(250, math.Max(90, f0a*(0.75+0.5*rng.Float64())))
		loud := 0.5 + 0.5*rng.Float64()
		syl := make([]float64, sylLen+tail)
		s := &synth{}
		s.syllable(syl[:sylLen], sylLen, from, to, f0a, f0b, rng)
		s.silence(syl[sylLen:])
		// Each syllable gets its own loudness: the resonators' gain
		// differs by vowel and pitch, and left alone some syllables would
		// be 30 dB quieter than others, unlike a speaker.
		scale(syl, loud)
		for i, v := range syl {
			if pos+i < n {
				out[pos+i] = v
			}
		}
		pos += sylLen
		pause := 0.03 + 0.06*rng.Float64()
		if rng.IntN(8) == 0 { // now and then a breath between phrases
			pause = 0.2 + 0.2*rng.Float64()
		}
		pos += int(pause * audio.SampleRate)
	}
	return normalize(out, 0.5)
}

// synth is the source-filter model: pulse train -> glottal low-pass ->
// three resonators -> lip radiation (first difference).
type synth struct {
	phase        float64
	glot1, glot2 float64
	res          [3]resonator
	prevOut      float64
	lastF, lastB [3]float64 // formants at the end of the last syllable, for its ring-out
}

type resonator struct{ y1, y2 float64 }

// scale sets x's RMS to level.
func scale(x []float64, level float64) {
	var sum float64
	for _, v := range x {
		sum += v * v
	}
	if sum == 0 {
		return
	}
	g := level / math.Sqrt(sum/float64(len(x)))
	for i := range x {
		x[i] *= g
	}
}

// step runs one sample of excitation x through the filters with formants
// f and bandwidths bw.
func (s *synth) step(x float64, f, bw [3]float64) float64 {
	// Two one-pole low-passes give the glottal pulse its -12 dB/octave
	// spectral tilt.
	s.glot1 += 0.06 * (x - s.glot1)
	s.glot2 += 0.06 * (s.glot1 - s.glot2)
	y := s.glot2
	for i := range s.res {
		r := math.Exp(-math.Pi * bw[i] / audio.SampleRate)
		c := 2 * r * math.Cos(2*math.Pi*f[i]/audio.SampleRate)
		// Gain (1-r)*... keeps each resonator's peak gain near a few
		// units so the cascade stays well inside float range.
		v := (1-r)*y + c*s.res[i].y1 - r*r*s.res[i].y2
		s.res[i].y2, s.res[i].y1 = s.res[i].y1, v
		y = v
	}
	out := y - s.prevOut
	s.prevOut = y
	return out
}

func (s *synth) syllable(dst []float64, length int, from, to vowel, f0a, f0b float64, rng *rand.Rand) {
	attack := int(0.025 * audio.SampleRate)
	release := int(0.05 * audio.SampleRate)
	for i := range dst {
		t := float64(i) / float64(length)
		var f, bw [3]float64
		// Formants move from one vowel to the next along a smooth curve.
		k := 0.5 - 0.5*math.Cos(math.Pi*t)
		for j := range f {
			f[j] = from.f[j] + (to.f[j]-from.f[j])*k
			bw[j] = from.bw[j] + (to.bw[j]-from.bw[j])*k
		}
		f0 := f0a * math.Pow(f0b/f0a, t)
		s.phase += f0 / audio.SampleRate
		x := 0.0
		if s.phase >= 1 {
			s.phase -= 1
			x = 1
		}
		x += 0.02 * (rng.Float64() - 0.5) // breathiness
		env := 1.0
		if i < attack {
			env = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(attack))
		} else if rem := length - i; rem < release {
			env = 0.5 - 0.5*math.Cos(math.Pi*float64(rem)/float64(release))
		}
		dst[i] = s.step(x*env, f, bw)
		s.lastF, s.lastB = f, bw
	}
}

func (s *synth) silence(dst []float64) {
	for i := range dst {
		dst[i] = s.step(0, s.lastF, s.lastB)
	}
}

// normalize scales x so its peak is at peak (of full scale) and converts it
// to 16-bit samples.
func normalize(x []float64, peak float64) []int16 {
	top := 0.0
	for _, v := range x {
		top = math.Max(top, math.Abs(v))
	}
	out := make([]int16, len(x))
	if top == 0 {
		return out
	}
	g := peak * 32767 / top
	for i, v := range x {
		out[i] = int16(math.Round(v * g))
	}
	return out
}
