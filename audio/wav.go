package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// WAVFormat describes a WAV file as it was stored, before conversion to
// 48 kHz mono.
type WAVFormat struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
	Float         bool // IEEE float samples rather than integer PCM
	Extensible    bool // WAVE_FORMAT_EXTENSIBLE header
	// DataBytes is the size the data chunk declares, or -1 for a
	// streamed file whose size was not known when it was written.
	DataBytes int64
}

const (
	wavTagPCM        = 0x0001
	wavTagFloat      = 0x0003
	wavTagExtensible = 0xFFFE

	wavMinRate     = 8000
	wavMaxRate     = 192000
	wavMaxChannels = 8
	// wavMaxFmtBytes bounds the fmt chunk, which is read into memory; the
	// largest real one (extensible) is 40 bytes.
	wavMaxFmtBytes = 1024
	// wavMaxChunks bounds how many chunks may come before the data chunk.
	wavMaxChunks = 1000
	// wavStreamingSize: a data size at or above this is a placeholder
	// written by a program that could not seek back (0xFFFFFFFF, or
	// 0x7FFFF000-ish from some tools), meaning "until the end of the file".
	wavStreamingSize = 0x7FFF0000

	// wavReadFrames is how many input sample frames are read at a time.
	wavReadFrames = 1024
)

// ksDataFormatSuffix is the tail shared by the KSDATAFORMAT_SUBTYPE GUIDs of
// WAVE_FORMAT_EXTENSIBLE; the first two bytes are the plain format tag.
var ksDataFormatSuffix = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// OpenWAV reads a RIFF/WAVE file's headers from r and returns a Source of
// its audio as 48 kHz mono: integer PCM of 8, 16, 24 or 32 bits or IEEE
// float of 32 or 64 bits, plain or WAVE_FORMAT_EXTENSIBLE, 8 to 192 kHz,
// 1 to 8 channels (averaged into one). It reads r as it goes, never the
// whole file; chunks other than fmt and data are skipped. Anything else is
// refused with an error naming the field.
func OpenWAV(r io.Reader) (Source, WAVFormat, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, WAVFormat{}, fmt.Errorf("wav: reading RIFF header: %w", noEOF(err))
	}
	switch string(riff[0:4]) {
	case "RIFF":
	case "RIFX":
		return nil, WAVFormat{}, errors.New("wav: RIFX (big-endian) files are not supported")
	case "RF64":
		return nil, WAVFormat{}, errors.New("wav: RF64 files are not supported")
	default:
		return nil, WAVFormat{}, fmt.Errorf("wav: not a RIFF file (starts with %q)", riff[0:4])
	}
	if string(riff[8:12]) != "WAVE" {
		return nil, WAVFormat{}, fmt.Errorf("wav: RIFF form type is %q, not \"WAVE\"", riff[8:12])
	}
	var (
		f       WAVFormat
		haveFmt bool
	)
	for chunks := 0; ; chunks++ {
		if chunks >= wavMaxChunks {
			return nil, f, fmt.Errorf("wav: no data chunk in the first %d chunks", wavMaxChunks)
		}
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, f, errors.New("wav: no data chunk")
			}
			return nil, f, fmt.Errorf("wav: reading chunk header: %w", err)
		}
		id := string(hdr[0:4])
		size := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, f, fmt.Errorf("wav: fmt chunk size %d is too small (at least 16)", size)
			}
			if size > wavMaxFmtBytes {
				return nil, f, fmt.Errorf("wav: fmt chunk size %d is too large (at most %d)", size, wavMaxFmtBytes)
			}
			body := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, f, fmt.Errorf("wav: reading fmt chunk: %w", noEOF(err))
			}
			var err error
			if f, err = parseWAVFmt(body[:size]); err != nil {
				return nil, f, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, f, errors.New("wav: data chunk before fmt chunk")
			}
			f.DataBytes = size
			if size >= wavStreamingSize {
				f.DataBytes = -1
			}
			return newWAVSource(r, f), f, nil
		default:
			// Unknown chunk (LIST, fact, bext, JUNK, ...): skip it, without
			// keeping it in memory, however large it claims to be.
			skip := size + size&1
			if n, err := io.CopyN(io.Discard, r, skip); err != nil {
				return nil, f, fmt.Errorf("wav: chunk %q declares %d bytes but the file ends after %d: %w",
					printable(hdr[0:4]), size, n, io.ErrUnexpectedEOF)
			}
		}
	}
}

