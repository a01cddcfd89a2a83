package rtc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/clubnode/clubnode/internal/wire"
	"github.com/pion/sdp/v3"
)

// maxSignalFrame bounds one signaling frame on a link stream and one SDP
// received over HTTP. A pion offer is about 1 KiB plus roughly 0.5 KiB per
// speaker track, so 64 KiB leaves room for any stage (see maxMediaSections).
const maxSignalFrame = 64 << 10

// maxSubtree bounds the subtree size a child may claim: far above any room
// one tree can carry, small enough that sums over children cannot overflow.
const maxSubtree = 1 << 24

// ErrProtocol marks a signaling frame that is well-formed CBOR but breaks
// the link protocol (wrong kind for this side, missing or extra fields).
var ErrProtocol = errors.New("link protocol violation")

// signalKind says what a signaling frame carries.
type signalKind uint8

const (
	kindOffer     signalKind = 1 // parent to child: SDP offer
	kindAnswer    signalKind = 2 // child to parent: SDP answer
	kindHeartbeat signalKind = 3 // both ways every heartbeatInterval, and a child's when its subtree changes
	// kindProbe asks the peer for a heartbeat at once, echoing Probe: a
	// child whose RTP stalled asks whether its parent is still there.
	kindProbe signalKind = 4
	// kindCandidate trickles one ICE candidate of the sender's (an empty
	// one: gathering has finished). Only links that agreed to trickle
	// (LinkTrickle) carry it, after the sender's first offer or answer.
	kindCandidate signalKind = 5
	// kindActivate, child to parent on a standby link (ChildOptions.Standby),
	// asks the parent to start forwarding at once: the child lost its
	// parent and this link takes over. It carries nothing.
	kindActivate signalKind = 6
	// kindDeactivate, child to parent on an activated standby link that
	// the child did not take after all (its parent answered), stops the
	// forwarding again. It carries nothing.
	kindDeactivate signalKind = 7
)

// maxCandidateLen bounds one trickled candidate line: a candidate with
// an IPv6 address, a related address and every extension is under 300
// bytes.
const maxCandidateLen = 512

func (k signalKind) String() string {
	switch k {
	case kindOffer:
		return "offer"
	case kindAnswer:
		return "answer"
	case kindHeartbeat:
		return "heartbeat"
	case kindProbe:
		return "probe"
	case kindCandidate:
		return "candidate"
	case kindActivate:
		return "activate"
	case kindDeactivate:
		return "deactivate"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// signalFrame is the one message of the link protocol.
type signalFrame struct {
	Kind signalKind `cbor:"1,keyasint"`
	// SDP is the offer or answer, complete with candidates (non-trickle).
	SDP string `cbor:"2,keyasint,omitempty"`
	// Subtree is, in a child's heartbeat, how many nodes its subtree has,
	// itself included.
	Subtree uint32 `cbor:"3,keyasint,omitempty"`
	// Probe numbers a probe; the heartbeat answering it carries the same
	// number, so a heartbeat already in flight does not count as the answer.
	Probe uint32 `cbor:"4,keyasint,omitempty"`
	// Candidate is a trickled candidate ("candidate:..." as in SDP);
	// empty in a candidate frame: the sender has no more.
	Candidate string `cbor:"5,keyasint,omitempty"`
}

// validate checks the fields a kind requires and forbids the others.
func (m *signalFrame) validate() error {
	if m.Kind != kindCandidate && m.Candidate != "" {
		return fmt.Errorf("%w: %s carries a candidate", ErrProtocol, m.Kind)
	}
	switch m.Kind {
	case kindOffer, kindAnswer:
		if m.Subtree != 0 || m.Probe != 0 {
			return fmt.Errorf("%w: %s carries a subtree count or probe", ErrProtocol, m.Kind)
		}
		if err := checkSDP(m.SDP); err != nil {
			return fmt.Errorf("%s: %w", m.Kind, err)
		}
	case kindHeartbeat:
		if m.SDP != "" {
			return fmt.Errorf("%w: heartbeat carries SDP", ErrProtocol)
		}
		if m.Subtree > maxSubtree {
			return fmt.Errorf("%w: subtree %d over %d", ErrProtocol, m.Subtree, maxSubtree)
		}
	case kindProbe:
		if m.SDP != "" || m.Subtree != 0 || m.Probe == 0 {
			return fmt.Errorf("%w: a probe carries its number and nothing else", ErrProtocol)
		}
	case kindCandidate:
		if m.SDP != "" || m.Subtree != 0 || m.Probe != 0 {
			return fmt.Errorf("%w: a candidate frame carries a candidate and nothing else", ErrProtocol)
		}
		if len(m.Candidate) > maxCandidateLen {
			return fmt.Errorf("%w: candidate of %d bytes over %d", ErrBadSDP, len(m.Candidate), maxCandidateLen)
		}
		if m.Candidate != "" && !strings.HasPrefix(m.Candidate, "candidate:") {
			return fmt.Errorf("%w: %q is not a candidate line", ErrBadSDP, clip([]byte(m.Candidate), 40))
		}
	case kindActivate, kindDeactivate:
		if m.SDP != "" || m.Subtree != 0 || m.Probe != 0 {
			return fmt.Errorf("%w: an %s frame carries nothing", ErrProtocol, m.Kind)
		}
	default:
		return fmt.Errorf("%w: unknown frame kind %d", ErrProtocol, m.Kind)
	}
	return nil
}

// ErrBadSDP marks a session description rtc will not hand to pion.
var ErrBadSDP = errors.New("bad session description")

// checkSDP accepts a description that fits the size limit, parses, and has
// at least one audio section: every offer and answer in clubnode does.
func checkSDP(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadSDP)
	}
	if len(s) > maxSignalFrame {
		return fmt.Errorf("%w: %d bytes over %d", ErrBadSDP, len(s), maxSignalFrame)
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(s); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Media == "audio" {
			return nil
		}
	}
	return fmt.Errorf("%w: no audio section", ErrBadSDP)
}

// readSignal reads and validates the next frame.
func readSignal(r *wire.Reader) (signalFrame, error) {
	var m signalFrame
	if err := r.ReadFrame(&m); err != nil {
		return signalFrame{}, err
	}
	if err := m.validate(); err != nil {
		return signalFrame{}, err
	}
	return m, nil
}

// decodeSignal decodes one whole frame (length prefix included) from data:
// a truncated frame or bytes after it are malformed.
func decodeSignal(data []byte) (signalFrame, error) {
	in := bytes.NewReader(data)
	m, err := readSignal(wire.NewReader(in, maxSignalFrame))
	if err != nil {
		if !isDecodeError(err) {
			return signalFrame{}, fmt.Errorf("%w: truncated frame: %v", wire.ErrMalformed, err)
		}
		return signalFrame{}, err
	}
	if in.Len() != 0 {
		return signalFrame{}, fmt.Errorf("%w: %d bytes after the frame", wire.ErrMalformed, in.Len())
	}
	return m, nil
}
