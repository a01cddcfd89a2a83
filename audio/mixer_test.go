package audio_test

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

// mixRun pushes each speaker's packets at their arrival times and calls
// Next every 20 ms, collecting the mix and the levels.
func mixRun(m *audio.Mixer, speakers map[string][]arrival, frames int) ([]int16, []map[string]float64) {
	out := make([]int16, 0, frames*audio.FrameSamples)
	var levels []map[string]float64
	frame := make([]int16, audio.FrameSamples)
	next := map[string]int{}
	for k := range frames {
		now := epoch.Add(time.Duration(k) * audio.FrameDuration)
		for id, arr := range speakers {
			for next[id] < len(arr) && !arr[next[id]].at.After(now) {
				m.Push(id, arr[next[id]].pkt, arr[next[id]].at)
				next[id]++
			}
		}
		levels = append(levels, m.Next(now, frame))
		out = append(out, frame...)
	}
	return out, levels
}

func TestMixerTwoSpeakers(t *testing.T) {
	const half = 3 * time.Second
	hush := make([]int16, int(half*audio.SampleRate/time.Second))
	speechA := audiotest.Speech(half, 21)
	speechB := audiotest.Speech(half, 22)
	a := append(append([]int16{}, speechA...), hush...) // A speaks first, then B
	b := append(append([]int16{}, hush...), speechB...)
	pa := stream(encodeAll(t, a), 1, 0, 0)
	pb := stream(encodeAll(t, b), 2, 500, 9000)
	m := audio.NewMixer(audio.ReceiverConfig{Delay: testDelay})
	frames := len(pa) + 10
	mix, levels := mixRun(m, map[string][]arrival{
		"alice": paced(pa, epoch, audio.FrameDuration, 0, nil),
		"bob":   paced(pb, epoch, audio.FrameDuration, 0, nil),
	}, frames)

	n := len(hush)
	first, second := mix[:n], mix[n:]
	checkHeard(t, "alice in the first half", speechA, first)
	checkHeard(t, "bob in the second half", speechB, second)
	if corr, _ := audiotest.Match(speechB, first, time.Second); corr >= audiotest.MatchThreshold {
		t.Errorf("bob matches the first half (%.2f), where he was silent", corr)
	}

	// Levels: only the one speaking is reported, and they are, for most
	// of their syllables.
	skip := int(testDelay/audio.FrameDuration) + 1
	aliceLoud, bobLoud := 0, 0
	for k, lv := range levels {
		inFirst := k >= skip && k < len(pa)/2+skip-1
		inSecond := k >= len(pa)/2+skip && k < len(pa)+skip-1
		if _, ok := lv["bob"]; ok && inFirst {
			t.Errorf("frame %d: bob reported at %.4f while silent", k, lv["bob"])
		}
		if _, ok := lv["alice"]; ok && inSecond {
			t.Errorf("frame %d: alice reported at %.4f while silent", k, lv["alice"])
		}
		if l := lv["alice"]; inFirst && l > 0.01 {
			aliceLoud++
		}
		if l := lv["bob"]; inSecond && l > 0.01 {
			bobLoud++
		}
		for id, l := range lv {
			if l < audio.ActivityFloor || l > 1 {
				t.Errorf("frame %d: %s level %.4f out of range", k, id, l)
			}
		}
	}
	// Speech is voiced about 60 % of the time.
	if aliceLoud < len(pa)/2/3 || bobLoud < len(pa)/2/3 {
		t.Errorf("loud frames: alice %d, bob %d of %d", aliceLoud, bobLoud, len(pa)/2)
	}
}

// The mix is exactly the saturated sum of what each speaker's own
// Receiver plays: loud overlapping speakers clip, never wrap around.
func TestMixerSaturates(t *testing.T) {
	tone := func(phase float64) []int16 {
		pcm := make([]int16, audio.SampleRate) // 1 s at 0.9 of full scale
		for i := range pcm {
			pcm[i] = int16(0.9 * 32767 * math.Sin(2*math.Pi*300*float64(i)/audio.SampleRate+phase))
		}
		return pcm
	}
	pa := stream(encodeAll(t, tone(0)), 1, 0, 0)
	pb := stream(encodeAll(t, tone(0.2)), 2, 0, 0)
	arrA := paced(pa, epoch, audio.FrameDuration, 0, nil)
	arrB := paced(pb, epoch, audio.FrameDuration, 0, nil)
	m := audio.NewMixer(audio.ReceiverConfig{Delay: testDelay})
	mix, _ := mixRun(m, map[string][]arrival{"a": arrA, "b": arrB}, len(pa)+5)
	ga, _ := playout(newReceiver(t), arrA, epoch, len(pa)+5)
	gb, _ := playout(newReceiver(t), arrB, epoch, len(pb)+5)
	clipped := 0
	for i := range mix {
		sum := int32(ga[i]) + int32(gb[i])
		want := int16(min(max(sum, math.MinInt16), math.MaxInt16))
		if mix[i] != want {
			t.Fatalf("sample %d: mix %d, want %d (a %d + b %d)", i, mix[i], want, ga[i], gb[i])
		}
		if sum != int32(want) {
			clipped++
		}
	}
	if clipped == 0 {
		t.Error("nothing clipped; the test needs louder speakers")
	}
}

func TestMixerSpeakerLimitAndRemove(t *testing.T) {
	m := audio.NewMixer(audio.ReceiverConfig{})
	pkt := &rtp.Packet{Header: rtp.Header{SSRC: 1}, Payload: encodeAll(t, make([]int16, audio.FrameSamples))[0]}
	for i := range audio.MaxSpeakers + 5 {
		m.Push(fmt.Sprint("speaker", i), pkt, epoch)
	}
	if got := m.Ignored(); got != 5 {
		t.Errorf("ignored %d packets, want 5", got)
	}
	if _, ok := m.Stats("speaker0"); !ok {
		t.Error("speaker0 has no receiver")
	}
	m.Remove("speaker0")
	if _, ok := m.Stats("speaker0"); ok {
		t.Error("speaker0 still there after Remove")
	}
	m.Push("newcomer", pkt, epoch) // room again after a Remove
	if _, ok := m.Stats("newcomer"); !ok {
		t.Error("no room for a new speaker after Remove")
	}
}

// Packets pushed from several goroutines while a clock calls Next (run
// with -race).
func TestMixerConcurrentUse(t *testing.T) {
	payloads := encodeAll(t, audiotest.Speech(time.Second, 23))
	m := audio.NewMixer(audio.ReceiverConfig{})
	var wg sync.WaitGroup
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, p := range stream(payloads, uint32(s), 0, 0) {
				m.Push(fmt.Sprint(s), p, epoch.Add(time.Duration(i)*audio.FrameDuration))
			}
		}()
	}
	frame := make([]int16, audio.FrameSamples)
	for k := range len(payloads) {
		m.Next(epoch.Add(time.Duration(k)*audio.FrameDuration), frame)
	}
	wg.Wait()
}
