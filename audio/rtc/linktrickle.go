package rtc

import (
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// Trickle ICE on tree links. Without it an offer or answer waits until
// ICE has gathered every candidate, so a STUN or TURN server that is slow
// or unreachable holds the link up for pion's gathering timeouts even
// where host candidates would connect at once. A trickling end sends its
// description as soon as it is set, with what was gathered by then, and
// each candidate found later in a kindCandidate frame on the same stream;
// an empty one says gathering has finished. Both ends must have agreed to
// trickle: an end that did not treats a candidate frame as a violation.

// maxRemoteCandidates bounds the candidates one peer may trickle on a
// link: each becomes pairs ICE checks. A node has a few per interface
// and ICE server.
const maxRemoteCandidates = 64

// onLocalCandidate is pion's OnICECandidate: queue the candidate until
// this end's first description is out, then send it.
func (l *link) onLocalCandidate(c *webrtc.ICECandidate) {
	var line string
	if c != nil {
		line = c.ToJSON().Candidate
		if line == "" {
			return
		}
	}
	l.candMu.Lock()
	defer l.candMu.Unlock()
	if !l.described {
		l.queued = append(l.queued, line)
		return
	}
	if l.ctx.Err() != nil {
		return // closing: the stream is going
	}
	if err := l.send(signalFrame{Kind: kindCandidate, Candidate: line}); err != nil {
		l.fail(err)
	}
}

// sendDescription sets desc and sends it as kind: at once when trickling
// (the candidates follow), once ICE has gathered everything otherwise.
// The first description sent releases the candidates queued meanwhile.
func (l *link) sendDescription(kind signalKind, desc webrtc.SessionDescription) (int, error) {
	var gathered <-chan struct{}
	if !l.trickle {
		gathered = webrtc.GatheringCompletePromise(l.pc)
	}
	if err := l.pc.SetLocalDescription(desc); err != nil {
		return 0, fmt.Errorf("set local %s: %w", desc.Type, err)
	}
	if gathered != nil {
		timer := time.NewTimer(connectTimeout)
		defer timer.Stop()
		select {
		case <-gathered:
		case <-l.ctx.Done():
			return 0, l.ctx.Err()
		case <-timer.C:
			return 0, fmt.Errorf("%w: ICE gathering took over %s", ErrConnectTimeout, connectTimeout)
		}
	}
	sdp := l.pc.LocalDescription().SDP
	l.candMu.Lock()
	defer l.candMu.Unlock()
	if err := l.send(signalFrame{Kind: kind, SDP: sdp}); err != nil {
		return 0, err
	}
	if !l.described {
		l.described = true
		for _, line := range l.queued {
			if err := l.send(signalFrame{Kind: kindCandidate, Candidate: line}); err != nil {
				return 0, err
			}
		}
		l.queued = nil
	}
	return len(sdp), nil
}

// addRemoteCandidate applies a candidate the peer trickled. It comes
// after the peer's description on the same stream, so the description
// is already set.
func (l *link) addRemoteCandidate(m signalFrame) error {
	switch {
	case !l.trickle:
		return fmt.Errorf("%w: candidate frame on a link that does not trickle", ErrProtocol)
	case l.pc.RemoteDescription() == nil:
		return fmt.Errorf("%w: candidate before the description", ErrProtocol)
	case m.Candidate == "":
		return nil // the peer has gathered everything
	case l.remoteCands >= maxRemoteCandidates:
		return fmt.Errorf("%w: over %d candidates", ErrProtocol, maxRemoteCandidates)
	}
	l.remoteCands++
	if err := l.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: m.Candidate}); err != nil {
		return fmt.Errorf("%w: candidate %q: %v", ErrBadSDP, clip([]byte(m.Candidate), 80), err)
	}
	return nil
}
