package rtc

import (
	"bytes"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeBinding is what pion hands a track when it binds it to a sender.
type fakeBinding struct {
	codecs []webrtc.RTPCodecParameters
	wire   *sentRecorder
}

func (f *fakeBinding) CodecParameters() []webrtc.RTPCodecParameters { return f.codecs }
func (f *fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return nil
}
func (f *fakeBinding) SSRC() webrtc.SSRC                       { return 4242 }
func (f *fakeBinding) SSRCRetransmission() webrtc.SSRC         { return 0 }
func (f *fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (f *fakeBinding) WriteStream() webrtc.TrackLocalWriter    { return f }
func (f *fakeBinding) ID() string                              { return "binding" }
func (f *fakeBinding) RTCPReader() interceptor.RTCPReader      { return nil }
func (f *fakeBinding) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return f.wire.Write(h, payload, nil)
}
func (f *fakeBinding) Write([]byte) (int, error) { return 0, nil }

// A link's track sends with the link's SSRC and payload type, without the
// incoming hop's header extensions, leaves the shared packet as it was, and
// drops packets while unbound.
func TestLinkTrackRewritesHeader(t *testing.T) {
	track := newLinkTrack("alice")
	var h rtp.Header
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, Marker: true, PayloadType: PayloadType, SequenceNumber: 9, Timestamp: 960, SSRC: 1},
		Payload: []byte("opus"),
	}
	if err := pkt.SetExtension(1, []byte{0x30}); err != nil {
		t.Fatal(err)
	}
	if err := track.write(&h, pkt); err != nil {
		t.Fatalf("unbound write: %v, want the packet dropped quietly", err)
	}
	b := &fakeBinding{wire: &sentRecorder{}, codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/PCMU"}, PayloadType: 0},
		{RTPCodecCapability: opusCodec, PayloadType: 109},
	}}
	codec, err := track.Bind(b)
	if err != nil || codec.PayloadType != 109 {
		t.Fatalf("bound to %+v, %v: want Opus as payload type 109", codec, err)
	}
	if err := track.write(&h, pkt); err != nil {
		t.Fatal(err)
	}
	if len(b.wire.headers) != 1 {
		t.Fatalf("%d packets written, want 1", len(b.wire.headers))
	}
	got := b.wire.headers[0]
	if got.SSRC != 4242 || got.PayloadType != 109 || got.Extension || len(got.Extensions) != 0 ||
		got.SequenceNumber != 9 || got.Timestamp != 960 || !got.Marker || !bytes.Equal(b.wire.payloads[0], []byte("opus")) {
		t.Fatalf("written %+v %q", got, b.wire.payloads[0])
	}
	if pkt.SSRC != 1 || pkt.PayloadType != PayloadType || !pkt.Extension {
		t.Fatalf("the shared packet was changed: %+v", pkt.Header)
	}
	if _, err := track.Bind(&fakeBinding{codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/PCMU"}},
	}}); err == nil {
		t.Fatal("bound without Opus")
	}
	next := interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil })
	track.bound.Store(&trackBinding{ssrc: 4242, payloadType: 109, stream: writerFunc(next)})
	if allocs := testing.AllocsPerRun(1000, func() { _ = track.write(&h, pkt) }); allocs != 0 {
		t.Fatalf("%.1f allocations per write, want 0", allocs)
	}
	if err := track.Unbind(b); err != nil {
		t.Fatal(err)
	}
}

// writerFunc makes an RTPWriter a TrackLocalWriter.
type writerFunc interceptor.RTPWriterFunc

func (w writerFunc) WriteRTP(h *rtp.Header, payload []byte) (int, error) { return w(h, payload, nil) }
func (w writerFunc) Write([]byte) (int, error)                           { return 0, nil }
