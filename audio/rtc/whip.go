package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// The HTTP side of WHIP (RFC 9725) and WHEP belongs to the caller; rtc
// answers offers on the server side and plays the client.

// AcceptWHIP answers a WHIP offer from a client that sends audio. Every RTP
// packet it sends goes to onPacket (on the session's goroutine) until the
// session ends. ctx bounds only the answering: the session outlives the
// HTTP request and ends with Close or when the client goes away.
func AcceptWHIP(ctx context.Context, api *API, offer string, onPacket func(*rtp.Packet)) (*Session, string, error) {
	if err := checkSDP(offer); err != nil {
		return nil, "", fmt.Errorf("whip offer: %w", err)
	}
	s, err := newSession(api, "whip")
	if err != nil {
		return nil, "", fmt.Errorf("whip: %w", err)
	}
	if err := s.receiveAudio(onPacket); err != nil {
		_ = s.Close()
		return nil, "", fmt.Errorf("whip: %w", err)
	}
	answer, err := s.answer(ctx, offer)
	if err != nil {
		_ = s.Close()
		return nil, "", fmt.Errorf("whip: %w", err)
	}
	return s, answer, nil
}

// AcceptWHEP answers a WHEP offer from a client that receives one audio
// track; the caller writes Opus samples into the returned track. ctx bounds
// only the answering, as for AcceptWHIP.
func AcceptWHEP(ctx context.Context, api *API, offer string) (*Session, *webrtc.TrackLocalStaticSample, string, error) {
	if err := checkSDP(offer); err != nil {
		return nil, nil, "", fmt.Errorf("whep offer: %w", err)
	}
	s, err := newSession(api, "whep")
	if err != nil {
		return nil, nil, "", fmt.Errorf("whep: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(opusCodec, "audio", streamID)
	if err != nil {
		_ = s.Close()
		return nil, nil, "", fmt.Errorf("whep: track: %w", err)
	}
	// Added before the offer is applied so pion pairs it with the client's
	// recvonly section.
	sender, err := s.pc.AddTrack(track)
	if err != nil {
		_ = s.Close()
		return nil, nil, "", fmt.Errorf("whep: add track: %w", err)
	}
	s.spawn(func() { drainRTCP(sender) })
	answer, err := s.answer(ctx, offer)
	if err != nil {
		_ = s.Close()
		return nil, nil, "", fmt.Errorf("whep: %w", err)
	}
	return s, track, answer, nil
}

// WHIPClient sends audio to a WHIP endpoint.
type WHIPClient struct {
	*Session
	track    *webrtc.TrackLocalStaticSample
	resource *httpResource
}

// DialWHIP offers one sendonly Opus track to the WHIP endpoint at url
// (header is added to its requests, e.g. Authorization) and returns once
// the PeerConnection is connected, or fails when ctx ends first.
func DialWHIP(ctx context.Context, api *API, url string, header http.Header) (*WHIPClient, error) {
	s, err := newSession(api, "whip-client")
	if err != nil {
		return nil, fmt.Errorf("whip: %w", err)
	}
	c := &WHIPClient{Session: s}
	if err := c.dial(ctx, url, header); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("whip %s: %w", url, err)
	}
	return c, nil
}

func (c *WHIPClient) dial(ctx context.Context, url string, header http.Header) error {
	track, err := webrtc.NewTrackLocalStaticSample(opusCodec, "audio", streamID)
	if err != nil {
		return fmt.Errorf("track: %w", err)
	}
	tr, err := c.pc.AddTransceiverFromTrack(track,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("add track: %w", err)
	}
	sender := tr.Sender()
	c.spawn(func() { drainRTCP(sender) })
	c.track = track
	c.resource, err = offerOverHTTP(ctx, c.Session, url, header)
	return err
}

// WriteSample sends one Opus frame.
func (c *WHIPClient) WriteSample(s media.Sample) error {
	if err := c.track.WriteSample(s); err != nil {
		return fmt.Errorf("whip: write sample: %w", err)
	}
	return nil
}

// Close deletes the WHIP resource and ends the session.
func (c *WHIPClient) Close() error {
	return errors.Join(c.resource.delete(), c.Session.Close())
}

// WHEPClient receives audio from a WHEP endpoint.
type WHEPClient struct {
	*Session
	resource *httpResource
}

// DialWHEP offers one recvonly audio section to the WHEP endpoint at url
// and passes every RTP packet received to onPacket (on the session's
// goroutine). It returns once connected, or fails when ctx ends first.
func DialWHEP(ctx context.Context, api *API, url string, header http.Header, onPacket func(*rtp.Packet)) (*WHEPClient, error) {
	s, err := newSession(api, "whep-client")
	if err != nil {
		return nil, fmt.Errorf("whep: %w", err)
	}
	c := &WHEPClient{Session: s}
	if err := s.receiveAudio(onPacket); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("whep: %w", err)
	}
	if c.resource, err = offerOverHTTP(ctx, s, url, header); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("whep %s: %w", url, err)
	}
	return c, nil
}

