package rtc

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func nackedSeqs(n *rtcp.TransportLayerNack) []uint16 {
	if n == nil {
		return nil
	}
	var out []uint16
	for _, p := range n.Nacks {
		out = append(out, p.PacketList()...)
	}
	return out
}

// A gap is asked for at once, by the packet that shows it (pion's
// generator waited for its 100 ms ticker); again only after nackRetry; a
// repaired packet no more; and none more than nackTries times.
func TestNACKGeneratorAsksAtOnce(t *testing.T) {
	s := &receiveGaps{ssrc: 5}
	t0 := time.Now()
	for seq := uint16(65530); seq != 2; seq++ { // across the wrap
		if n := s.received(seq, t0); n != nil {
			t.Fatalf("NACK %v without a gap", nackedSeqs(n))
		}
	}
	n := s.received(5, t0) // 2, 3 and 4 missing
	if got := nackedSeqs(n); !slices.Equal(got, []uint16{2, 3, 4}) {
		t.Fatalf("first NACK %v, want [2 3 4] at once", got)
	}
	if n.MediaSSRC != 5 {
		t.Fatalf("NACK for SSRC %d", n.MediaSSRC)
	}
	if got := nackedSeqs(s.received(6, t0.Add(nackRetry/2))); got != nil {
		t.Fatalf("asked again after %s: %v", nackRetry/2, got)
	}
	s.received(3, t0.Add(nackRetry/2)) // repaired
	if got := nackedSeqs(s.received(7, t0.Add(nackRetry))); !slices.Equal(got, []uint16{2, 4}) {
		t.Fatalf("retry %v, want [2 4]", got)
	}
	asks := 2
	for i := 2; i < 10; i++ {
		if nackedSeqs(s.received(uint16(6+i), t0.Add(time.Duration(i)*nackRetry))) != nil {
			asks++
		}
	}
	if asks != nackTries {
		t.Fatalf("asked %d times, want %d", asks, nackTries)
	}
	if len(s.missing) != 0 {
		t.Fatalf("still tracking %d packets after giving up", len(s.missing))
	}
	if got := nackedSeqs(s.received(5000, t0.Add(time.Second))); got != nil {
		t.Fatalf("a jump of thousands (a restarted sender) was asked for: %d packets", len(got))
	}
	// A sender that restarts further back is followed, and its gaps asked for.
	s.received(100, t0.Add(time.Second))
	if got := nackedSeqs(s.received(102, t0.Add(time.Second))); !slices.Equal(got, []uint16{101}) {
		t.Fatalf("after a restart behind: NACK %v, want [101]", got)
	}
}
