package audio_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

const testDelay = 60 * time.Millisecond

func newReceiver(t testing.TB) *audio.Receiver {
	t.Helper()
	rx, err := audio.NewReceiver(audio.ReceiverConfig{Delay: testDelay})
	if err != nil {
		t.Fatal(err)
	}
	return rx
}

// checkHeard fails the test unless got carries sent.
func checkHeard(t *testing.T, what string, sent, got []int16) {
	t.Helper()
	corr, lag := audiotest.Match(sent, got, time.Second)
	t.Logf("%s: corr %.4f at lag %s", what, corr, lag)
	if corr < audiotest.MatchThreshold {
		t.Errorf("%s: output matches the input only %.3f (threshold %.2f)", what, corr, audiotest.MatchThreshold)
	}
}

func TestReceiverInOrder(t *testing.T) {
	sent := audiotest.Speech(3*time.Second, 1)
	pkts := stream(encodeAll(t, sent), 1, 65500, 4294960000) // both counters wrap during the stream
	rx := newReceiver(t)
	got, kinds := playout(rx, paced(pkts, epoch, audio.FrameDuration, 0, nil), epoch, len(pkts)+10)
	st := rx.Stats()
	if st.Packets != uint64(len(pkts)) || st.Lost != 0 || concealedBefore(kinds) != 0 || st.Late != 0 {
		t.Errorf("stats %+v", st)
	}
	// Playout starts when the first packet has waited the delay: 3 frames.
	first := 0
	for first < len(kinds) && kinds[first] == audio.Silent {
		first++
	}
	if want := int(testDelay / audio.FrameDuration); first != want {
		t.Errorf("first frame played at pull %d, want %d", first, want)
	}
	checkHeard(t, "in order", sent, got)
}

func TestReceiverReorderedAndDuplicated(t *testing.T) {
	sent := audiotest.Speech(3*time.Second, 2)
	pkts := stream(encodeAll(t, sent), 7, 1000, 5000)
	rng := rand.New(rand.NewPCG(1, 2))
	// Up to 40 ms of jitter reorders packets; every packet also arrives
	// twice.
	arr := paced(pkts, epoch, audio.FrameDuration, 40*time.Millisecond, rng)
	dups := paced(pkts, epoch.Add(5*time.Millisecond), audio.FrameDuration, 40*time.Millisecond, rng)
	arr = append(arr, dups...)
	sortArrivals(arr)
	reordered := 0
	for i := 1; i < len(arr); i++ {
		if int16(arr[i].pkt.SequenceNumber-arr[i-1].pkt.SequenceNumber) < 0 {
			reordered++
		}
	}
	rx := newReceiver(t)
	got, kinds := playout(rx, arr, epoch, len(pkts)+10)
	st := rx.Stats()
	t.Logf("%d out-of-order arrivals; stats %+v", reordered, st)
	if reordered < 20 {
		t.Fatalf("only %d packets arrived out of order; the test needs more", reordered)
	}
	if st.Lost != 0 || concealedBefore(kinds) != 0 || st.Late != 0 {
		t.Errorf("reordering within the delay lost audio: %+v", st)
	}
	if st.Duplicates+st.Late < uint64(len(pkts))-5 {
		t.Errorf("duplicates %d, want about %d", st.Duplicates, len(pkts))
	}
	checkHeard(t, "reordered", sent, got)
}

