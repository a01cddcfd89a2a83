package rtc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/clubnode/clubnode/internal/testutil"
)

// rawClient is a WHIP client made of a bare pion PeerConnection, so the
// tests can shape its offers as other clients do.
type rawClient struct {
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticSample
}

func newRawClient(t *testing.T, api *API) *rawClient {
	t.Helper()
	pc, err := api.WebRTC().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	track, err := webrtc.NewTrackLocalStaticSample(opusCodec, "audio", streamID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	return &rawClient{pc: pc, track: track}
}

// offer makes an offer; complete waits for all candidates (else none).
func (c *rawClient) offer(t *testing.T, opts *webrtc.OfferOptions, complete bool) string {
	t.Helper()
	desc, err := c.pc.CreateOffer(opts)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(desc); err != nil {
		t.Fatal(err)
	}
	if complete {
		<-gathered
		return c.pc.LocalDescription().SDP
	}
	return desc.SDP
}

func (c *rawClient) waitConnected(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if s := c.pc.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
			return fmt.Errorf("client %s", s)
		}
		return nil
	})
}

// speakUntil sends Opus frames until got has counted n more packets.
func (c *rawClient) speakUntil(t *testing.T, got *atomic.Int64, n int64) {
	t.Helper()
	want := got.Load() + n
	testutil.Eventually(t, 10*time.Second, func() error {
		for range 5 {
			_ = c.track.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond})
		}
		if got.Load() < want {
			return fmt.Errorf("%d of %d packets arrived", got.Load(), want)
		}
		return nil
	})
}

func withoutGroup(t *testing.T, offer string) string {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	kept := d.Attributes[:0]
	for _, a := range d.Attributes {
		if a.Key != sdp.AttrKeyGroup {
			kept = append(kept, a)
		}
	}
	d.Attributes = kept
	b, _ := d.Marshal()
	return string(b)
}

// An offer of one audio section without BUNDLE (simple-whip-client's) is
// answered with the audio accepted and no BUNDLE group, and its audio
// arrives; the bundled offer works as before.
func TestWHIPOfferWithAndWithoutBundle(t *testing.T) {
	api := newTestAPI(t, Config{})
	for _, bundled := range []bool{true, false} {
		t.Run(fmt.Sprint("bundled=", bundled), func(t *testing.T) {
			c := newRawClient(t, api)
			offer := c.offer(t, nil, true)
			if !bundled {
				offer = withoutGroup(t, offer)
			}
			var got atomic.Int64
			sess, answer, err := AcceptWHIP(context.Background(), api, offer, func(*rtp.Packet) { got.Add(1) })
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			if strings.Contains(answer, "m=audio 0 ") {
				t.Fatalf("audio rejected:\n%s", answer)
			}
			if strings.Contains(answer, "a=group:BUNDLE") != bundled {
				t.Fatalf("answer's BUNDLE group does not follow the offer's (bundled %v):\n%s", bundled, answer)
			}
			if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			c.waitConnected(t)
			c.speakUntil(t, &got, 20)
		})
	}
}

