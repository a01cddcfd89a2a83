package audio

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// Encoder settings. 32 kbit/s is transparent enough for speech in mono;
// FEC with an expected loss of 10 % makes each packet carry a low-bitrate
// copy of the previous frame, which the Receiver uses to repair a single
// lost packet without waiting for a retransmission.
const (
	encoderBitrate    = 32000
	encoderLossPerc   = 10
	encoderComplexity = 5 // BenchmarkEncode: about 0.2 ms a frame, half of complexity 10's, for speech that still matches at 0.99

	// maxPacketBytes bounds one encoded 20 ms packet: libopus never makes
	// a packet over 1275 bytes per frame, and RTP over UDP cannot carry
	// more than an MTU anyway.
	maxPacketBytes = 1500
)

// Encoder turns 20 ms frames of PCM into Opus packets. It is not safe for
// concurrent use; each speaker has its own.
type Encoder struct {
	enc *opus.Encoder
	buf [maxPacketBytes]byte
}

// NewEncoder makes an Opus encoder for voice: 48 kHz mono, 32 kbit/s,
// in-band FEC tuned for 10 % loss, and DTX on.
func NewEncoder() (*Encoder, error) {
	enc, err := opus.NewEncoder(SampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	for _, set := range []struct {
		name string
		err  error
	}{
		{"bitrate", enc.SetBitrate(encoderBitrate)},
		{"complexity", enc.SetComplexity(encoderComplexity)},
		{"in-band FEC", enc.SetInBandFEC(true)},
		{"packet loss percentage", enc.SetPacketLossPerc(encoderLossPerc)},
		{"DTX", enc.SetDTX(true)},
	} {
		if set.err != nil {
			return nil, fmt.Errorf("opus encoder: set %s: %w", set.name, set.err)
		}
	}
	return &Encoder{enc: enc}, nil
}

// Encode compresses one frame (exactly FrameSamples samples) and returns a
// new packet the caller may keep.
//
// DTX: after a few hundred milliseconds of silence the encoder stops
// coding audio and returns packets of one or two bytes (a table-of-contents
// byte only), with an occasional comfort-noise update. Senders may send
// them or skip them; a Receiver plays either as silence, not as loss.
func (e *Encoder) Encode(pcm []int16) ([]byte, error) {
	if err := checkFrame("opus encode", pcm); err != nil {
		return nil, err
	}
	n, err := e.enc.Encode(pcm, e.buf[:])
	if err != nil {
		return nil, fmt.Errorf("opus encode: %w", err)
	}
	return append([]byte(nil), e.buf[:n]...), nil
}

// Decoder turns Opus packets back into 20 ms frames. It keeps state from
// packet to packet, so one stream needs one Decoder, used from one
// goroutine at a time.
type Decoder struct {
	dec *opus.Decoder
}

// NewDecoder makes a 48 kHz mono Opus decoder. Stereo packets are mixed
// down to mono by libopus.
func NewDecoder() (*Decoder, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("opus decoder: %w", err)
	}
	return &Decoder{dec: dec}, nil
}

// frame checks that pcm holds one frame and caps its capacity: libopus
// takes the buffer's capacity as the most it may write, so a longer
// backing array would let a 40 ms packet write past len(pcm).
func frame(op string, pcm []int16) ([]int16, error) {
	if err := checkFrame("opus "+op, pcm); err != nil {
		return nil, err
	}
	return pcm[:FrameSamples:FrameSamples], nil
}

// Decode decodes one packet holding exactly one 20 ms frame into pcm
// (FrameSamples long).
func (d *Decoder) Decode(pkt []byte, pcm []int16) error {
	out, err := frame("decode", pcm)
	if err != nil {
		return err
	}
	if len(pkt) == 0 {
		return fmt.Errorf("opus decode: empty packet")
	}
	n, err := d.dec.Decode(pkt, out)
	if err != nil {
		return fmt.Errorf("opus decode: %w", err)
	}
	if n != FrameSamples {
		return fmt.Errorf("opus decode: packet holds %d samples, want %d (20 ms)", n, FrameSamples)
	}
	return nil
}

// DecodeFEC recovers the frame before next from the low-bitrate copy of it
// that next carries (in-band FEC). Call it for a lost packet when the one
// after it has arrived, then Decode next as usual. If next carries no FEC
// data, libopus conceals the frame instead.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) error {
	out, err := frame("FEC decode", pcm)
	if err != nil {
		return err
	}
	if len(next) == 0 {
		return fmt.Errorf("opus FEC decode: empty packet")
	}
	if err := d.dec.DecodeFEC(next, out); err != nil {
		return fmt.Errorf("opus FEC decode: %w", err)
	}
	return nil
}

// Conceal makes up a frame for a lost packet from what the decoder heard
// last (packet-loss concealment). Repeated calls fade out.
func (d *Decoder) Conceal(pcm []int16) error {
	out, err := frame("conceal", pcm)
	if err != nil {
		return err
	}
	if err := d.dec.DecodePLC(out); err != nil {
		return fmt.Errorf("opus conceal: %w", err)
	}
	return nil
}
