package audio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

// wavSpec is a WAV file to generate for a test.
type wavSpec struct {
	rate, channels, bits int
	float, extensible    bool
}

// downsample makes a 48 kHz signal into one at rate by averaging over
// each output period and interpolating linearly: crude, and independent
// of the resampler under test, which is the point.
func downsample(pcm []int16, rate int) []float64 {
	if rate == audio.SampleRate {
		out := make([]float64, len(pcm))
		for i, v := range pcm {
			out[i] = float64(v) / 32768
		}
		return out
	}
	n := len(pcm) * rate / audio.SampleRate
	out := make([]float64, n)
	span := max(1, audio.SampleRate/rate)
	for i := range out {
		pos := float64(i) * audio.SampleRate / float64(rate)
		j := int(pos)
		var sum float64
		for k := j; k < j+span && k < len(pcm); k++ {
			sum += float64(pcm[k])
		}
		out[i] = sum / float64(span) / 32768
	}
	return out
}

// makeWAV encodes mono samples into a WAV of the given format, the same
// signal in every channel (scaled per channel so averaging is tested).
func makeWAV(spec wavSpec, mono []float64) []byte {
	var data bytes.Buffer
	le := binary.LittleEndian
	for _, v := range mono {
		for c := range spec.channels {
			x := v * (1 - 0.3*float64(c%2)) // odd channels a bit quieter
			switch {
			case spec.float && spec.bits == 32:
				binary.Write(&data, le, float32(x))
			case spec.float:
				binary.Write(&data, le, x)
			case spec.bits == 8:
				data.WriteByte(byte(int(math.Round(x*127)) + 128))
			case spec.bits == 16:
				binary.Write(&data, le, int16(math.Round(x*32767)))
			case spec.bits == 24:
				s := int32(math.Round(x * 8388607))
				data.Write([]byte{byte(s), byte(s >> 8), byte(s >> 16)})
			default:
				binary.Write(&data, le, int32(math.Round(x*2147483647)))
			}
		}
	}
	tag := uint16(1)
	if spec.float {
		tag = 3
	}
	var fmtChunk bytes.Buffer
	block := spec.channels * spec.bits / 8
	hdrTag := tag
	if spec.extensible {
		hdrTag = 0xFFFE
	}
	binary.Write(&fmtChunk, le, struct {
		Tag, Channels        uint16
		Rate, ByteRate       uint32
		BlockAlign, BitsPerS uint16
	}{hdrTag, uint16(spec.channels), uint32(spec.rate), uint32(spec.rate * block), uint16(block), uint16(spec.bits)})
	fmtBytes := fmtChunk.Bytes()
	if spec.extensible {
		ext := make([]byte, 24)
		le.PutUint16(ext[0:], 22)
		le.PutUint16(ext[2:], uint16(spec.bits))
		le.PutUint32(ext[4:], 0) // channel mask
		le.PutUint16(ext[8:], tag)
		copy(ext[10:], []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71})
		fmtBytes = append(fmtBytes, ext...)
	}
	return riff(chunk("fmt ", fmtBytes), chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00test\x00\x00")), chunk("data", data.Bytes()))
}

func chunk(id string, body []byte) []byte {
	out := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return chunk("RIFF", body)
}

