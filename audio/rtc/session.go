package rtc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/group"
)

// Session is one local attachment (a WHIP speaker or a WHEP listener) on
// either end. It ends when Close is called or when its PeerConnection fails
// or is closed by the peer; either way it releases everything it holds.
type Session struct {
	log *slog.Logger
	pc  *webrtc.PeerConnection

	work *group.Group // its goroutines and pion's OnTrack callbacks

	connected     chan struct{} // closed once the PeerConnection connects
	connectedOnce sync.Once
	lost          chan struct{} // closed when the PeerConnection fails or closes
	lostOnce      sync.Once
	closeReq      chan struct{}
	// negMu serializes what changes the session's descriptions after the
	// answer: trickled candidates and ICE restarts (trickle.go).
	negMu     sync.Mutex
	remote    string // the offer as applied, bundled (bundleOffer)
	closeOnce sync.Once
	done      chan struct{} // closed when everything is released
	closeErr  error
}

func newSession(api *API, kind string) (*Session, error) {
	pc, _, err := api.newStatsPeerConnection(api.iceServers, false)
	if err != nil {
		return nil, err
	}
	s := &Session{
		log:       api.log.With("session", kind),
		pc:        pc,
		connected: make(chan struct{}),
		lost:      make(chan struct{}),
		closeReq:  make(chan struct{}),
		done:      make(chan struct{}),
		work:      group.New(context.Background()),
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("peer connection state", "state", st)
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connectedOnce.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			// Disconnected may recover; a browser that leaves sends a DTLS
			// close (Closed) or goes Failed about 2 s after its last packet.
			s.lostOnce.Do(func() { close(s.lost) })
		}
	})
	go s.supervise()
	return s, nil
}

// supervise releases the session when it is closed or lost, so a session
// whose owner forgets it still frees its PeerConnection once the peer goes.
func (s *Session) supervise() {
	select {
	case <-s.closeReq:
	case <-s.lost:
	}
	s.work.Stop()
	s.closeErr = s.pc.GracefulClose()
	s.work.Wait()
	close(s.done)
}

// spawn runs fn on a goroutine the session owns (false once it is ending).
func (s *Session) spawn(fn func()) bool {
	return s.work.Go(func(context.Context) { fn() })
}

// Close ends the session and waits until it has released everything.
func (s *Session) Close() error {
	s.closeOnce.Do(func() { close(s.closeReq) })
	<-s.done
	if s.closeErr != nil {
		return fmt.Errorf("close session: %w", s.closeErr)
	}
	return nil
}

// Done is closed when the session has ended: closed, or its peer gone.
func (s *Session) Done() <-chan struct{} { return s.done }

// answer applies a remote offer and returns the complete local answer.
// An offer without BUNDLE is answered too (bundleOffer); an answer that
// would reject the audio is an error (ErrRejected), never an answer.
func (s *Session) answer(ctx context.Context, offer string) (string, error) {
	offer, unbundled, err := bundleOffer(offer)
	if err != nil {
		return "", err
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	s.remote = offer
	desc, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("create answer: %w", err)
	}
	answer, err := s.complete(ctx, desc)
	if err != nil {
		return "", err
	}
	return checkAnswer(answer, unbundled)
}

// complete sets desc locally and waits for ICE gathering (non-trickle).
func (s *Session) complete(ctx context.Context, desc webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("set local %s: %w", desc.Type, err)
	}
	select {
	case <-gathered:
		return s.pc.LocalDescription().SDP, nil
	case <-ctx.Done():
		return "", fmt.Errorf("ICE gathering: %w", ctx.Err())
	}
}

// waitConnected waits until the PeerConnection connects.
func (s *Session) waitConnected(ctx context.Context) error {
	select {
	case <-s.connected:
		return nil
	case <-s.done:
		return fmt.Errorf("%w: before it connected", ErrConnectionLost)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrConnectTimeout, ctx.Err())
	}
}
