package audio

import "math"

// resampler converts a mono stream from one rate to another with a
// windowed-sinc polyphase filter, streaming: feed input as it comes, read
// output as it becomes available.
//
// Hand-written because the project needs exactly this small thing (8 to
// 192 kHz in, 48 kHz out, any rational ratio, streaming, no allocations per
// frame) and the Go resamplers on offer either wrap C libraries, work on
// whole buffers, or only do fixed ratios.
//
// Output sample n sits at input position n*down/up. It is the sum of the
// 2*half input samples around that position weighted by a low-pass
// kernel (sinc cut at 0.9 of the lower Nyquist frequency, Kaiser window)
// evaluated at the fractional offset. Common ratios (44.1 kHz is 160/147)
// get one precomputed kernel row per fraction; rare ratios with huge
// numerators use 256 rows and interpolate linearly between neighbours.
type resampler struct {
	up, down int64 // output/input rate ratio, reduced
	half     int   // kernel half-width in input samples
	taps     int   // 2*half
	rows     int   // kernel rows (fractions) in table
	exact    bool  // rows == up: the fraction indexes a row directly
	table    []float64

	buf  []float64 // input; buf[0] is input sample number base
	base int64
	in   int64 // input samples fed so far
	out  int64 // output samples produced so far
	pos  int64 // integer part of the next output's input position
	frac int64 // its fractional part, in units of 1/up
	eof  bool
}

const (
	resampleZeroCrossings = 24  // kernel length in cycles of the cut-off: about 80 dB of rejection with the window below
	resampleRolloff       = 0.9 // cut-off as a fraction of the lower Nyquist frequency
	resampleKaiserBeta    = 8.5 // Kaiser window shape
	resampleMaxExactTable = 1 << 16
	resampleInterpRows    = 256
)

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func newResampler(inRate, outRate int) *resampler {
	g := gcd(int64(outRate), int64(inRate))
	r := &resampler{up: int64(outRate) / g, down: int64(inRate) / g}
	// Cut-off in cycles per input sample.
	fc := 0.5 * resampleRolloff * math.Min(1, float64(r.up)/float64(r.down))
	r.half = int(math.Ceil(resampleZeroCrossings / (2 * fc)))
	r.taps = 2 * r.half
	r.rows = int(r.up)
	r.exact = true
	if int64(r.rows)*int64(r.taps) > resampleMaxExactTable {
		r.rows, r.exact = resampleInterpRows, false
	}
	// One extra row (fraction 1.0) so interpolation never reads past the end.
	r.table = make([]float64, (r.rows+1)*r.taps)
	i0beta := besselI0(resampleKaiserBeta)
	for row := 0; row <= r.rows; row++ {
		phase := float64(row) / float64(r.rows)
		k := r.table[row*r.taps : (row+1)*r.taps]
		var sum float64
		for j := range k {
			t := float64(j-r.half+1) - phase // distance from the output position, in input samples
			x := t / float64(r.half)
			if x <= -1 || x >= 1 {
				k[j] = 0
				continue
			}
			w := besselI0(resampleKaiserBeta*math.Sqrt(1-x*x)) / i0beta
			k[j] = 2 * fc * sinc(2*fc*t) * w
			sum += k[j]
		}
		// Unity gain at DC for every fraction, so a constant input stays
		// constant instead of rippling at the ratio's period.
		for j := range k {
			k[j] /= sum
		}
	}
	// Input before the start is silence.
	r.buf = make([]float64, r.half)
	r.base = -int64(r.half)
	return r
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series (converges fast for the arguments a Kaiser window uses).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 100; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-16 {
			break
		}
	}
	return sum
}

// feed appends input samples.
func (r *resampler) feed(in []float64) {
	// Drop input no future output needs, before growing the buffer.
	if drop := r.pos - int64(r.half) + 1 - r.base; drop > int64(len(r.buf)/2) && drop > 0 {
		drop = min(drop, int64(len(r.buf)))
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.base += drop
	}
	r.buf = append(r.buf, in...)
	r.in += int64(len(in))
}

// finish says no more input will come; the tail is then read out against
// silence.
func (r *resampler) finish() { r.eof = true }

// done says every output sample has been read.
func (r *resampler) done() bool {
	return r.eof && r.out*r.down >= r.in*r.up
}

// read writes as many output samples as the input so far allows into dst
// and returns how many.
func (r *resampler) read(dst []float64) int {
	n := 0
	for n < len(dst) {
		if r.eof {
			if r.out*r.down >= r.in*r.up {
				break // past the end of the input
			}
		} else if r.pos+int64(r.half) >= r.base+int64(len(r.buf)) {
			break // needs input not yet fed
		}
		dst[n] = r.sample()
		n++
		r.out++
		r.frac += r.down
		r.pos += r.frac / r.up
		r.frac %= r.up
	}
	return n
}

// sample computes the output at pos+frac/up.
func (r *resampler) sample() float64 {
	first := r.pos - int64(r.half) + 1 - r.base // index in buf of the first tap
	x := r.window(first)
	if r.exact {
		return dot(x, r.table[int(r.frac)*r.taps:])
	}
	p := float64(r.frac) / float64(r.up) * float64(r.rows)
	row := int(p)
	f := p - float64(row)
	a := dot(x, r.table[row*r.taps:])
	b := dot(x, r.table[(row+1)*r.taps:])
	return a + f*(b-a)
}

// window returns the taps' input samples starting at buf index first,
// padding with silence past the end of the input.
func (r *resampler) window(first int64) []float64 {
	end := first + int64(r.taps)
	if end <= int64(len(r.buf)) {
		return r.buf[first:end]
	}
	// Only at the end of the stream: extend with zeros once.
	r.buf = append(r.buf, make([]float64, end-int64(len(r.buf)))...)
	return r.buf[first:end]
}

func dot(x, k []float64) float64 {
	k = k[:len(x)]
	var s0, s1 float64
	i := 0
	for ; i+1 < len(x); i += 2 {
		s0 += x[i] * k[i]
		s1 += x[i+1] * k[i+1]
	}
	if i < len(x) {
		s0 += x[i] * k[i]
	}
	return s0 + s1
}
