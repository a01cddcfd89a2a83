package mediasig

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Any signature frame that parses re-encodes to the same bytes, and
// nothing panics on arbitrary input.
func FuzzParseFrame(f *testing.F) {
	sp := newSpeaker(f)
	for _, noParity := range []bool{false, true} {
		_, out := signed(f, sp.signer(f, 4, noParity, t0), newSource(20), 4)
		_, frame, err := splitPayload(out[3].Payload)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	f.Add(make([]byte, minFrameSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := parseFrame(data)
		if err != nil {
			return
		}
		enc := append(fr.appendUnsigned(nil), fr.sig[:]...)
		if !bytes.Equal(enc, data) {
			t.Fatalf("%x parses, re-encodes as %x", data, enc)
		}
		if fr.count() < 1 || fr.count() > MaxBatch || fr.last()-fr.first >= MaxSpan {
			t.Fatalf("cover %#x from %d accepted", fr.cover, fr.first)
		}
	})
}

// A verifier fed arbitrary payloads and headers, mixed with a genuine
// stream, never releases anything the speaker did not sign, never panics,
// and keeps its bounds.
func FuzzVerifierPush(f *testing.F) {
	sp := newSpeaker(f)
	plain, out := signed(f, sp.signer(f, 4, false, t0), newSource(21), 8)
	f.Add(out[3].Payload, uint16(out[3].SequenceNumber), uint32(out[3].Timestamp), false, uint8(2))
	f.Add([]byte{1, 2, 3, 0}, uint16(65531), uint32(0), true, uint8(0))
	f.Fuzz(func(t *testing.T, payload []byte, seq uint16, ts uint32, marker bool, at uint8) {
		v, err := NewVerifier(VerifierConfig{Stream: sp.stream})
		if err != nil {
			t.Fatal(err)
		}
		var released []Packet
		fake := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}
		for i, p := range out {
			if i == int(at)%len(out) {
				released = v.Push(released, fake, t0)
			}
			released = v.Push(released, p, t0)
		}
		for _, r := range released {
			ok := false
			for _, p := range plain {
				ok = ok || (r.Header.SequenceNumber == p.SequenceNumber && r.Header.Timestamp == p.Timestamp &&
					r.Header.Marker == p.Marker && bytes.Equal(r.Media, p.Payload))
			}
			if !ok {
				t.Fatalf("released a packet the speaker did not sign: %+v", r)
			}
		}
		if len(released) > len(plain) || len(v.pending) > DefaultMaxPending || len(v.frames) > maxFrames {
			t.Fatalf("bounds: %d released, %d pending, %d frames", len(released), len(v.pending), len(v.frames))
		}
		_ = v.Push(nil, nil, t0.Add(time.Minute))
	})
}
