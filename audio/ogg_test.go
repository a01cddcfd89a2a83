package audio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"gopkg.in/hraban/opus.v2"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

// libopusfile decodes an Ogg Opus file with libopusfile (through
// hraban/opus's Stream): an independent reader that applies pre-skip,
// gain and end trimming its own way, to hold ours against.
func libopusfile(t *testing.T, file []byte) []int16 {
	t.Helper()
	s, err := opus.NewStream(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []int16
	buf := make([]int16, 5760)
	for {
		n, err := s.Read(buf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf[:n]...)
	}
}

func TestOggOpusRoundTrip(t *testing.T) {
	sent := audiotest.Speech(3*time.Second, 41)
	var file bytes.Buffer
	w, err := audio.NewOggOpusWriter(&file)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, w, sent)
	src, err := audio.OpenOggOpus(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, src)
	if extra := len(got) - len(sent); extra < 0 || extra > audio.FrameSamples {
		t.Errorf("read %d samples for %d written; want at most a frame more", len(got), len(sent))
	}
	// The writer's lead-in and the pre-skip line the output up with the
	// input: to the encoder's reported look-ahead (312 samples), which is
	// what opusenc uses too. The codec's true delay for speech in SILK mode
	// is a few samples less, so allow 0.2 ms.
	best, bestLag := 0.0, 0
	for lag := -20; lag <= 20; lag++ {
		if c := audiotest.WaveformMatch(sent, got, time.Duration(lag)*time.Second/audio.SampleRate, 0); c > best {
			best, bestLag = c, lag
		}
	}
	corr, _ := audiotest.Match(sent, got, 100*time.Millisecond)
	t.Logf("envelope corr %.4f; waveform corr %.4f at lag %d samples", corr, best, bestLag)
	if bestLag < -8 || bestLag > 8 {
		t.Errorf("output is %d samples off the input", bestLag)
	}
	if corr < audiotest.MatchThreshold || best < 0.9 {
		t.Errorf("round trip matches %.3f (waveform %.3f)", corr, best)
	}
	ref := libopusfile(t, file.Bytes())
	checkSameAs(t, got, ref)
}

// checkSameAs compares our decoding with libopusfile's: same length and
// timing, samples equal but for libopusfile's dither.
func checkSameAs(t *testing.T, got, ref []int16) {
	t.Helper()
	// Ours pads the last frame; libopusfile stops where the file does.
	if len(got) < len(ref) || len(got)-len(ref) >= audio.FrameSamples {
		t.Errorf("%d samples, libopusfile gives %d", len(got), len(ref))
	}
	worst := 0
	var sq float64
	n := min(len(got), len(ref))
	for i := range n {
		d := int(got[i]) - int(ref[i])
		worst = max(worst, abs(d))
		sq += float64(d * d)
	}
	rmsDiff := math.Sqrt(sq / float64(n))
	wave := audiotest.WaveformMatch(ref, got, 0, 0)
	t.Logf("vs libopusfile: largest difference %d, RMS difference %.2f, waveform corr %.6f", worst, rmsDiff, wave)
	if rmsDiff > 4 || wave < 0.9999 {
		t.Errorf("differs from libopusfile: RMS difference %.2f, correlation %.6f", rmsDiff, wave)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// oggCRC is the Ogg page checksum (CRC-32, polynomial 0x04c11db7, not
// reflected), written out here rather than taken from the code under test.
func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// oggMuxer lays packets out in pages the way opusenc and ffmpeg do: many
// packets per page, long packets across pages.
type oggMuxer struct {
	out     bytes.Buffer
	serial  uint32
	seq     uint32
	granule uint64
}

// page writes one page holding segs (lacing values) over payload.
func (m *oggMuxer) page(flags byte, granule uint64, lacing, payload []byte) {
	h := make([]byte, 27, 27+len(lacing)+len(payload))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], granule)
	binary.LittleEndian.PutUint32(h[14:], m.serial)
	binary.LittleEndian.PutUint32(h[18:], m.seq)
	h[26] = byte(len(lacing))
	h = append(append(h, lacing...), payload...)
	binary.LittleEndian.PutUint32(h[22:], oggCRC(h))
	m.out.Write(h)
	m.seq++
}

