// Package audio is everything in clubnode's media plane that touches PCM:
// the Opus codec, a jitter buffer with loss repair for one speaker's RTP
// stream (Receiver), the mixer that sums many speakers (Mixer), and reading
// and writing WAV, Ogg Opus and raw files (Source, Sink). Forwarding RTP
// without decoding it lives in audio/rtc; this package never touches the
// network.
//
// One format is used everywhere: 48 kHz, mono, 16-bit signed PCM in 20 ms
// frames of FrameSamples samples. Files in other formats are converted on
// the way in.
package audio

import "time"

const (
	// SampleRate is the rate of all PCM in clubnode and the RTP clock rate
	// of Opus (RFC 7587).
	SampleRate = 48000
	// FrameSamples is the number of samples in one 20 ms mono frame.
	FrameSamples = SampleRate / 50
	// FrameDuration is the length of one frame and of one Opus packet.
	FrameDuration = 20 * time.Millisecond
	// PayloadType is the dynamic RTP payload type clubnode negotiates for
	// Opus (the value browsers commonly use, so SDP stays familiar).
	PayloadType = 111
)
