package rtc

import (
	"errors"
	"fmt"

	"github.com/pion/sdp/v3"
)

// ErrRejected: the answer would reject the offer's audio section (no
// common codec, say). A WHIP/WHEP server must say so rather than answer
// 201 with "m=audio 0".
var ErrRejected = errors.New("offer's audio section cannot be accepted")

// bundleOffer makes an offer pion can answer. pion answers only the
// sections in the offer's BUNDLE group, rejecting every other one, so an
// offer without a group (GStreamer's simple-whip-client sends one) would
// get its audio rejected. One section alone is one transport either way:
// it is put in a group of its own here, and unbundled reports that the
// answer must not name the group back (RFC 8843: an answer has no BUNDLE
// group the offer did not have). Several sections without a group would
// each need their own transport, which clubnode's one audio track does not
// have: they are refused.
func bundleOffer(offer string) (out string, unbundled bool, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if _, ok := d.Attribute(sdp.AttrKeyGroup); ok {
		return offer, false, nil
	}
	if n := len(d.MediaDescriptions); n != 1 {
		return "", false, fmt.Errorf("%w: %d media sections without a BUNDLE group: offer one audio section, or bundle them (a=group:BUNDLE)",
			ErrBadSDP, n)
	}
	mid, ok := d.MediaDescriptions[0].Attribute(sdp.AttrKeyMID)
	if !ok || mid == "" {
		return "", false, fmt.Errorf("%w: the media section has no a=mid", ErrBadSDP)
	}
	d.Attributes = append(d.Attributes, sdp.Attribute{Key: sdp.AttrKeyGroup, Value: "BUNDLE " + mid})
	b, err := d.Marshal()
	if err != nil {
		return "", false, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return string(b), true, nil
}

// checkAnswer refuses an answer that rejects its audio section, and drops
// the BUNDLE group from the answer to an unbundled offer.
func checkAnswer(answer string, unbundled bool) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return "", fmt.Errorf("answer: %w: %v", ErrBadSDP, err)
	}
	accepted := false
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			accepted = true
		}
	}
	if !accepted {
		return "", fmt.Errorf("%w: it must offer Opus (opus/48000/2) over UDP/TLS/RTP/SAVPF with rtcp-mux", ErrRejected)
	}
	if !unbundled {
		return answer, nil
	}
	kept := d.Attributes[:0]
	for _, a := range d.Attributes {
		if a.Key != sdp.AttrKeyGroup {
			kept = append(kept, a)
		}
	}
	d.Attributes = kept
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	return string(b), nil
}