// packets writes packets into pages of at most perPage packets, splitting
// any that do not fit into 255 segments across pages.
func (m *oggMuxer) packets(pkts [][]byte, perPage int, samplesPer uint64, last bool) {
	var lacing, payload []byte
	flags := byte(0)
	inPage := 0
	flush := func(complete bool, eos bool) {
		g := ^uint64(0)
		if complete {
			g = m.granule
		}
		f := flags
		if eos {
			f |= 4
		}
		m.page(f, g, lacing, payload)
		lacing, payload, inPage = nil, nil, 0
		flags = 0
	}
	for i, p := range pkts {
		rest := p
		for {
			n := min(len(rest), 255)
			if len(lacing) == 255 {
				flush(false, false)
				flags = 1 // continuation
			}
			lacing = append(lacing, byte(n))
			payload = append(payload, rest[:n]...)
			rest = rest[n:]
			if n < 255 {
				break
			}
		}
		m.granule += samplesPer
		inPage++
		if inPage == perPage || i == len(pkts)-1 {
			flush(true, last && i == len(pkts)-1)
		}
	}
}

func opusHead(channels byte, preSkip uint16, gain int16) []byte {
	h := make([]byte, 19)
	copy(h, "OpusHead")
	h[8] = 1
	h[9] = channels
	binary.LittleEndian.PutUint16(h[10:], preSkip)
	binary.LittleEndian.PutUint32(h[12:], 48000)
	binary.LittleEndian.PutUint16(h[16:], uint16(gain))
	return h
}

// muxed builds an Ogg Opus file the way common encoders do: the given
// head, an OpusTags packet with coverArt bytes of picture (70 kB spans two
// pages), 50 packets a page, and an end trimmed by the last granule
// position.
func muxed(head []byte, pkts [][]byte, coverArt int, trim int) []byte {
	m := &oggMuxer{serial: 77}
	m.page(2, 0, []byte{byte(len(head))}, head)
	tags := []byte("OpusTags\x05\x00\x00\x00tests\x01\x00\x00\x00")
	comment := "METADATA_BLOCK_PICTURE=" + strings.Repeat("A", coverArt)
	tags = binary.LittleEndian.AppendUint32(tags[:len(tags)-4], 1)
	tags = binary.LittleEndian.AppendUint32(tags, uint32(len(comment)))
	tags = append(tags, comment...)
	m.packets([][]byte{tags}, 1, 0, false)
	m.granule = 0
	m.packets(pkts[:len(pkts)-1], 50, audio.FrameSamples, false)
	m.granule -= uint64(trim)
	m.packets(pkts[len(pkts)-1:], 50, audio.FrameSamples, true)
	return m.out.Bytes()
}