// Close deletes the WHEP resource and ends the session.
func (c *WHEPClient) Close() error {
	return errors.Join(c.resource.delete(), c.Session.Close())
}

// httpResource is the session resource a WHIP/WHEP server created, named by
// the Location of its 201 answer.
type httpResource struct {
	client   *http.Client
	location string
	header   http.Header
}

// deleteTimeout bounds the DELETE that ends a session: Close must not hang
// on a server that stopped answering.
const deleteTimeout = 5 * time.Second

// ErrHTTP marks a WHIP/WHEP exchange the server did not complete.
var ErrHTTP = errors.New("whip/whep request failed")

// offerOverHTTP creates the session's offer, POSTs it, applies the answer
// and waits until connected.
func offerOverHTTP(ctx context.Context, s *Session, endpoint string, header http.Header) (*httpResource, error) {
	desc, err := s.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("create offer: %w", err)
	}
	offer, err := s.complete(ctx, desc)
	if err != nil {
		return nil, err
	}
	// No keep-alive: two requests per session are not worth an idle
	// connection (and its goroutines) left behind.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHTTP, err)
	}
	for k, v := range header {
		req.Header[k] = append([]string(nil), v...)
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHTTP, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSignalFrame+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read answer: %w", ErrHTTP, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, &StatusError{Code: resp.StatusCode, Status: resp.Status, Body: clip(body, 4096)}
	}
	loc, err := resolveLocation(endpoint, resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	res := &httpResource{client: client, location: loc, header: header}
	answer := string(body)
	if err := checkSDP(answer); err != nil {
		return res, fmt.Errorf("answer: %w", err)
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return res, fmt.Errorf("%w: set answer: %w", ErrBadSDP, err)
	}
	return res, s.waitConnected(ctx)
}

func resolveLocation(endpoint, location string) (string, error) {
	if location == "" {
		return "", fmt.Errorf("%w: 201 without a Location", ErrHTTP)
	}
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("%w: endpoint: %w", ErrHTTP, err)
	}
	ref, err := url.Parse(location)
	if err != nil {
		return "", fmt.Errorf("%w: Location %q: %w", ErrHTTP, clip([]byte(location), 200), err)
	}
	return base.ResolveReference(ref).String(), nil
}

// delete ends the resource on the server; nil when there is none.
func (r *httpResource) delete() error {
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, r.location, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHTTP, err)
	}
	for k, v := range r.header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: delete: %w", ErrHTTP, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: delete %s: %s", ErrHTTP, r.location, resp.Status)
	}
	return nil
}

// StatusError is a WHIP or WHEP server's refusal: its HTTP status and
// what it said. It is an ErrHTTP.
type StatusError struct {
	Code   int
	Status string
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%v: %s: %q", ErrHTTP, e.Status, clip([]byte(e.Body), 200))
}

func (e *StatusError) Unwrap() error { return ErrHTTP }

// clip shortens what a server sent for an error message.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// receiveAudio makes the session receive one audio track, each of its
// packets handed to onPacket; RTCP from the sender is drained.
func (s *Session) receiveAudio(onPacket func(*rtp.Packet)) error {
	s.pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		leave, ok := s.work.Enter()
		if !ok {
			return
		}
		defer leave()
		s.spawn(func() { drainReceiverRTCP(receiver) })
		readTrack(s.log, track, onPacket)
	})
	if _, err := s.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fmt.Errorf("add transceiver: %w", err)
	}
	return nil
}
