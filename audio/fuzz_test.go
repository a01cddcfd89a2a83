package audio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

// readFrames reads src to the end or its first error, failing if it gives
// more frames than max.
func readFrames(t *testing.T, src audio.Source, max int) {
	frame := make([]int16, audio.FrameSamples)
	for n := 0; ; n++ {
		err := src.ReadFrame(frame)
		if errors.Is(err, io.EOF) || err != nil {
			return
		}
		if n > max {
			t.Fatalf("more than %d frames", max)
		}
	}
}

func FuzzOpenWAV(f *testing.F) {
	speech := downsample(audiotest.Speech(60*time.Millisecond, 1), 8000)
	for _, spec := range []wavSpec{
		{rate: 8000, channels: 1, bits: 16},
		{rate: 8000, channels: 2, bits: 8},
		{rate: 8000, channels: 1, bits: 24, extensible: true},
		{rate: 8000, channels: 3, bits: 32, float: true},
		{rate: 8000, channels: 1, bits: 64, float: true},
	} {
		f.Add(makeWAV(spec, speech))
	}
	streaming := makeWAV(wavSpec{rate: 48000, channels: 1, bits: 16}, speech)
	binary.LittleEndian.PutUint32(streaming[len(streaming)-4-2*len(speech):], 0xFFFFFFFF)
	f.Add(streaming)
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, file []byte) {
		src, format, err := audio.OpenWAV(bytes.NewReader(file))
		if err != nil {
			if src != nil {
				t.Fatal("a Source with an error")
			}
			return
		}
		if format.SampleRate < 8000 || format.SampleRate > 192000 || format.Channels < 1 || format.Channels > 8 {
			t.Fatalf("accepted format %+v", format)
		}
		// Output is bounded by the input: at worst 8 kHz 8-bit mono, one
		// byte per input sample, six samples out per sample in.
		readFrames(t, src, 6*len(file)/audio.FrameSamples+2)
	})
}

func FuzzOpenOggOpus(f *testing.F) {
	pkts := encodeAll(f, audiotest.Speech(100*time.Millisecond, 2))
	f.Add(muxed(opusHead(1, 312, 0), pkts, 300, 100))
	f.Add(muxed(opusHead(2, 0, -256), pkts, 0, 0))
	var own bytes.Buffer
	if w, err := audio.NewOggOpusWriter(&own); err == nil {
		writeFrames(f, w, audiotest.Speech(60*time.Millisecond, 3))
	}
	f.Add(own.Bytes())
	f.Fuzz(func(t *testing.T, file []byte) {
		src, err := audio.OpenOggOpus(bytes.NewReader(file))
		if err != nil {
			return
		}
		// Every packet is at least one byte and at most 120 ms.
		readFrames(t, src, len(file)*6+2)
	})
}

// FuzzReceiverPush feeds a Receiver arbitrary packet sequences, with real
// Opus payloads or arbitrary bytes, on an arbitrary clock, pulling
// between them.
func FuzzReceiverPush(f *testing.F) {
	pool := encodeAll(f, audiotest.Speech(400*time.Millisecond, 4))
	f.Add([]byte{0, 1, 0, 1, 3, 0, 1, 0, 1, 4, 2, 0, 1, 0, 1, 5, 2, 2, 2})
	f.Add([]byte{0, 0x80, 0, 0xff, 1, 1, 0, 3, 0, 4, 0, 9, 2, 2, 2, 2, 2, 2, 2, 2})
	f.Add(bytes.Repeat([]byte{0, 1, 0, 1, 7, 2}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		rx, err := audio.NewReceiver(audio.ReceiverConfig{Delay: 40 * time.Millisecond, MaxPackets: 10})
		if err != nil {
			t.Fatal(err)
		}
		now := epoch
		seq, ts, ssrc := uint16(0), uint32(0), uint32(1)
		frame := make([]int16, audio.FrameSamples)
		pulls, pushes := 0, 0
		for len(ops) > 0 {
			op := ops[0]
			ops = ops[1:]
			arg := func() byte {
				if len(ops) == 0 {
					return 0
				}
				b := ops[0]
				ops = ops[1:]
				return b
			}
			switch op % 4 {
			case 0: // push: seq step, timestamp step in frames, payload choice
				seq += uint16(int8(arg()))
				ts += uint32(int8(arg())) * audio.FrameSamples
				var payload []byte
				if c := arg(); c < 200 {
					payload = pool[int(c)%len(pool)]
				} else {
					n := min(int(c-200), len(ops))
					payload = ops[:n]
					ops = ops[n:]
				}
				rx.Push(&rtp.Packet{Header: rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: payload}, now)
				pushes++
			case 1: // the clock moves on
				now = now.Add(time.Duration(arg()) * time.Millisecond)
			case 2: // a pull, on the clock
				now = now.Add(audio.FrameDuration)
				k := rx.Pull(now, frame)
				if k < audio.Silent || k > audio.Concealed {
					t.Fatalf("pull gave %v", k)
				}
				pulls++
			case 3: // the sender restarts with another SSRC
				ssrc++
				seq += 12345
			}
		}
		st := rx.Stats()
		if st.Packets > uint64(pushes) || st.Decoded+st.Recovered+st.Concealed > uint64(pulls) {
			t.Fatalf("stats %+v after %d pushes and %d pulls", st, pushes, pulls)
		}
	})
}
