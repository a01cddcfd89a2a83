package rtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// The NACK responder of the media plane. pion's own keeps the last 1024
// packets of every outgoing stream, each in a 1460-byte buffer from a
// pool plus a header and a counter (two allocations per packet on top,
// about 1.5 MB held per stream once it has run 20 s), and starts a
// goroutine per NACK. A relay has one outgoing stream per speaker per child,
// and audio repaired seconds late is useless, so this one keeps a short
// ring per stream whose slots are reused (no allocation per packet once
// each slot has held a packet as large as the next) and resends on the
// goroutine that read the NACK.

// nackSlots is how many recent packets each outgoing stream keeps: 2.5 s of
// one speaker at 50 packets/s, far longer than a NACK takes to come back.
const nackSlots = 128

// resendGap is how soon a packet may be resent again. Receivers ask again
// every 100 ms (pion's generator) while a packet is missing, so a repeat
// within this is a duplicate, not a lost resend.
const resendGap = 20 * time.Millisecond

type nackResponderFactory struct {
	resent atomic.Uint64 // over all its interceptors, for tests
}

func newNACKResponder() *nackResponderFactory { return &nackResponderFactory{} }

func (f *nackResponderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackResponder{f: f, streams: map[uint32]*sentLog{}}, nil
}

// nackResponder is one PeerConnection's responder.
type nackResponder struct {
	interceptor.NoOp
	f       *nackResponderFactory
	mu      sync.Mutex // guards streams
	streams map[uint32]*sentLog
}

// sentLog is the ring of one outgoing stream's recent packets.
type sentLog struct {
	next  interceptor.RTPWriter
	mu    sync.Mutex // guards slots
	slots [nackSlots]sentPacket
}

type sentPacket struct {
	used     bool
	resentAt int64 // unix nanoseconds, 0 if never resent
	header   rtp.Header
	payload  []byte // the slot's own buffer, reused
}

func supportsNACK(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// BindLocalStream records every packet of a stream that negotiated NACK
// before passing it on.
func (r *nackResponder) BindLocalStream(info *interceptor.StreamInfo, next interceptor.RTPWriter) interceptor.RTPWriter {
	if !supportsNACK(info) {
		return next
	}
	l := &sentLog{next: next}
	r.mu.Lock()
	r.streams[info.SSRC] = l
	r.mu.Unlock()
	ssrc := info.SSRC
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == ssrc {
			l.record(h, payload)
		}
		return next.Write(h, payload, a)
	})
}

func (l *sentLog) record(h *rtp.Header, payload []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[h.SequenceNumber%nackSlots]
	s.used, s.resentAt = true, 0
	if len(h.CSRC) == 0 && len(h.Extensions) == 0 {
		s.header = *h
		s.header.CSRC, s.header.Extensions = nil, nil
	} else {
		s.header = h.Clone() // the caller may reuse its slices; rare on the media plane, which strips extensions
	}
	s.payload = append(s.payload[:0], payload...)
}

func (r *nackResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	delete(r.streams, info.SSRC)
	r.mu.Unlock()
}

// BindRTCPReader resends what the peer's NACKs ask for, on the reading
// goroutine (the sender's RTCP drain).
func (r *nackResponder) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(b[:n])
		if err != nil {
			return 0, nil, err
		}
		for _, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				r.resend(nack)
			}
		}
		return n, attr, nil
	})
}

func (r *nackResponder) resend(nack *rtcp.TransportLayerNack) {
	r.mu.Lock()
	l := r.streams[nack.MediaSSRC]
	r.mu.Unlock()
	if l == nil {
		return
	}
	now := time.Now().UnixNano()
	var buf []byte
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			h, payload, ok := l.take(seq, now, buf[:0])
			if ok {
				buf = payload
				if _, err := l.next.Write(&h, payload, interceptor.Attributes{}); err == nil {
					r.f.resent.Add(1)
				}
			}
			return true
		})
	}
}

// take copies packet seq into buf for a resend, unless the ring no longer
// has it or it was resent within resendGap.
func (l *sentLog) take(seq uint16, now int64, buf []byte) (rtp.Header, []byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &l.slots[seq%nackSlots]
	if !s.used || s.header.SequenceNumber != seq || now-s.resentAt < int64(resendGap) {
		return rtp.Header{}, buf, false
	}
	s.resentAt = now
	return s.header, append(buf, s.payload...), true
}
