package rtc

import (
	"bytes"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// sentRecorder is the network below a responder: it keeps what was written.
type sentRecorder struct {
	headers  []rtp.Header
	payloads [][]byte
}

func (s *sentRecorder) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	s.headers = append(s.headers, *h)
	s.payloads = append(s.payloads, append([]byte(nil), payload...))
	return h.MarshalSize() + len(payload), nil
}

// nackReader hands the responder one marshalled RTCP packet per Read.
type nackReader struct{ next [][]byte }

func (r *nackReader) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	n := copy(b, r.next[0])
	r.next = r.next[1:]
	return n, a, nil
}

func nackFor(t *testing.T, ssrc uint32, seqs ...uint16) []byte {
	t.Helper()
	b, err := (&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newResponderStream(t *testing.T, ssrc uint32) (*nackResponder, interceptor.RTPWriter, *sentRecorder) {
	t.Helper()
	i, err := newNACKResponder().NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	r := i.(*nackResponder)
	wire := &sentRecorder{}
	info := &interceptor.StreamInfo{SSRC: ssrc, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	return r, r.BindLocalStream(info, wire), wire
}

// A NACKed packet is resent as it was sent, once per resendGap; one the
// ring has overwritten, or another stream's, is not.
func TestNACKResponderResends(t *testing.T) {
	r, w, wire := newResponderStream(t, 7)
	for seq := range uint16(nackSlots + 10) {
		h := rtp.Header{Version: 2, PayloadType: PayloadType, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 7}
		if _, err := w.Write(&h, []byte{byte(seq), 1, 2, 3}, nil); err != nil {
			t.Fatal(err)
		}
	}
	sent := len(wire.headers)
	rtcpIn := &nackReader{next: [][]byte{
		nackFor(t, 7, 3, nackSlots+5), // 3 was overwritten by nackSlots+3
		nackFor(t, 7, nackSlots+5),    // at once again: a duplicate
		nackFor(t, 99, nackSlots+5),   // a stream this end does not send
	}}
	reader := r.BindRTCPReader(rtcpIn)
	buf := make([]byte, 1500)
	for range 3 {
		if _, _, err := reader.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	resent := wire.headers[sent:]
	if len(resent) != 1 {
		t.Fatalf("resent %d packets, want exactly 1 (seq %d)", len(resent), nackSlots+5)
	}
	if h := resent[0]; h.SequenceNumber != nackSlots+5 || h.Timestamp != (nackSlots+5)*960 || h.SSRC != 7 {
		t.Fatalf("resent header %+v", h)
	}
	if p := wire.payloads[sent]; !bytes.Equal(p, []byte{byte(nackSlots + 5), 1, 2, 3}) {
		t.Fatalf("resent payload %x", p)
	}
}

// Recording a packet for NACK allocates nothing once the ring's slots have
// held packets of that size (pion's responder makes two per packet).
func TestNACKResponderRecordsWithoutAllocating(t *testing.T) {
	r, _, _ := newResponderStream(t, 7)
	next := interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil })
	w := r.BindLocalStream(&interceptor.StreamInfo{SSRC: 8, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, next)
	payload := make([]byte, opusSizedPayload)
	h := rtp.Header{Version: 2, PayloadType: PayloadType, SSRC: 8}
	for range nackSlots {
		h.SequenceNumber++
		_, _ = w.Write(&h, payload, nil)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		_, _ = w.Write(&h, payload, nil)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}