// Offers clubnode cannot carry are refused with the reason, never
// answered with the audio rejected.
func TestWHIPRefusesWhatItCannotCarry(t *testing.T) {
	api := newTestAPI(t, Config{})
	base := newRawClient(t, api).offer(t, nil, false)
	twoSections := withoutGroup(t, base) + strings.Replace(base[strings.Index(base, "m=audio"):], "a=mid:0", "a=mid:1", 1)
	pcmu := strings.ReplaceAll(strings.ReplaceAll(base, "opus/48000/2", "PCMU/8000"), " 111", " 0")
	pcmu = strings.ReplaceAll(pcmu, ":111 ", ":0 ")
	for name, tc := range map[string]struct {
		offer string
		want  error
	}{
		"two sections without BUNDLE": {twoSections, ErrBadSDP},
		"no Opus":                     {pcmu, ErrRejected},
	} {
		t.Run(name, func(t *testing.T) {
			sess, _, err := AcceptWHIP(context.Background(), api, tc.offer, func(*rtp.Packet) {})
			if err == nil {
				sess.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// fragOf is what a WHIP client PATCHes: its credentials and candidates.
func fragOf(t *testing.T, desc string, cands []string) string {
	t.Helper()
	ufrag, err := iceCredentials(desc)
	if err != nil {
		t.Fatal(err)
	}
	var d sdp.SessionDescription
	_ = d.UnmarshalString(desc)
	pwd, _ := d.MediaDescriptions[0].Attribute("ice-pwd")
	mid, _ := d.MediaDescriptions[0].Attribute("mid")
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:%s\r\n", ufrag, pwd, mid)
	for _, c := range cands {
		fmt.Fprintf(&b, "a=%s\r\n", c)
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}

func candidatesOf(desc string) []string {
	var out []string
	for _, line := range strings.Split(desc, "\r\n") {
		if strings.HasPrefix(line, "a=candidate:") {
			out = append(out, strings.TrimPrefix(line, "a="))
		}
	}
	return out
}

// A client that trickles its candidates over PATCH connects; an ICE
// restart over PATCH answers new credentials and candidates, and the audio
// goes on over the new ICE session.
func TestWHIPTrickleAndICERestart(t *testing.T) {
	api := newTestAPI(t, Config{})
	c := newRawClient(t, api)
	offer := c.offer(t, nil, false) // no candidates: they trickle
	if strings.Contains(offer, "a=candidate") {
		t.Fatal("the trickle offer has candidates already")
	}
	var got atomic.Int64
	sess, answer, err := AcceptWHIP(context.Background(), api, offer, func(*rtp.Packet) { got.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(c.pc)
	ans, restarted, err := sess.Patch(context.Background(), fragOf(t, offer, candidatesOf(c.pc.LocalDescription().SDP)))
	if err != nil || restarted || ans != "" {
		t.Fatalf("trickle PATCH: %q, %v, %v", ans, restarted, err)
	}
	c.waitConnected(t)
	c.speakUntil(t, &got, 20)

	// ICE restart: new credentials, all candidates at once.
	restart := c.offer(t, &webrtc.OfferOptions{ICERestart: true}, true)
	frag, restarted, err := sess.Patch(context.Background(), fragOf(t, restart, candidatesOf(restart)))
	if err != nil || !restarted {
		t.Fatalf("restart PATCH: %v, restarted %v", err, restarted)
	}
	f, err := parseFrag(frag)
	if err != nil || f.pwd == "" || len(f.candidates) == 0 {
		t.Fatalf("restart answer fragment %q: %+v, %v", frag, f, err)
	}
	oldUfrag, _ := iceCredentials(answer)
	if f.ufrag == oldUfrag {
		t.Fatal("the restart kept the old credentials")
	}
	// The client applies the fragment to its last answer, as RFC 9725 says.
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		t.Fatal(err)
	}
	d.Attributes = replaceICE(d.Attributes, f, false)
	for i, m := range d.MediaDescriptions {
		m.Attributes = replaceICE(m.Attributes, f, i == 0)
	}
	newAnswer, _ := d.Marshal()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(newAnswer)}); err != nil {
		t.Fatal(err)
	}
	c.waitConnected(t)
	c.speakUntil(t, &got, 20)
}

func TestParseFragRefusesJunk(t *testing.T) {
	for _, frag := range []string{"", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", "hello\r\n", strings.Repeat("a=x\r\n", 600)} {
		if _, err := parseFrag(frag); err == nil {
			t.Errorf("fragment %q accepted", frag[:min(len(frag), 40)])
		}
	}
}

func FuzzParseFrag(f *testing.F) {
	f.Add("a=ice-ufrag:abc\r\na=ice-pwd:def\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n")
	f.Add("a=ice-ufrag:x\n")
	f.Fuzz(func(t *testing.T, frag string) {
		got, err := parseFrag(frag)
		if err == nil && got.ufrag == "" {
			t.Fatal("a fragment without ufrag was accepted")
		}
	})
}