func TestReceiverRepairsLoss(t *testing.T) {
	sent := audiotest.Speech(6*time.Second, 3)
	pkts := stream(encodeAll(t, sent), 9, 0, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	var kept []arrival
	lost := 0
	for i, a := range paced(pkts, epoch, audio.FrameDuration, 10*time.Millisecond, rng) {
		// 5 % random loss, plus one burst of three so concealment runs too.
		if rng.Float64() < 0.05 || (i >= 100 && i < 103) {
			lost++
			continue
		}
		kept = append(kept, a)
	}
	rx := newReceiver(t)
	got, kinds := playout(rx, kept, epoch, len(pkts)+10)
	st := rx.Stats()
	t.Logf("dropped %d of %d; stats %+v; kinds: %d recovered, %d concealed", lost, len(pkts), st,
		count(kinds, audio.Recovered), count(kinds, audio.Concealed))
	if st.Recovered == 0 || st.Concealed == 0 {
		t.Errorf("FEC and concealment should both have run: %+v", st)
	}
	if int(st.Lost) < lost-2 || int(st.Lost) > lost+2 {
		t.Errorf("counted %d lost, dropped %d", st.Lost, lost)
	}
	checkHeard(t, "5% loss", sent, got)
}

// DTX as browsers send it: packets of one or two bytes are not sent, the
// sequence continues and the timestamp jumps.
func TestReceiverDTXGapIsSilenceNotLoss(t *testing.T) {
	sent := append(audiotest.Speech(2*time.Second, 4), make([]int16, 2*48000)...)
	sent = append(sent, audiotest.Speech(2*time.Second, 5)...)
	payloads := encodeAll(t, sent)
	var arr []arrival
	seq := uint16(40)
	for i, p := range payloads {
		if len(p) <= 2 {
			continue
		}
		at := epoch.Add(time.Duration(i) * audio.FrameDuration)
		arr = append(arr, arrival{&rtp.Packet{Header: rtp.Header{SSRC: 3, SequenceNumber: seq,
			Timestamp: uint32(i * audio.FrameSamples)}, Payload: p}, at})
		seq++
	}
	if len(arr) > len(payloads)-50 {
		t.Fatalf("only %d of %d packets were DTX; the test needs a long pause", len(payloads)-len(arr), len(payloads))
	}
	rx := newReceiver(t)
	got, kinds := playout(rx, arr, epoch, len(payloads)+10)
	st := rx.Stats()
	t.Logf("%d packets sent of %d frames; stats %+v", len(arr), len(payloads), st)
	if st.Lost != 0 || concealedBefore(kinds) != 0 {
		t.Errorf("a DTX pause was treated as loss: %+v", st)
	}
	if s := count(kinds[100+10:200], audio.Silent); s < 80 {
		t.Errorf("only %d of 90 frames in the pause were silent", s)
	}
	checkHeard(t, "DTX", sent, got)
}

// DTX as clubnode's own sender does it: every packet goes out, the tiny
// ones too; they play as silence.
func TestReceiverDTXPacketsPlaySilent(t *testing.T) {
	sent := append(audiotest.Speech(time.Second, 6), make([]int16, 48000)...)
	pkts := stream(encodeAll(t, sent), 1, 0, 0)
	rx := newReceiver(t)
	got, kinds := playout(rx, paced(pkts, epoch, audio.FrameDuration, 0, nil), epoch, len(pkts)+3)
	if s := count(kinds[60:100], audio.Silent); s < 25 {
		t.Errorf("%d of 40 frames of DTX played as silent", s)
	}
	if st := rx.Stats(); st.Lost != 0 || concealedBefore(kinds) != 0 {
		t.Errorf("stats %+v", st)
	}
	checkHeard(t, "DTX packets", sent, got)
}

// A sender that restarts (new numbering, same or new SSRC) is followed
// within a couple of packets plus the delay, not after the old numbering's
// window runs out.
func TestReceiverFollowsRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		ssrc uint32
	}{{"same SSRC", 5}, {"new SSRC", 6}} {
		t.Run(tc.name, func(t *testing.T) {
			a := audiotest.Speech(2*time.Second, 7)
			b := audiotest.Speech(2*time.Second, 8)
			pa := stream(encodeAll(t, a), 5, 100, 1000)
			pb := stream(encodeAll(t, b), tc.ssrc, 30000, 3_000_000_000)
			arr := paced(append(pa, pb...), epoch, audio.FrameDuration, 0, nil)
			rx := newReceiver(t)
			got, kinds := playout(rx, arr, epoch, len(pa)+len(pb)+10)
			st := rx.Stats()
			if st.Resets != 1 {
				t.Errorf("resets %d, want 1: %+v", st.Resets, st)
			}
			// b starts arriving at frame len(pa): the break in playout
			// should be its second packet plus the delay.
			gap := time.Duration(25-count(kinds[len(pa)-5:len(pa)+20], audio.Decoded)) * audio.FrameDuration
			t.Logf("playout broke off for %s at the restart; stats %+v", gap, st)
			if gap > testDelay+3*audio.FrameDuration {
				t.Errorf("restart took %s to play", gap)
			}
			checkHeard(t, "after restart", b, got[len(pa)*audio.FrameSamples:])
		})
	}
}

