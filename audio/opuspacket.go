package audio

import (
	"errors"
	"fmt"
)

// maxPacketSamples is the longest an Opus packet can be: 120 ms.
const maxPacketSamples = SampleRate * 120 / 1000

var errBadOpusPacket = errors.New("malformed Opus packet")

// packetSamples reads how many 48 kHz samples an Opus packet holds from its
// table-of-contents byte (RFC 6716 section 3.1), without decoding it. The
// jitter buffer uses it to refuse packets that are not 20 ms long before
// they take a slot.
func packetSamples(pkt []byte) (int, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("%w: empty", errBadOpusPacket)
	}
	toc := pkt[0]
	config := toc >> 3
	var perFrame int
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		perFrame = []int{480, 960, 1920, 2880}[config&3]
	case config < 16: // hybrid: 10, 20 ms
		perFrame = []int{480, 960}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		perFrame = []int{120, 240, 480, 960}[config&3]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(pkt) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without a frame count byte", errBadOpusPacket)
		}
		frames = int(pkt[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: zero frames", errBadOpusPacket)
		}
	}
	n := perFrame * frames
	if n > maxPacketSamples {
		return 0, fmt.Errorf("%w: %d samples is over 120 ms", errBadOpusPacket, n)
	}
	return n, nil
}