func readAll(t *testing.T, src audio.Source) []int16 {
	t.Helper()
	pcm, err := audio.ReadAll(src, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

func TestWAVWriteReadBack(t *testing.T) {
	sent := audiotest.Speech(2*time.Second, 31)
	sent = sent[:len(sent)-100] // not a whole number of frames
	check := func(t *testing.T, file []byte, wantDataBytes int64) {
		src, f, err := audio.OpenWAV(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if f.SampleRate != 48000 || f.Channels != 1 || f.BitsPerSample != 16 || f.Float || f.DataBytes != wantDataBytes {
			t.Errorf("format %+v", f)
		}
		got := readAll(t, src)
		frames := (len(sent) + audio.FrameSamples - 1) / audio.FrameSamples
		if len(got) != frames*audio.FrameSamples {
			t.Fatalf("read %d samples, want %d", len(got), frames*audio.FrameSamples)
		}
		if !slicesEqual(got[:len(sent)], padded(sent)[:len(sent)]) {
			t.Error("48 kHz 16-bit mono did not come back sample for sample")
		}
	}
	t.Run("seekable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.wav")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFrames(t, audio.NewWAVWriter(f), sent)
		f.Close()
		file, _ := os.ReadFile(path)
		check(t, file, int64(len(padded(sent))*2))
	})
	t.Run("pipe", func(t *testing.T) {
		var buf bytes.Buffer
		writeFrames(t, audio.NewWAVWriter(&buf), sent)
		check(t, buf.Bytes(), -1)
	})
}

// padded is pcm zero-padded to whole frames.
func padded(pcm []int16) []int16 {
	n := (len(pcm) + audio.FrameSamples - 1) / audio.FrameSamples * audio.FrameSamples
	return append(append([]int16{}, pcm...), make([]int16, n-len(pcm))...)
}

func writeFrames(t testing.TB, s audio.Sink, pcm []int16) {
	t.Helper()
	src := audio.NewSliceSource(pcm)
	frame := make([]int16, audio.FrameSamples)
	for src.ReadFrame(frame) == nil {
		if err := s.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWAVFormats(t *testing.T) {
	sent := audiotest.Speech(3*time.Second, 32)
	for _, spec := range []wavSpec{
		{rate: 8000, channels: 1, bits: 16},
		{rate: 11025, channels: 1, bits: 8},
		{rate: 16000, channels: 1, bits: 16},
		{rate: 22050, channels: 1, bits: 16},
		{rate: 44100, channels: 1, bits: 16},
		{rate: 44100, channels: 2, bits: 16},
		{rate: 48000, channels: 2, bits: 24},
		{rate: 48000, channels: 1, bits: 32, float: true},
		{rate: 96000, channels: 1, bits: 64, float: true},
		{rate: 44100, channels: 2, bits: 24, extensible: true},
		{rate: 32000, channels: 6, bits: 32, extensible: true},
		{rate: 192000, channels: 1, bits: 32, float: true, extensible: true},
	} {
		name := fmt.Sprintf("%dHz-%dch-%dbit", spec.rate, spec.channels, spec.bits)
		if spec.float {
			name += "-float"
		}
		if spec.extensible {
			name += "-extensible"
		}
		t.Run(name, func(t *testing.T) {
			file := makeWAV(spec, downsample(sent, spec.rate))
			src, f, err := audio.OpenWAV(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if f.SampleRate != spec.rate || f.Channels != spec.channels || f.BitsPerSample != spec.bits ||
				f.Float != spec.float || f.Extensible != spec.extensible {
				t.Errorf("format %+v, want %+v", f, spec)
			}
			got := readAll(t, src)
			wantLen := len(sent) / audio.FrameSamples
			if d := len(got)/audio.FrameSamples - wantLen; d < -1 || d > 1 {
				t.Errorf("%d frames, want about %d", len(got)/audio.FrameSamples, wantLen)
			}
			corr, lag := audiotest.Match(sent, got, 100*time.Millisecond)
			wave := audiotest.WaveformMatch(sent, got, lag, 2*time.Millisecond)
			t.Logf("envelope corr %.4f at lag %s, waveform corr %.4f", corr, lag, wave)
			if corr < audiotest.MatchThreshold {
				t.Errorf("matches the original only %.3f", corr)
			}
			// The test's crude downsampling loses the top octave at low
			// rates, which waveform correlation notices; the envelope does not.
			if wave < 0.9 {
				t.Errorf("waveform correlation %.3f", wave)
			}
		})
	}
}

func TestWAVRefusesBadFiles(t *testing.T) {
	good := makeWAV(wavSpec{rate: 16000, channels: 1, bits: 16}, downsample(audiotest.Speech(200*time.Millisecond, 1), 16000))
	fmtOf := func(tag, channels uint16, rate uint32, block, bits uint16) []byte {
		b := make([]byte, 16)
		le := binary.LittleEndian
		le.PutUint16(b[0:], tag)
		le.PutUint16(b[2:], channels)
		le.PutUint32(b[4:], rate)
		le.PutUint32(b[8:], rate*uint32(block))
		le.PutUint16(b[12:], block)
		le.PutUint16(b[14:], bits)
		return b
	}
	data := chunk("data", make([]byte, 1000))
	hugeFmt := append([]byte("fmt "), 0xF0, 0xFF, 0xFF, 0xFF)
	badGUID := makeWAV(wavSpec{rate: 16000, channels: 1, bits: 16, extensible: true}, []float64{0})
	copy(badGUID[20+24+10:], "nonsense")
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty", "", "reading RIFF header"},
		{"garbage", "hello, this is not a wave file at all", "not a RIFF file"},
		{"not WAVE", string(chunk("RIFF", []byte("AVI junk"))), `form type is "AVI "`},
		{"RIFX", "RIFX\x00\x00\x00\x00WAVE", "big-endian"},
		{"truncated header", string(good[:30]), "reading fmt chunk"},
		{"no data chunk", string(riff(chunk("fmt ", fmtOf(1, 1, 16000, 2, 16)))), "no data chunk"},
		{"data before fmt", string(riff(data)), "data chunk before fmt"},
		{"huge fmt chunk", string(append(append([]byte("RIFF\x00\x00\x00\x00WAVE"), hugeFmt...), make([]byte, 64)...)), "fmt chunk size 4294967280 is too large"},
		{"tiny fmt chunk", string(riff(chunk("fmt ", make([]byte, 8)), data)), "fmt chunk size 8 is too small"},
		{"huge unknown chunk", string(append([]byte("RIFF\x00\x00\x00\x00WAVELIST\xff\xff\xff\x7f"), make([]byte, 100)...)), `chunk "LIST" declares 2147483647 bytes but the file ends after 100`},
		{"MP3 in WAV", string(riff(chunk("fmt ", fmtOf(0x55, 1, 16000, 1, 0)), data)), "wav: unsupported format tag 0x0055 (only PCM and IEEE float)"},
		{"no channels", string(riff(chunk("fmt ", fmtOf(1, 0, 16000, 0, 16)), data)), "unsupported channel count 0"},
		{"9 channels", string(riff(chunk("fmt ", fmtOf(1, 9, 16000, 18, 16)), data)), "unsupported channel count 9"},
		{"4 kHz", string(riff(chunk("fmt ", fmtOf(1, 1, 4000, 2, 16)), data)), "unsupported sample rate 4000 Hz"},
		{"384 kHz", string(riff(chunk("fmt ", fmtOf(1, 1, 384000, 2, 16)), data)), "unsupported sample rate 384000 Hz"},
		{"12 bits", string(riff(chunk("fmt ", fmtOf(1, 1, 16000, 2, 12)), data)), "unsupported bits per sample 12"},
		{"16-bit float", string(riff(chunk("fmt ", fmtOf(3, 1, 16000, 2, 16)), data)), "bits per sample 16 for IEEE float"},
		{"bad block align", string(riff(chunk("fmt ", fmtOf(1, 2, 16000, 2, 16)), data)), "block align 2 does not match 2 channels of 16 bits"},
		{"extensible GUID", string(badGUID), "unsupported extensible sub-format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := audio.OpenWAV(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A data chunk cut short of its declared size yields the audio there is,
// then an error rather than a quiet EOF.
func TestWAVTruncatedData(t *testing.T) {
	file := makeWAV(wavSpec{rate: 48000, channels: 1, bits: 16}, downsample(audiotest.Speech(time.Second, 2), 48000))
	src, _, err := audio.OpenWAV(bytes.NewReader(file[:len(file)/2]))
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := audio.ReadAll(src, time.Minute)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("error %v, want a truncation", err)
	}
	if len(pcm) < 20*audio.FrameSamples {
		t.Errorf("only %d samples before the cut", len(pcm))
	}
}

// A streamed WAV of unknown length (size 0xFFFFFFFF) reads to the end of
// the stream without holding it in memory.
func TestWAVStreamsLongInput(t *testing.T) {
	hdr := makeWAV(wavSpec{rate: 44100, channels: 2, bits: 16}, nil)
	binary.LittleEndian.PutUint32(hdr[len(hdr)-4:], 0xFFFFFFFF)
	const minutes = 3
	body := io.LimitReader(zeroReader{}, minutes*60*44100*4)
	src, f, err := audio.OpenWAV(io.MultiReader(bytes.NewReader(hdr), body))
	if err != nil {
		t.Fatal(err)
	}
	if f.DataBytes != -1 {
		t.Errorf("data bytes %d, want -1 (streaming)", f.DataBytes)
	}
	frame := make([]int16, audio.FrameSamples)
	frames := 0
	for ; ; frames++ {
		if err := src.ReadFrame(frame); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	if want := minutes * 60 * 50; frames != want {
		t.Errorf("%d frames, want %d", frames, want)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