// parseWAVFmt checks a fmt chunk and returns the format it describes.
func parseWAVFmt(b []byte) (WAVFormat, error) {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:2])
	f := WAVFormat{
		Channels:      int(le.Uint16(b[2:4])),
		SampleRate:    int(le.Uint32(b[4:8])),
		BitsPerSample: int(le.Uint16(b[14:16])),
	}
	blockAlign := int(le.Uint16(b[12:14]))
	if tag == wavTagExtensible {
		f.Extensible = true
		if len(b) < 40 {
			return f, fmt.Errorf("wav: extensible fmt chunk is %d bytes, want 40", len(b))
		}
		if cb := le.Uint16(b[16:18]); cb < 22 {
			return f, fmt.Errorf("wav: extensible fmt extension size %d is too small (22)", cb)
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksDataFormatSuffix) {
			return f, fmt.Errorf("wav: unsupported extensible sub-format GUID %x", guid)
		}
		tag = le.Uint16(guid[0:2])
	}
	switch tag {
	case wavTagPCM:
		if f.BitsPerSample != 8 && f.BitsPerSample != 16 && f.BitsPerSample != 24 && f.BitsPerSample != 32 {
			return f, fmt.Errorf("wav: unsupported bits per sample %d for PCM (8, 16, 24 or 32)", f.BitsPerSample)
		}
	case wavTagFloat:
		f.Float = true
		if f.BitsPerSample != 32 && f.BitsPerSample != 64 {
			return f, fmt.Errorf("wav: unsupported bits per sample %d for IEEE float (32 or 64)", f.BitsPerSample)
		}
	default:
		return f, fmt.Errorf("wav: unsupported format tag 0x%04x (only PCM and IEEE float)", tag)
	}
	if f.Channels < 1 || f.Channels > wavMaxChannels {
		return f, fmt.Errorf("wav: unsupported channel count %d (1..%d)", f.Channels, wavMaxChannels)
	}
	if f.SampleRate < wavMinRate || f.SampleRate > wavMaxRate {
		return f, fmt.Errorf("wav: unsupported sample rate %d Hz (%d..%d)", f.SampleRate, wavMinRate, wavMaxRate)
	}
	if want := f.Channels * f.BitsPerSample / 8; blockAlign != want {
		return f, fmt.Errorf("wav: block align %d does not match %d channels of %d bits (want %d)",
			blockAlign, f.Channels, f.BitsPerSample, want)
	}
	return f, nil
}

// printable quotes a chunk ID for an error, hex if it is not text.
func printable(id []byte) string {
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%x", id)
		}
	}
	return string(id)
}

// noEOF turns a clean EOF in the middle of a header into an unexpected
// one: the file ended where it should not.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// wavSource streams a data chunk, converting it to 48 kHz mono.
type wavSource struct {
	r         io.Reader
	f         WAVFormat
	remaining int64 // bytes of the data chunk still to read; -1: until EOF
	frameSize int   // bytes per sample frame (all channels)
	raw       []byte
	mono      []float64
	rs        *resampler // nil at 48 kHz
	out       []float64
	end       bool  // no more input
	err       error // returned instead of io.EOF once the audio runs out
}

func newWAVSource(r io.Reader, f WAVFormat) *wavSource {
	s := &wavSource{
		r:         r,
		f:         f,
		remaining: f.DataBytes,
		frameSize: f.Channels * f.BitsPerSample / 8,
		out:       make([]float64, FrameSamples),
	}
	s.raw = make([]byte, wavReadFrames*s.frameSize)
	s.mono = make([]float64, wavReadFrames)
	if f.SampleRate != SampleRate {
		s.rs = newResampler(f.SampleRate, SampleRate)
	}
	return s
}

