package rtc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/clubnode/clubnode/internal/wire"
)

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"

func frameBytes(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := wire.WriteFrame(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSignalFrameValidation(t *testing.T) {
	videoOnly := strings.Replace(testSDP, "m=audio", "m=video", 1)
	cases := []struct {
		name  string
		frame any
		want  error
	}{
		{"offer", signalFrame{Kind: kindOffer, SDP: testSDP}, nil},
		{"answer", signalFrame{Kind: kindAnswer, SDP: testSDP}, nil},
		{"heartbeat", signalFrame{Kind: kindHeartbeat, Subtree: 12}, nil},
		{"heartbeat with sdp", signalFrame{Kind: kindHeartbeat, SDP: testSDP}, ErrProtocol},
		{"offer with subtree", signalFrame{Kind: kindOffer, SDP: testSDP, Subtree: 1}, ErrProtocol},
		{"unknown kind", signalFrame{Kind: 9}, ErrProtocol},
		{"probe", signalFrame{Kind: kindProbe, Probe: 3}, nil},
		{"probe without number", signalFrame{Kind: kindProbe}, ErrProtocol},
		{"probe with subtree", signalFrame{Kind: kindProbe, Probe: 3, Subtree: 1}, ErrProtocol},
		{"answer with probe", signalFrame{Kind: kindAnswer, SDP: testSDP, Probe: 3}, ErrProtocol},
		{"subtree too big", signalFrame{Kind: kindHeartbeat, Subtree: maxSubtree + 1}, ErrProtocol},
		{"offer without sdp", signalFrame{Kind: kindOffer}, ErrBadSDP},
		{"offer not sdp", signalFrame{Kind: kindOffer, SDP: "hello"}, ErrBadSDP},
		{"offer without audio", signalFrame{Kind: kindAnswer, SDP: videoOnly}, ErrBadSDP},
		{"unknown field", map[int]any{1: 3, 7: "x"}, wire.ErrMalformed},
		{"negative subtree", map[int]any{1: 3, 3: -1}, wire.ErrMalformed},
		{"candidate", signalFrame{Kind: kindCandidate, Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}, nil},
		{"end of candidates", signalFrame{Kind: kindCandidate}, nil},
		{"candidate not a candidate", signalFrame{Kind: kindCandidate, Candidate: "a=x"}, ErrBadSDP},
		{"candidate too long", signalFrame{Kind: kindCandidate, Candidate: "candidate:" + strings.Repeat("1", maxCandidateLen)}, ErrBadSDP},
		{"candidate with sdp", signalFrame{Kind: kindCandidate, Candidate: "candidate:1", SDP: testSDP}, ErrProtocol},
		{"heartbeat with candidate", signalFrame{Kind: kindHeartbeat, Candidate: "candidate:1"}, ErrProtocol},
		{"activate", signalFrame{Kind: kindActivate}, nil},
		{"activate with probe", signalFrame{Kind: kindActivate, Probe: 1}, ErrProtocol},
		{"activate with sdp", signalFrame{Kind: kindActivate, SDP: testSDP}, ErrProtocol},
		{"deactivate", signalFrame{Kind: kindDeactivate}, nil},
		{"deactivate with subtree", signalFrame{Kind: kindDeactivate, Subtree: 2}, ErrProtocol},
		{"sdp too long", signalFrame{Kind: kindOffer, SDP: testSDP + strings.Repeat("a=x\r\n", maxSignalFrame/5)}, wire.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeSignal(frameBytes(t, tc.frame))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("decode: %v, want %v", err, tc.want)
			}
		})
	}
	trailing := append(frameBytes(t, signalFrame{Kind: kindHeartbeat}), 0x01)
	if _, err := decodeSignal(trailing); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("trailing byte: %v, want ErrMalformed", err)
	}
}

// A child that breaks the protocol ends the link with an error naming it.
func TestServeChildRejectsProtocolViolations(t *testing.T) {
	api := newTestAPI(t, Config{})
	f := newTestForwarder(t)
	for name, bad := range map[string]signalFrame{
		"offer from child":  {Kind: kindOffer, SDP: testSDP},
		"heartbeat and sdp": {Kind: kindHeartbeat, SDP: testSDP},
		// Only a standby link (ChildOptions.Standby) is activated.
		"activate, not a standby":   {Kind: kindActivate},
		"deactivate, not a standby": {Kind: kindDeactivate},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			done := make(chan error, 1)
			go func() { done <- ServeChild(context.Background(), api, a, f, ChildOptions{}) }()
			r := wire.NewReader(b, maxSignalFrame)
			var first signalFrame
			if err := r.ReadFrame(&first); err != nil {
				t.Fatal(err)
			}
			if err := wire.WriteFrame(b, bad); err != nil {
				t.Fatal(err)
			}
			go func() { // keep reading so the parent's writes do not block
				for r.ReadFrame(&first) == nil {
				}
			}()
			if err := <-done; !errors.Is(err, ErrProtocol) {
				t.Fatalf("ServeChild returned %v, want ErrProtocol", err)
			} else {
				t.Log(err)
			}
		})
	}
}

func FuzzSignalFrame(f *testing.F) {
	f.Add(frameBytes(f, signalFrame{Kind: kindOffer, SDP: testSDP}))
	f.Add(frameBytes(f, signalFrame{Kind: kindAnswer, SDP: testSDP}))
	f.Add(frameBytes(f, signalFrame{Kind: kindHeartbeat, Subtree: 7}))
	f.Add(frameBytes(f, signalFrame{Kind: kindProbe, Probe: 9}))
	f.Add(frameBytes(f, signalFrame{Kind: kindCandidate, Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}))
	f.Add(frameBytes(f, map[int]any{1: 3, 3: -1}))
	f.Add([]byte{0x05, 0xa1, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeSignal(data)
		if err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error not classified as a bad frame: %v", err)
			}
			return
		}
		again, err := decodeSignal(frameBytes(t, m))
		if err != nil {
			t.Fatalf("re-encoded frame rejected: %v", err)
		}
		if again != m {
			t.Fatalf("round trip changed the frame: %+v then %+v", m, again)
		}
	})
}

func FuzzOfferSDP(f *testing.F) {
	f.Add(testSDP)
	f.Add(strings.Replace(testSDP, "m=audio", "m=video", 1))
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		if err := checkSDP(offer); err != nil && !errors.Is(err, ErrBadSDP) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}
