package apiv1

import (
	"net/http"
	"time"
)

// Audio endpoints: standard WHIP (to speak) and WHEP (to listen) per room,
// so the CLI, the browser and any WebRTC tool attach to the node the same
// way. POST an SDP offer (Content-Type application/sdp); the answer comes
// back with 201 Created and a Location to DELETE when done.
const (
	WHIP = "whip"
	WHEP = "whep"

	RouteWHIP    = "POST " + PathRoom + "{room}/" + WHIP
	RouteWHEP    = "POST " + PathRoom + "{room}/" + WHEP
	RouteWHIPEnd = "DELETE " + PathRoom + "{room}/" + WHIP + "/{session}"
	RouteWHEPEnd = "DELETE " + PathRoom + "{room}/" + WHEP + "/{session}"
	// PATCH with an application/trickle-ice-sdpfrag body: trickle ICE
	// candidates (204) or an ICE restart (200 and this end's fragment),
	// as RFC 9725 §4.3 describes.
	RouteWHIPPatch = "PATCH " + PathRoom + "{room}/" + WHIP + "/{session}"
	RouteWHEPPatch = "PATCH " + PathRoom + "{room}/" + WHEP + "/{session}"
	// ContentTypeSDPFrag is the media type of those PATCH bodies.
	ContentTypeSDPFrag = "application/trickle-ice-sdpfrag"
	ContentTypeSDP     = "application/sdp"
	// MaxSDPSize bounds an offer: an audio offer is a few kilobytes.
	MaxSDPSize = 64 << 10
	// MaxListenDelay bounds a WHEP offer's ?delay=, the depth of the
	// jitter buffers the node mixes the room through for that listener
	// (default 60 ms; a recorder asks for more).
	MaxListenDelay = time.Second
)

// MediaPath is the WHIP or WHEP endpoint of a room.
func MediaPath(room, kind string) string { return PathRoom + room + "/" + kind }

// MediaURL is the full URL of a room's WHIP or WHEP endpoint on the
// client's daemon, for a WebRTC client to POST its offer to.
func (c *Client) MediaURL(room, kind string) string {
	return "http://" + c.addr + MediaPath(room, kind)
}

// ListenURL is a room's WHEP endpoint with the node's mix buffered delay
// deep for this listener (0: the node's live default).
func (c *Client) ListenURL(room string, delay time.Duration) string {
	u := c.MediaURL(room, WHEP)
	if delay > 0 {
		u += "?delay=" + delay.String()
	}
	return u
}

// AuthHeader is what a WHIP/WHEP client sends along to be let in.
func (c *Client) AuthHeader() http.Header {
	return http.Header{"Authorization": []string{"Bearer " + c.token}}
}