// A sender whose clock runs 1 % fast sends 50.5 packets a second; the
// buffer must skip frames rather than grow by half a second a minute.
func TestReceiverFastSenderClock(t *testing.T) {
	sent := babble(30*time.Second, 9)
	pkts := stream(encodeAll(t, sent), 1, 0, 0)
	interval := audio.FrameDuration * 99 / 100
	rx := newReceiver(t)
	arr := paced(pkts, epoch, interval, 5*time.Millisecond, rand.New(rand.NewPCG(5, 6)))
	_, kinds := playout(rx, arr, epoch, len(pkts)+50)
	st := rx.Stats()
	if s := count(kinds[10:len(pkts)-50], audio.Silent); s > 0 {
		t.Errorf("%d silent frames: DTX started, the test needs continuous sound", s)
	}
	// Frames still playing after the last packet arrived: the buffer's depth.
	lastArrival := int(arr[len(arr)-1].at.Sub(epoch) / audio.FrameDuration)
	tail := 0
	for k := lastArrival + 1; k < len(kinds) && kinds[k] == audio.Decoded; k++ {
		tail++
	}
	t.Logf("skipped %d frames; %d frames buffered at the end; stats %+v", st.Skipped, tail, st)
	if st.Skipped < 10 {
		t.Errorf("skipped %d frames; 30 s at 1 %% fast is 15 frames too many", st.Skipped)
	}
	if tail > int(testDelay/audio.FrameDuration)+3 {
		t.Errorf("%d frames buffered at the end; the delay crept up", tail)
	}
	if st.Lost != 0 || st.Late != 0 || concealedBefore(kinds) != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A slow sender clock drains the buffer; frames are inserted before it
// runs dry.
func TestReceiverSlowSenderClock(t *testing.T) {
	sent := babble(20*time.Second, 10)
	pkts := stream(encodeAll(t, sent), 1, 0, 0)
	rx := newReceiver(t)
	arr := paced(pkts, epoch, audio.FrameDuration*101/100, 5*time.Millisecond, rand.New(rand.NewPCG(7, 8)))
	_, kinds := playout(rx, arr, epoch, len(pkts)*102/100+10)
	st := rx.Stats()
	t.Logf("stats %+v", st)
	// 20 s at 1 % slow is 10 frames short: about that many inserted,
	// and no packet late.
	if st.Late != 0 || st.Lost != 0 || st.Stretched < 5 || concealedBefore(kinds) > int(st.Stretched) {
		t.Errorf("stats %+v; %d frames concealed", st, concealedBefore(kinds))
	}
}

// A packet that arrives after its frame played is dropped and counted;
// its frame was concealed.
func TestReceiverLatePacket(t *testing.T) {
	sent := audiotest.Speech(time.Second, 11)
	pkts := stream(encodeAll(t, sent), 1, 0, 0)
	arr := paced(pkts, epoch, audio.FrameDuration, 0, nil)
	// Packet 20 and 21 are held up by 150 ms, past the 60 ms delay.
	arr[20].at = arr[20].at.Add(150 * time.Millisecond)
	arr[21].at = arr[21].at.Add(150 * time.Millisecond)
	sortArrivals(arr)
	rx := newReceiver(t)
	_, kinds := playout(rx, arr, epoch, len(pkts)+10)
	st := rx.Stats()
	t.Logf("stats %+v", st)
	if st.Late != 2 {
		t.Errorf("late %d, want 2", st.Late)
	}
	if count(kinds, audio.Recovered)+count(kinds, audio.Concealed) < 2 {
		t.Errorf("the late packets' frames were not repaired: %+v", st)
	}
}

func TestReceiverIgnoresJunk(t *testing.T) {
	rx := newReceiver(t)
	rx.Push(nil, epoch)
	rx.Push(&rtp.Packet{}, epoch)                            // empty payload: padding
	rx.Push(&rtp.Packet{Payload: []byte{0x0b}}, epoch)       // 60 ms SILK packet
	rx.Push(&rtp.Packet{Payload: make([]byte, 4000)}, epoch) // too big
	rx.Push(&rtp.Packet{Payload: []byte{0x03}}, epoch)       // code 3 without a count
	if st := rx.Stats(); st.Invalid != 3 || st.Packets != 0 {
		t.Errorf("stats %+v", st)
	}
	frame := make([]int16, audio.FrameSamples)
	if k := rx.Pull(epoch.Add(time.Second), frame); k != audio.Silent {
		t.Errorf("played %s from nothing", k)
	}
	if k := rx.Pull(epoch, make([]int16, 10)); k != audio.Silent {
		t.Errorf("short buffer: %s", k)
	}
}

func TestReceiverConfig(t *testing.T) {
	for _, cfg := range []audio.ReceiverConfig{
		{Delay: -time.Millisecond},
		{Delay: 2 * time.Second},
		{MaxPackets: -1},
		{MaxPackets: 5000},
		{Delay: 500 * time.Millisecond, MaxPackets: 10},
	} {
		if _, err := audio.NewReceiver(cfg); err == nil {
			t.Errorf("NewReceiver(%+v) accepted", cfg)
		}
	}
	if _, err := audio.NewReceiver(audio.ReceiverConfig{}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// The network's delay steps up or down by 200 ms in the middle of
// continuous sound: the Receiver follows within about a second, and
// without a stall.
func TestReceiverNetworkDelayStep(t *testing.T) {
	sent := babble(8*time.Second, 12)
	pkts := stream(encodeAll(t, sent), 1, 0, 0)
	for _, step := range []time.Duration{200 * time.Millisecond, -200 * time.Millisecond} {
		t.Run(step.String(), func(t *testing.T) {
			base := 300 * time.Millisecond // so the step down stays positive
			arr := paced(pkts, epoch.Add(base), audio.FrameDuration, 5*time.Millisecond, rand.New(rand.NewPCG(9, 9)))
			for i := range arr {
				if arr[i].at.Sub(epoch) > 4*time.Second {
					arr[i].at = arr[i].at.Add(step)
				}
			}
			sortArrivals(arr)
			rx := newReceiver(t)
			_, kinds := playout(rx, arr, epoch, len(pkts)+40)
			st := rx.Stats()
			// Frames buffered after the last packet arrived: back near the delay.
			lastArrival := int(arr[len(arr)-1].at.Sub(epoch) / audio.FrameDuration)
			tail := 0
			for k := lastArrival + 1; k < len(kinds) && kinds[k] == audio.Decoded; k++ {
				tail++
			}
			gaps := len(pkts) - int(st.Decoded) - count(kinds, audio.Silent)
			t.Logf("stats %+v; %d frames buffered at the end", st, tail)
			if tail > int(testDelay/audio.FrameDuration)+3 {
				t.Errorf("%d frames buffered at the end", tail)
			}
			if step > 0 && (concealedBefore(kinds) > 6 || gaps > 20) {
				t.Errorf("the step up cost more than its 200 ms: %+v", st)
			}
			if step < 0 && (st.Skipped < 8 || concealedBefore(kinds) != 0) {
				t.Errorf("the step down was not skipped over: %+v", st)
			}
		})
	}
}

// babble is four voices talking at once: continuous speech, so DTX never
// starts and the buffer gets no pause to resynchronise on.
func babble(d time.Duration, seed int64) []int16 {
	out := make([]int16, int(d*audio.SampleRate/time.Second))
	for v := range int64(4) {
		for i, x := range audiotest.Speech(d, seed*10+v) {
			out[i] += x / 3
		}
	}
	return out
}

// The sender stalls for half a second, then its packets arrive in a
// burst: none of the speech is dropped, and the delay drains back to the
// target through the pauses that follow.
func TestReceiverStallKeepsSpeech(t *testing.T) {
	sent := audiotest.Speech(8*time.Second, 13)
	pkts := stream(encodeAll(t, sent), 1, 0, 0)
	arr := paced(pkts, epoch, audio.FrameDuration, 0, nil)
	stall, burst := 2*time.Second, 2*time.Second+500*time.Millisecond
	for i := range arr {
		if at := arr[i].at.Sub(epoch); at >= stall && at < burst {
			arr[i].at = epoch.Add(burst)
		}
	}
	sortArrivals(arr)
	rx := newReceiver(t)
	got, kinds := playout(rx, arr, epoch, len(pkts)+40)
	st := rx.Stats()
	lastArrival := int(arr[len(arr)-1].at.Sub(epoch) / audio.FrameDuration)
	tail := 0
	for k := lastArrival + 1; k < len(kinds) && kinds[k] == audio.Decoded; k++ {
		tail++
	}
	t.Logf("stats %+v; %d frames still buffered at the end", st, tail)
	// Frames dropped to catch up were quiet ones: every syllable played.
	if st.Late != 0 || st.Lost != 0 {
		t.Errorf("speech was dropped: %+v", st)
	}
	if st.Skipped < 15 {
		t.Errorf("skipped %d frames; the stall added 25", st.Skipped)
	}
	if tail > int(testDelay/audio.FrameDuration)+5 {
		t.Errorf("%d frames buffered at the end; the backlog did not drain", tail)
	}
	// What was said before and after the stall is all there.
	half := len(sent) / 2
	checkHeard(t, "after the stall", sent[half:], got[half:])
	checkHeard(t, "before the stall", sent[:2*audio.SampleRate], got)
}
