package audio

/*
#cgo pkg-config: opus
#include <opus.h>

// clubnode_opus_lookahead asks libopus how many samples a VoIP encoder
// delays its input by; hraban/opus does not expose OPUS_GET_LOOKAHEAD.
static int clubnode_opus_lookahead(void) {
	int err = 0;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	if (err != OPUS_OK || enc == NULL) {
		return -1;
	}
	opus_int32 lookahead = -1;
	if (opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead)) != OPUS_OK) {
		lookahead = -1;
	}
	opus_encoder_destroy(enc);
	return (int)lookahead;
}
*/
import "C"

import "sync"

// encoderLookahead is the encoder's algorithmic delay in samples (312 at
// 48 kHz with libopus 1.3: 2.5 ms of look-ahead plus 4 ms of delay
// compensation). The Ogg Opus writer needs it to set the pre-skip so
// decoded files line up with their input to the sample.
var encoderLookahead = sync.OnceValue(func() int {
	if n := int(C.clubnode_opus_lookahead()); n >= 0 && n < FrameSamples {
		return n
	}
	return 312 // libopus's value for 48 kHz; only used if the query fails
})
