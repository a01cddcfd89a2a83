package audio

import (
	"errors"
	"fmt"
	"io"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// oggPreSkip is the pre-skip pion's Ogg writer declares in OpusHead
// (3840 samples, the RFC 7845 recommendation). A player drops that many
// decoded samples; the writer feeds the encoder 3840 minus the encoder's
// look-ahead samples of silence first, so what remains starts exactly at
// the first sample written.
const oggPreSkip = 3840

// NewOggOpusWriter encodes 48 kHz mono frames with an Encoder (the same
// settings as the media plane) into an Ogg Opus stream on w, one packet per
// page. Close flushes the encoder (the file may end with up to a frame of
// extra silence) and writes the end-of-stream page; it does not close w.
func NewOggOpusWriter(w io.Writer) (Sink, error) {
	enc, err := NewEncoder()
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	// writerOnly hides any Close method of w from pion, whose Close would
	// otherwise close it.
	ogg, err := oggwriter.NewWriter(writerOnly{w},
		oggwriter.WithSampleRate(SampleRate), oggwriter.WithChannelCount(1), oggwriter.WithVendor("clubnode"))
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	track, err := ogg.NewTrack(1)
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	lead := oggPreSkip - encoderLookahead()
	return &oggOpusWriter{
		enc:     enc,
		ogg:     ogg,
		track:   track,
		pending: make([]int16, lead, lead+2*FrameSamples),
		lead:    int64(lead),
	}, nil
}

type writerOnly struct{ io.Writer }

type oggOpusWriter struct {
	enc     *Encoder
	ogg     *oggwriter.Writer
	track   *oggwriter.Track
	pending []int16 // samples not yet encoded (silence lead-in first)
	lead    int64
	written int64 // samples the caller wrote
	encoded int64 // samples fed to the encoder, lead-in included
	seq     uint16
	closed  bool
}

func (s *oggOpusWriter) WriteFrame(pcm []int16) error {
	if s.closed {
		return errors.New("ogg: write after close")
	}
	if err := checkFrame("ogg", pcm); err != nil {
		return err
	}
	s.pending = append(s.pending, pcm...)
	s.written += FrameSamples
	return s.encodePending()
}

// encodePending encodes every whole frame in pending.
func (s *oggOpusWriter) encodePending() error {
	off := 0
	for ; off+FrameSamples <= len(s.pending); off += FrameSamples {
		pkt, err := s.enc.Encode(s.pending[off : off+FrameSamples])
		if err != nil {
			return fmt.Errorf("ogg: %w", err)
		}
		s.encoded += FrameSamples
		// pion's writer takes RTP packets; only the payload and SSRC matter.
		err = s.track.WriteRTP(&rtp.Packet{Header: rtp.Header{SSRC: 1, SequenceNumber: s.seq,
			Timestamp: uint32(s.encoded - FrameSamples)}, Payload: pkt})
		if err != nil {
			return fmt.Errorf("ogg: write page: %w", err)
		}
		s.seq++
	}
	s.pending = s.pending[:copy(s.pending, s.pending[off:])]
	return nil
}

// Close feeds the encoder silence until everything written has come out
// of its look-ahead, then ends the stream.
func (s *oggOpusWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	target := s.lead + s.written + int64(encoderLookahead())
	for s.encoded+int64(len(s.pending)) < target || len(s.pending) > 0 {
		s.pending = append(s.pending, make([]int16, FrameSamples-len(s.pending)%FrameSamples)...)
		if err := s.encodePending(); err != nil {
			return err
		}
	}
	if err := s.ogg.Close(); err != nil {
		return fmt.Errorf("ogg: close: %w", err)
	}
	return nil
}
