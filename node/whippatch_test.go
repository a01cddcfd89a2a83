package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/node/apiv1"
)

// The WHIP resource answers RFC 9725's PATCH: with its ETag and the trickle
// media type in the 201; 412 for an If-Match naming another ICE session,
// 415 for another media type, 404 for an unknown session, 400 for a
// fragment that is neither candidates nor a restart; an unbundled offer
// with no Opus gets 400 and the reason.
func TestWHIPPatchStatuses(t *testing.T) {
	ctx := context.Background()
	u := startUINode(t, "Alice")
	if _, err := u.CreateNetwork(ctx, apiv1.CreateNetworkRequest{Name: "Night Owls"}); err != nil {
		t.Fatal(err)
	}
	room, err := u.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Patch"})
	if err != nil {
		t.Fatal(err)
	}
	offerSDP := localOffer(t, webrtc.RTPTransceiverDirectionSendonly)
	do := authedDo(t, "Bearer "+u.APIToken())
	endpoint := u.url + apiv1.MediaPath(room.ID, apiv1.WHIP)
	resp := do(http.MethodPost, endpoint, apiv1.ContentTypeSDP, offerSDP)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("ETag") == "" ||
		resp.Header.Get("Accept-Patch") != apiv1.ContentTypeSDPFrag {
		t.Fatalf("POST: %s, ETag %q, Accept-Patch %q", resp.Status, resp.Header.Get("ETag"), resp.Header.Get("Accept-Patch"))
	}
	location := u.url + resp.Header.Get("Location")
	defer do(http.MethodDelete, location, "", "")
	ufrag := ""
	for _, line := range strings.Split(offerSDP, "\r\n") {
		if strings.HasPrefix(line, "a=ice-ufrag:") {
			ufrag = line
		}
	}
	trickle := ufrag + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=end-of-candidates\r\n"
	for _, tc := range []struct {
		name, url, ctype, body string
		header                 []string
		want                   int
	}{
		{"trickle", location, apiv1.ContentTypeSDPFrag, trickle, []string{"If-Match", resp.Header.Get("ETag")}, http.StatusNoContent},
		{"stale ETag", location, apiv1.ContentTypeSDPFrag, trickle, []string{"If-Match", `"other.7"`}, http.StatusPreconditionFailed},
		{"wrong media type", location, apiv1.ContentTypeSDP, trickle, nil, http.StatusUnsupportedMediaType},
		{"unknown session", endpoint + "/nosuchsession", apiv1.ContentTypeSDPFrag, trickle, nil, http.StatusNotFound},
		{"no credentials", location, apiv1.ContentTypeSDPFrag, "a=end-of-candidates\r\n", nil, http.StatusBadRequest},
		{"restart without pwd", location, apiv1.ContentTypeSDPFrag, "a=ice-ufrag:new\r\n", []string{"If-Match", "*"}, http.StatusBadRequest},
	} {
		if got := do(http.MethodPatch, tc.url, tc.ctype, tc.body, tc.header...); got.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, got.Status, tc.want)
		}
	}
	pcmu := strings.ReplaceAll(offerSDP, "opus/48000/2", "PCMU/8000")
	if got := do(http.MethodPost, endpoint, apiv1.ContentTypeSDP, pcmu); got.StatusCode != http.StatusBadRequest {
		t.Errorf("an offer without Opus: %s, want 400", got.Status)
	}
}

// localOffer is a complete offer for one audio track in direction dir
// (sendonly for WHIP, recvonly for WHEP), from a PeerConnection that lives
// until the test ends.
func localOffer(t *testing.T, dir webrtc.RTPTransceiverDirection) string {
	t.Helper()
	api, err := rtc.NewAPI(rtc.Config{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.WebRTC().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// authedDo sends a request with the API token and returns the response,
// its body read and closed.
func authedDo(t *testing.T, token string) func(method, url, ctype, body string, header ...string) *http.Response {
	return func(method, url, ctype, body string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", token)
		req.Header.Set("Content-Type", ctype)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
}
