package audio_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/audio"
)

// The package starts no goroutines; this keeps it that way.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// arrival is a packet and when it reaches the receiver.
type arrival struct {
	pkt *rtp.Packet
	at  time.Time
}

// encodeAll encodes pcm frame by frame (the last frame padded).
func encodeAll(t testing.TB, pcm []int16) [][]byte {
	t.Helper()
	enc, err := audio.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	frame := make([]int16, audio.FrameSamples)
	for off := 0; off < len(pcm); off += audio.FrameSamples {
		clear(frame)
		copy(frame, pcm[off:])
		p, err := enc.Encode(frame)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// stream numbers payloads as RTP packets from seq and ts, one frame apart.
func stream(payloads [][]byte, ssrc uint32, seq uint16, ts uint32) []*rtp.Packet {
	pkts := make([]*rtp.Packet, len(payloads))
	for i, p := range payloads {
		pkts[i] = &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: audio.PayloadType,
			SequenceNumber: seq + uint16(i), Timestamp: ts + uint32(i*audio.FrameSamples), SSRC: ssrc}, Payload: p}
	}
	return pkts
}

// paced sends one packet every interval from start, each delayed by a
// random network delay in [0, jitter), and returns them in arrival order.
func paced(pkts []*rtp.Packet, start time.Time, interval, jitter time.Duration, rng *rand.Rand) []arrival {
	out := make([]arrival, 0, len(pkts))
	for i, p := range pkts {
		at := start.Add(time.Duration(i) * interval)
		if jitter > 0 {
			at = at.Add(time.Duration(rng.Int64N(int64(jitter))))
		}
		out = append(out, arrival{p, at})
	}
	sortArrivals(out)
	return out
}

func sortArrivals(a []arrival) {
	for i := 1; i < len(a); i++ { // insertion sort: stable and nearly sorted input
		for j := i; j > 0 && a[j].at.Before(a[j-1].at); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// playout pushes arrivals into rx as their time comes and pulls a frame
// every 20 ms from start for the given number of frames, as a playout
// clock would.
func playout(rx *audio.Receiver, arrivals []arrival, start time.Time, frames int) ([]int16, []audio.FrameKind) {
	out := make([]int16, 0, frames*audio.FrameSamples)
	kinds := make([]audio.FrameKind, 0, frames)
	frame := make([]int16, audio.FrameSamples)
	next := 0
	for k := range frames {
		now := start.Add(time.Duration(k) * audio.FrameDuration)
		for next < len(arrivals) && !arrivals[next].at.After(now) {
			rx.Push(arrivals[next].pkt, arrivals[next].at)
			next++
		}
		kinds = append(kinds, rx.Pull(now, frame))
		out = append(out, frame...)
	}
	return out, kinds
}

func count(kinds []audio.FrameKind, k audio.FrameKind) int {
	n := 0
	for _, x := range kinds {
		if x == k {
			n++
		}
	}
	return n
}

// concealedBefore counts concealed frames except the run at the very
// end, where the stream stopped and up to five frames of concealment are
// what the Receiver is meant to play.
func concealedBefore(kinds []audio.FrameKind) int {
	end := len(kinds)
	for end > 0 && kinds[end-1] != audio.Decoded {
		end--
	}
	return count(kinds[:end], audio.Concealed)
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