// ReadFrame fills pcm (FrameSamples long) with the next 20 ms; the last
// frame is padded with silence. It returns io.EOF after the last frame, or
// an error if the data chunk was cut short of its declared size.
func (s *wavSource) ReadFrame(pcm []int16) error {
	if err := checkFrame("wav", pcm); err != nil {
		return err
	}
	filled := 0
	for filled < FrameSamples {
		if s.rs == nil {
			in := s.readInput(FrameSamples - filled)
			if len(in) == 0 {
				break
			}
			filled += toInt16(pcm[filled:], in)
			continue
		}
		if n := s.rs.read(s.out[:FrameSamples-filled]); n > 0 {
			filled += toInt16(pcm[filled:], s.out[:n])
			continue
		}
		if s.rs.done() {
			break
		}
		if in := s.readInput(wavReadFrames); len(in) > 0 {
			s.rs.feed(in)
		} else {
			s.rs.finish()
		}
	}
	if filled == 0 {
		if s.err != nil {
			return s.err
		}
		return io.EOF
	}
	clear(pcm[filled:])
	return nil
}

// readInput reads up to max sample frames and returns them mixed down to
// mono in [-1, 1]; empty at the end of the data.
func (s *wavSource) readInput(max int) []float64 {
	if s.end {
		return nil
	}
	want := int64(max * s.frameSize)
	if s.remaining >= 0 {
		want = min(want, s.remaining)
	}
	want -= want % int64(s.frameSize)
	if want == 0 {
		s.end = true
		return nil
	}
	n, err := io.ReadFull(s.r, s.raw[:want])
	if s.remaining >= 0 {
		s.remaining -= int64(n)
	}
	if err != nil {
		s.end = true
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if s.f.DataBytes >= 0 {
				s.err = fmt.Errorf("wav: data chunk truncated: declared %d bytes, file has %d: %w",
					s.f.DataBytes, s.f.DataBytes-s.remaining, io.ErrUnexpectedEOF)
			}
		default:
			s.err = fmt.Errorf("wav: reading data: %w", err)
		}
	}
	frames := n / s.frameSize
	return s.convert(s.raw[:frames*s.frameSize], s.mono[:frames])
}

// convert decodes interleaved samples into mono floats by averaging the
// channels.
func (s *wavSource) convert(raw []byte, mono []float64) []float64 {
	ch := s.f.Channels
	bytesPer := s.f.BitsPerSample / 8
	inv := 1 / float64(ch)
	le := binary.LittleEndian
	for i := range mono {
		frame := raw[i*s.frameSize:]
		var sum float64
		for c := range ch {
			b := frame[c*bytesPer:]
			var v float64
			switch {
			case s.f.Float && bytesPer == 4:
				v = float64(math.Float32frombits(le.Uint32(b)))
			case s.f.Float:
				v = math.Float64frombits(le.Uint64(b))
			case bytesPer == 1:
				v = (float64(b[0]) - 128) / 128
			case bytesPer == 2:
				v = float64(int16(le.Uint16(b))) / (1 << 15)
			case bytesPer == 3:
				v = float64(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)>>8) / (1 << 23)
			default:
				v = float64(int32(le.Uint32(b))) / (1 << 31)
			}
			if math.IsNaN(v) {
				v = 0 // a broken float sample is silence, not a click to full scale
			}
			v = max(-1, min(1, v)) // floats may exceed full scale; clip here so sums stay finite
			sum += v
		}
		mono[i] = sum * inv
	}
	return mono
}

// toInt16 converts samples in [-1, 1] to 16 bits, rounding and clipping,
// and returns how many it wrote.
func toInt16(dst []int16, src []float64) int {
	n := min(len(dst), len(src))
	for i := range n {
		v := math.Round(src[i] * 32768)
		dst[i] = int16(max(math.MinInt16, min(math.MaxInt16, v)))
	}
	return n
}
