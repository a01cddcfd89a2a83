package rtc

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// linkTrack is one speaker's outgoing track on one child link. It writes
// straight to the stream pion binds it to, on the link's writer goroutine
// with the writer's own header: none of TrackLocalStaticRTP's pooled packet
// copy, lock and error slice per packet, since a link's track has one
// binding and one writer.
type linkTrack struct {
	id    string
	bound atomic.Pointer[trackBinding]
}

type trackBinding struct {
	ssrc        uint32
	payloadType uint8
	stream      webrtc.TrackLocalWriter
}

func newLinkTrack(id string) *linkTrack { return &linkTrack{id: id} }

// Bind takes the Opus payload type the peer negotiated.
func (t *linkTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, opusCodec.MimeType) {
			t.bound.Store(&trackBinding{ssrc: uint32(ctx.SSRC()), payloadType: uint8(c.PayloadType), stream: ctx.WriteStream()})
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("track %s: %w", t.id, webrtc.ErrUnsupportedCodec)
}

func (t *linkTrack) Unbind(webrtc.TrackLocalContext) error {
	t.bound.Store(nil)
	return nil
}

func (t *linkTrack) ID() string                { return t.id }
func (t *linkTrack) RID() string               { return "" }
func (t *linkTrack) StreamID() string          { return streamID }
func (t *linkTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// write sends pkt with this link's SSRC and payload type and without
// header extensions, using h (the caller's, reused) as the header. A track
// not bound yet drops the packet, as pion's does.
func (t *linkTrack) write(h *rtp.Header, pkt *rtp.Packet) error {
	b := t.bound.Load()
	if b == nil {
		return nil
	}
	*h = pkt.Header
	stripExtensions(h)
	h.SSRC, h.PayloadType = b.ssrc, b.payloadType
	if pkt.PaddingSize != 0 && h.PaddingSize == 0 {
		h.PaddingSize = pkt.PaddingSize
	}
	if _, err := b.stream.WriteRTP(h, pkt.Payload); err != nil {
		return fmt.Errorf("write %s: %w", t.id, err)
	}
	return nil
}
