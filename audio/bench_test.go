package audio_test

import (
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

func BenchmarkEncode(b *testing.B) {
	pcm := audiotest.Speech(2*time.Second, 1)
	enc, err := audio.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	frames := len(pcm) / audio.FrameSamples
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		off := (i % frames) * audio.FrameSamples
		if _, err := enc.Encode(pcm[off : off+audio.FrameSamples]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRealtime(b)
}

func BenchmarkDecode(b *testing.B) {
	pkts := encodeAll(b, audiotest.Speech(2*time.Second, 1))
	dec, err := audio.NewDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, audio.FrameSamples)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := dec.Decode(pkts[i%len(pkts)], pcm); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRealtime(b)
}

// BenchmarkMixerNext is one 20 ms tick of a listener's mixer with four
// speakers talking at once: four packets pushed, four decoded, mixed.
func BenchmarkMixerNext(b *testing.B) {
	const speakers = 4
	var streams [speakers][]arrival
	for s := range speakers {
		pkts := stream(encodeAll(b, audiotest.Speech(2*time.Second, int64(s))), uint32(s), 0, 0)
		streams[s] = paced(pkts, epoch, audio.FrameDuration, 0, nil)
	}
	frames := len(streams[0])
	names := []string{"alice", "bob", "carol", "dave"}
	m := audio.NewMixer(audio.ReceiverConfig{})
	out := make([]int16, audio.FrameSamples)
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		// Loop the streams on an ever-advancing clock; a lap restarts the
		// numbering, which the Receivers follow as a restart.
		lap, i := k/frames, k%frames
		now := epoch.Add(time.Duration(k) * audio.FrameDuration)
		for s := range speakers {
			a := streams[s][i]
			pkt := *a.pkt
			pkt.SequenceNumber += uint16(lap * 7919)
			pkt.Timestamp += uint32(lap * 7919 * audio.FrameSamples)
			m.Push(names[s], &pkt, now)
		}
		m.Next(now, out)
		k++
	}
	reportRealtime(b)
}

// reportRealtime adds the share of one core a 20 ms frame costs.
func reportRealtime(b *testing.B) {
	perFrame := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perFrame, "ns/frame")
	b.ReportMetric(100*perFrame/float64(audio.FrameDuration.Nanoseconds()), "%core")
}
