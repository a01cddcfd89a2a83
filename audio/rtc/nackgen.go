package rtc

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// The NACK generator of the media plane. pion's asks for missing packets
// on a 100 ms ticker per PeerConnection: a packet lost on one hop reaches
// the next one about 70 ms late on average, past a listener's 60 ms
// playout delay, and over four hops most repairs come too late to play.
// The ticker also wakes every PeerConnection ten times a second with
// nothing to ask (and pion's allocates a map per stream each time). This
// one asks as soon as a gap shows, on the goroutine reading the stream,
// and asks again when later packets come and the repair has not: no
// timer, no goroutine, and nothing to do while nothing is lost.

const (
	// nackRetry is how long a NACK may go unanswered before it is sent
	// again (the next packet after that carries the retry): the round trip
	// of a far hop, and then some.
	nackRetry = 40 * time.Millisecond
	// nackTries bounds how often one packet is asked for.
	nackTries = 4
	// nackGiveUp is how old a missing packet may get before it is no
	// longer asked for: audio that late does not play.
	nackGiveUp = 500 * time.Millisecond
	// maxGap is the largest jump in sequence numbers read as loss; a
	// bigger one is a restarted sender, and asking for it is pointless.
	maxGap = 64
	// maxBehind is how far behind the highest a packet may be and still be
	// a late one of the same stream; further is a sender that restarted.
	maxBehind = 1000
	// maxMissing bounds the packets one stream tracks as missing.
	maxMissing = 128
)

type nackGeneratorFactory struct{}

func newNACKGenerator() nackGeneratorFactory { return nackGeneratorFactory{} }

func (nackGeneratorFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackGenerator{senderSSRC: rand.Uint32()}, nil
}

// nackGenerator is one PeerConnection's generator.
type nackGenerator struct {
	interceptor.NoOp
	senderSSRC uint32
	mu         sync.Mutex // guards writer
	writer     interceptor.RTCPWriter
}

func (g *nackGenerator) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	g.mu.Lock()
	g.writer = writer
	g.mu.Unlock()
	return writer
}

func (g *nackGenerator) rtcpWriter() interceptor.RTCPWriter {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writer
}

// receiveGaps is one incoming stream's record of what is missing.
type receiveGaps struct {
	ssrc, senderSSRC uint32
	mu               sync.Mutex // guards the rest; one reader, but Read may be called from anywhere
	started          bool
	highest          uint16
	missing          []missingPacket
	due              []uint16 // scratch for the NACK being built
}

type missingPacket struct {
	seq          uint16
	since, asked time.Time // when the gap showed; when last asked for
	tries        int
}

func (g *nackGenerator) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !supportsNACK(info) {
		return reader
	}
	s := &receiveGaps{ssrc: info.SSRC, senderSSRC: g.senderSSRC}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		// The fixed header: version in the top two bits, sequence number at
		// bytes 2-3, SSRC at 8-11 (RFC 3550); RTX and other SSRCs are not ours.
		if n >= 12 && b[0]>>6 == 2 && binary.BigEndian.Uint32(b[8:12]) == s.ssrc {
			if nack := s.received(binary.BigEndian.Uint16(b[2:4]), time.Now()); nack != nil {
				if w := g.rtcpWriter(); w != nil {
					_, _ = w.Write([]rtcp.Packet{nack}, interceptor.Attributes{}) // a lost NACK is asked again
				}
			}
		}
		return n, attr, nil
	})
}

// received notes seq and returns a NACK for whatever is due, or nil.
func (s *receiveGaps) received(seq uint16, now time.Time) *rtcp.TransportLayerNack {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch d := seq - s.highest; {
	case !s.started:
		s.started, s.highest = true, seq
	case d == 0:
	case d < 1<<15: // newer
		if d > 1 && d <= maxGap {
			for m := s.highest + 1; m != seq; m++ {
				if len(s.missing) == maxMissing {
					s.missing = append(s.missing[:0], s.missing[1:]...)
				}
				s.missing = append(s.missing, missingPacket{seq: m, since: now})
			}
		}
		s.highest = seq
	case s.highest-seq > maxBehind: // far older: a restarted sender
		s.highest, s.missing = seq, s.missing[:0]
	default: // older: a repair, or reordered
		for i, m := range s.missing {
			if m.seq == seq {
				s.missing = append(s.missing[:i], s.missing[i+1:]...)
				break
			}
		}
	}
	if len(s.missing) == 0 {
		return nil
	}
	s.due = s.due[:0]
	kept := s.missing[:0]
	for _, m := range s.missing {
		if now.Sub(m.since) > nackGiveUp || (m.tries >= nackTries && now.Sub(m.asked) >= nackRetry) {
			continue
		}
		if m.tries == 0 || now.Sub(m.asked) >= nackRetry {
			m.tries++
			m.asked = now
			s.due = append(s.due, m.seq)
		}
		kept = append(kept, m)
	}
	s.missing = kept
	if len(s.due) == 0 {
		return nil
	}
	return &rtcp.TransportLayerNack{
		SenderSSRC: s.senderSSRC,
		MediaSSRC:  s.ssrc,
		Nacks:      rtcp.NackPairsFromSequenceNumbers(s.due),
	}
}