// Files as opusenc or ffmpeg write them: many packets per page, tags
// across pages, end trimming; mono and stereo; with an output gain.
func TestOggOpusCommonLayouts(t *testing.T) {
	sent := audiotest.Speech(3*time.Second, 42)
	for _, tc := range []struct {
		name     string
		channels int
		gain     int16
	}{{"mono", 1, 0}, {"stereo", 2, 0}, {"gain -6 dB", 1, -6 * 256}} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := opus.NewEncoder(48000, tc.channels, opus.AppAudio)
			if err != nil {
				t.Fatal(err)
			}
			in := sent
			if tc.channels == 2 {
				in = make([]int16, 2*len(sent))
				for i, v := range sent {
					in[2*i], in[2*i+1] = v, v/2
				}
			}
			var pkts [][]byte
			step := audio.FrameSamples * tc.channels
			buf := make([]byte, 4000)
			for off := 0; off+step <= len(in); off += step {
				n, err := enc.Encode(in[off:off+step], buf)
				if err != nil {
					t.Fatal(err)
				}
				pkts = append(pkts, append([]byte(nil), buf[:n]...))
			}
			file := muxed(opusHead(byte(tc.channels), 312, tc.gain), pkts, 70000, 500)
			src, err := audio.OpenOggOpus(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, src)
			corr, lag := audiotest.Match(sent, got, 100*time.Millisecond)
			t.Logf("corr %.4f at lag %s", corr, lag)
			if corr < audiotest.MatchThreshold {
				t.Errorf("matches only %.3f", corr)
			}
			if tc.channels == 1 {
				checkSameAs(t, got, libopusfile(t, file))
			}
			if tc.gain != 0 {
				ratio := rmsOf(got) / rmsOf(sent)
				if ratio < 0.45 || ratio > 0.56 {
					t.Errorf("with -6 dB gain the level is %.2f of the original", ratio)
				}
			}
		})
	}
}

func rmsOf(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(pcm)))
}

func TestOggOpusRefusesBadFiles(t *testing.T) {
	pkt := encodeAll(t, audiotest.Speech(100*time.Millisecond, 1))
	good := muxed(opusHead(1, 312, 0), pkt, 300, 0)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-10] ^= 0xff
	sixChannels := append(opusHead(6, 312, 0), 2, 1, 0, 4, 1, 2, 3, 5)
	sixChannels[18] = 1
	vorbis := &oggMuxer{serial: 1}
	vorbis.page(2, 0, []byte{30}, append([]byte("\x01vorbis"), make([]byte, 23)...))
	notTags := &oggMuxer{serial: 1}
	notTags.page(2, 0, []byte{19}, opusHead(1, 312, 0))
	notTags.page(0, 0, []byte{3}, []byte("abc"))
	for _, tc := range []struct {
		name, file, want string
	}{
		{"empty", "", "no Opus stream"},
		{"garbage", strings.Repeat("garbage ", 20), "ogg: "},
		{"vorbis", vorbis.out.String(), "no Opus stream"},
		{"six channels", string(muxed(sixChannels, pkt, 300, 0)), "unsupported channel layout: 6 channels"},
		{"second packet not tags", notTags.out.String(), "headers (OpusHead, OpusTags) are damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := audio.OpenOggOpus(strings.NewReader(tc.file))
			if err == nil {
				_, err = audio.ReadAll(src, time.Minute)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A page with a bad checksum, or a file cut short, plays what is
	// there, as players do: libopusfile drops the damaged page and stops
	// at the cut.
	for name, file := range map[string][]byte{"bad checksum": badCRC, "truncated": good[:len(good)-7]} {
		src, err := audio.OpenOggOpus(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := audio.ReadAll(src, time.Minute); err != nil || len(got) >= len(libopusfile(t, good))+audio.FrameSamples {
			t.Errorf("%s: %d samples, %v", name, len(got), err)
		}
	}
}

// pion's own writer (one packet per page, as the WebRTC recording
// examples make) is read too.
func TestOggOpusFromPionRecorder(t *testing.T) {
	sent := audiotest.Speech(2*time.Second, 43)
	var file bytes.Buffer
	w, err := oggwriter.NewWith(&file, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range encodeAll(t, sent) {
		if err := w.WriteRTP(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	src, err := audio.OpenOggOpus(&file)
	if err != nil {
		t.Fatal(err)
	}
	// pion declares a pre-skip of 3840 whatever the encoder's delay, so
	// the start is 73.5 ms early; the match finds that lag.
	got := readAll(t, src)
	corr, _ := audiotest.Match(sent[3840:], got, 100*time.Millisecond)
	if corr < audiotest.MatchThreshold {
		t.Errorf("matches only %.3f", corr)
	}
}
