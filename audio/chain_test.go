package audio_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

// What a listener of a room hears through clubnode: a speaker's packets
// go into the listener node's Mixer, whose mix is encoded again on that
// node's own 20 ms clock and received by the listener's player with a
// Receiver on a third clock. Each clock has its own phase, and each hop
// adds jitter. The recording, silence before and after included, must
// still match what was said.
func TestSpeakerMixerListenerChain(t *testing.T) {
	speech := audiotest.Speech(4*time.Second, 11)
	rng := rand.New(rand.NewPCG(11, 12))
	speakerStart := 1*time.Second + 7*time.Millisecond // the listener started recording first
	mixPhase, playPhase := 3*time.Millisecond, 13*time.Millisecond

	// Hop 1: speaker to the listener's node.
	var hop1 []arrival
	for i, p := range encodeAll(t, speech) {
		sent := speakerStart + time.Duration(i)*audio.FrameDuration
		at := epoch.Add(sent + time.Duration(rng.Int64N(int64(8*time.Millisecond))))
		hop1 = append(hop1, arrival{&rtp.Packet{Header: rtp.Header{SSRC: 5, SequenceNumber: uint16(1000 + i),
			Timestamp: uint32(77 + i*audio.FrameSamples)}, Payload: p}, at})
	}
	sortArrivals(hop1)

	// The node mixes and encodes on its own clock, from before the speaker
	// starts until after, sending every packet (silence included).
	const seconds = 7
	mixer := audio.NewMixer(audio.ReceiverConfig{})
	enc, err := audio.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	var hop2 []arrival
	frame := make([]int16, audio.FrameSamples)
	next := 0
	for k := range seconds * 50 {
		now := epoch.Add(mixPhase + time.Duration(k)*audio.FrameDuration)
		for next < len(hop1) && !hop1[next].at.After(now) {
			mixer.Push("alice", hop1[next].pkt, hop1[next].at)
			next++
		}
		mixer.Next(now, frame)
		p, err := enc.Encode(frame)
		if err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Duration(rng.Int64N(int64(8 * time.Millisecond))))
		hop2 = append(hop2, arrival{&rtp.Packet{Header: rtp.Header{SSRC: 9, SequenceNumber: uint16(k),
			Timestamp: uint32(k * audio.FrameSamples)}, Payload: p}, at})
	}
	sortArrivals(hop2)

	// The listener's player records on a third clock.
	rx := newReceiver(t)
	var heard []int16
	next = 0
	for k := range seconds * 50 {
		now := epoch.Add(playPhase + time.Duration(k)*audio.FrameDuration)
		for next < len(hop2) && !hop2[next].at.After(now) {
			rx.Push(hop2[next].pkt, hop2[next].at)
			next++
		}
		rx.Pull(now, frame)
		heard = append(heard, frame...)
	}
	corr, lag := audiotest.Match(speech, heard, 3*time.Second)
	t.Logf("corr %.3f, speech found %s into the recording (spoken from %s); listener stats %+v",
		corr, lag, speakerStart, rx.Stats())
	if corr < audiotest.MatchThreshold {
		t.Errorf("the recording matches only %.3f", corr)
	}
	if want := speakerStart + 2*testDelay; lag < speakerStart || lag > want+100*time.Millisecond {
		t.Errorf("speech found %s into the recording; spoken from %s, two jitter buffers add about %s", lag, speakerStart, 2*testDelay)
	}
}
