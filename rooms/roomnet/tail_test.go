package roomnet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/internal/testutil"
)

// TestStreamTailIsPlayed: a speech that stops without a DTX packet, after
// a number of packets that is no multiple of the batch, is played to its
// last packet: the speaker's node signs the 2 packets left over once its
// voice has been quiet for tailIdle. Before, they waited for a signature
// that never came and were dropped.
func TestStreamTailIsPlayed(t *testing.T) {
	caps := []int{2, 0, 0}
	ms := startMembersWith(t, len(caps), patientMedia(t, caps))
	h, s, l := ms[0], ms[1], ms[2]
	id := stage(t, ms, h, []*member{s}, []*member{l})
	played := listen(t, l, id)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sid := s.id.String()
	// A first speech warms the path up (its start may be lost while the
	// links settle on a loaded machine); the second is the one counted.
	speak(t, ctx, s, id, audiotest.Speech(time.Second, 1))
	testutil.Eventually(t, 10*time.Second, func() error {
		return played.settled(sid, 40)
	})
	played.reset()
	const frames = 22 // 5 batches of 4, and 2 more
	speak(t, ctx, s, id, audiotest.Tone(440, frames*audio.FrameDuration))
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := played.count(sid); n != frames {
			return fmt.Errorf("the listener played %d of %d packets", n, frames)
		}
		return nil
	})
}

// After a tail packet the source's next packet skips the number it took.
func TestVoiceTailReservesItsNumber(t *testing.T) {
	var v voice
	now := time.Now()
	if _, ok := v.tail(); ok {
		t.Fatal("a tail before the first packet")
	}
	first := v.rewrite(&rtp.Packet{Header: rtp.Header{SSRC: 7, SequenceNumber: 100, Timestamp: 960}}, now)
	tail, ok := v.tail()
	if !ok || tail.SequenceNumber != first.SequenceNumber+1 || tail.Timestamp != first.Timestamp || len(tail.Payload) != 0 {
		t.Fatalf("tail %+v after %+v", tail.Header, first.Header)
	}
	next := v.rewrite(&rtp.Packet{Header: rtp.Header{SSRC: 7, SequenceNumber: 101, Timestamp: 1920}}, now)
	if next.SequenceNumber != tail.SequenceNumber+1 || next.Timestamp != 1920 {
		t.Fatalf("the packet after the tail got %d (tail %d), timestamp %d", next.SequenceNumber, tail.SequenceNumber, next.Timestamp)
	}
	// A new source carries on after the tail, too.
	other := v.rewrite(&rtp.Packet{Header: rtp.Header{SSRC: 8, SequenceNumber: 5000, Timestamp: 1}}, now.Add(time.Second))
	if other.SequenceNumber != next.SequenceNumber+1 {
		t.Fatalf("a new source starts at %d after %d", other.SequenceNumber, next.SequenceNumber)
	}
}

// settled says whether c has at least n of speaker's packets and nothing
// new for three times tailIdle: the speech arrived, its signed tail too.
func (c *capture) settled(speaker string, n int) error {
	arr := c.snapshot(speaker)
	if len(arr) < n {
		return fmt.Errorf("%d packets of %d", len(arr), n)
	}
	if time.Since(arr[len(arr)-1].at) < 3*tailIdle {
		return fmt.Errorf("the speech is still arriving")
	}
	return nil
}
