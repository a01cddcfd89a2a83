package audio_test

import (
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

func TestCodecRoundTrip(t *testing.T) {
	sent := audiotest.Speech(4*time.Second, 1)
	dec, err := audio.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var got []int16
	frame := make([]int16, audio.FrameSamples)
	for _, p := range encodeAll(t, sent) {
		if err := dec.Decode(p, frame); err != nil {
			t.Fatal(err)
		}
		got = append(got, frame...)
	}
	corr, lag := audiotest.Match(sent, got, 200*time.Millisecond)
	wave := audiotest.WaveformMatch(sent, got, lag, 5*time.Millisecond)
	t.Logf("envelope corr %.4f at lag %s, waveform corr %.4f", corr, lag, wave)
	if corr < audiotest.MatchThreshold {
		t.Errorf("round trip matches %.3f, below %.2f", corr, audiotest.MatchThreshold)
	}
	if lag > 10*time.Millisecond {
		t.Errorf("lag %s; libopus delays by 6.5 ms", lag)
	}
	if wave < 0.9 {
		t.Errorf("waveform correlation %.3f; Opus at 32 kbit/s keeps the waveform of speech well above 0.9", wave)
	}
}

func TestCodecDTX(t *testing.T) {
	silence := make([]int16, 48000) // 1 s
	sizes := map[int]int{}
	for _, p := range encodeAll(t, silence) {
		sizes[len(p)]++
	}
	tiny := 0
	for n, c := range sizes {
		if n <= 2 {
			tiny += c
		}
	}
	// DTX starts after 200 ms; it still sends a comfort-noise update every 400 ms.
	if tiny < 30 {
		t.Errorf("1 s of silence gave packet sizes %v; want mostly DTX packets of 1-2 bytes", sizes)
	}
}

func TestCodecRefusesWrongFrameSizes(t *testing.T) {
	enc, err := audio.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Encode(make([]int16, 480)); err == nil {
		t.Error("Encode took a 10 ms frame")
	}
	dec, err := audio.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	pkt, err := enc.Encode(make([]int16, audio.FrameSamples))
	if err != nil {
		t.Fatal(err)
	}
	// A buffer with room past its length must not be written past it.
	big := make([]int16, 2*audio.FrameSamples)
	if err := dec.Decode(pkt, big[:audio.FrameSamples-1]); err == nil {
		t.Error("Decode took a short buffer")
	}
	if err := dec.Decode(nil, big[:audio.FrameSamples]); err == nil {
		t.Error("Decode took an empty packet")
	}
	if err := dec.DecodeFEC(pkt, big[:audio.FrameSamples]); err != nil {
		t.Errorf("DecodeFEC: %v", err)
	}
	if err := dec.Conceal(big[:audio.FrameSamples]); err != nil {
		t.Errorf("Conceal: %v", err)
	}
	if err := dec.Decode([]byte{0xff, 0xff, 0xff}, big[:audio.FrameSamples]); err == nil {
		t.Error("Decode took a malformed packet")
	}
}
