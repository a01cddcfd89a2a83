package rtc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Trickle ICE and ICE restarts for WHIP/WHEP sessions (RFC 9725 §4.3):
// the client PATCHes the session with an SDP fragment (RFC 8840,
// application/trickle-ice-sdpfrag) holding its ICE credentials and
// candidates. Credentials the session already has mean more candidates;
// new ones mean an ICE restart, answered with this end's new credentials
// and candidates.

// ContentTypeSDPFrag is the media type of a trickle or restart PATCH.
const ContentTypeSDPFrag = "application/trickle-ice-sdpfrag"

// ErrNotTrickle: a PATCH that is neither candidates nor a restart.
var ErrNotTrickle = errors.New("not an ICE fragment")

// iceFrag is what a fragment says: the credentials and, per media line,
// the candidates.
type iceFrag struct {
	ufrag, pwd string
	candidates []webrtc.ICECandidateInit
	end        bool // a=end-of-candidates
}

// maxFragLines bounds a fragment: a client has a few dozen candidates.
const maxFragLines = 512

// parseFrag reads an SDP fragment line by line (RFC 8840 §9): a fragment
// is not a whole SDP, so sdp.Unmarshal does not read it.
func parseFrag(frag string) (iceFrag, error) {
	var f iceFrag
	var mid string
	lines := strings.Split(strings.ReplaceAll(frag, "\r\n", "\n"), "\n")
	if len(lines) > maxFragLines {
		return f, fmt.Errorf("%w: %d lines, over %d", ErrBadSDP, len(lines), maxFragLines)
	}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			m := mid
			f.candidates = append(f.candidates, webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: &m})
		case line == "a=end-of-candidates":
			f.end = true
		case strings.HasPrefix(line, "m="), strings.HasPrefix(line, "a="):
			// m= lines and other attributes (a=group, a=ice-options) only
			// frame the candidates.
		default:
			return f, fmt.Errorf("%w: line %q is not part of an ICE fragment", ErrBadSDP, clip([]byte(line), 80))
		}
	}
	if f.ufrag == "" {
		return f, fmt.Errorf("%w: the fragment has no a=ice-ufrag", ErrNotTrickle)
	}
	return f, nil
}

// Patch applies a trickle-ice-sdpfrag from the client. Candidates for the
// current ICE session are added and answer is ""; new credentials restart
// ICE, and answer is this end's fragment for the new session (restarted
// true). ctx bounds the restart's candidate gathering.
func (s *Session) Patch(ctx context.Context, frag string) (answer string, restarted bool, err error) {
	if len(frag) > maxSignalFrame {
		return "", false, fmt.Errorf("%w: fragment of %d bytes", ErrBadSDP, len(frag))
	}
	f, err := parseFrag(frag)
	if err != nil {
		return "", false, err
	}
	s.negMu.Lock()
	defer s.negMu.Unlock()
	current, err := iceCredentials(s.remote)
	if err != nil {
		return "", false, err
	}
	if f.ufrag == current {
		for _, c := range f.candidates {
			if err := s.pc.AddICECandidate(c); err != nil {
				return "", false, fmt.Errorf("%w: candidate %q: %v", ErrBadSDP, clip([]byte(c.Candidate), 80), err)
			}
		}
		return "", false, nil
	}
	if f.pwd == "" {
		return "", false, fmt.Errorf("%w: an ICE restart needs a=ice-pwd too", ErrBadSDP)
	}
	answer, err = s.restart(ctx, f)
	return answer, err == nil, err
}

// restart renegotiates with the client's new credentials and candidates:
// pion restarts its ICE agent when the remote credentials change.
func (s *Session) restart(ctx context.Context, f iceFrag) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s.remote); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	d.Attributes = replaceICE(d.Attributes, f, false)
	for i, m := range d.MediaDescriptions {
		m.Attributes = replaceICE(m.Attributes, f, i == 0)
	}
	d.Origin.SessionVersion++
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	offer := string(b)
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: ICE restart: %w", ErrBadSDP, err)
	}
	s.remote = offer
	desc, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("ICE restart: create answer: %w", err)
	}
	local, err := s.complete(ctx, desc)
	if err != nil {
		return "", fmt.Errorf("ICE restart: %w", err)
	}
	return answerFrag(local)
}

// replaceICE swaps a section's credentials and candidates for f's; the
// candidates go in the first media section only (the bundle's transport).
func replaceICE(attrs []sdp.Attribute, f iceFrag, withCandidates bool) []sdp.Attribute {
	out := attrs[:0:0]
	for _, a := range attrs {
		switch a.Key {
		case "ice-ufrag":
			out = append(out, sdp.Attribute{Key: a.Key, Value: f.ufrag})
		case "ice-pwd":
			out = append(out, sdp.Attribute{Key: a.Key, Value: f.pwd})
		case "candidate", "end-of-candidates":
		default:
			out = append(out, a)
		}
	}
	if withCandidates {
		for _, c := range f.candidates {
			out = append(out, sdp.Attribute{Key: "candidate", Value: strings.TrimPrefix(c.Candidate, "candidate:")})
		}
		if f.end {
			out = append(out, sdp.Attribute{Key: "end-of-candidates"})
		}
	}
	return out
}

// iceCredentials is the ufrag of a description (session or first media
// level).
func iceCredentials(desc string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(desc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if u, ok := d.Attribute("ice-ufrag"); ok {
		return u, nil
	}
	for _, m := range d.MediaDescriptions {
		if u, ok := m.Attribute("ice-ufrag"); ok {
			return u, nil
		}
	}
	return "", fmt.Errorf("%w: no ice-ufrag", ErrBadSDP)
}

// answerFrag is the fragment of a complete local description that an ICE
// restart answers with: credentials, the first media line, its mid and
// candidates.
func answerFrag(local string) (string, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(local); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return "", fmt.Errorf("%w: no media section", ErrBadSDP)
	}
	m := d.MediaDescriptions[0]
	get := func(key string) string {
		if v, ok := m.Attribute(key); ok {
			return v
		}
		v, _ := d.Attribute(key)
		return v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", get("ice-ufrag"), get("ice-pwd"))
	fmt.Fprintf(&b, "m=%s 9 %s %s\r\na=mid:%s\r\n", m.MediaName.Media, strings.Join(m.MediaName.Protos, "/"),
		strings.Join(m.MediaName.Formats, " "), get("mid"))
	for _, a := range m.Attributes {
		if a.Key == "candidate" {
			fmt.Fprintf(&b, "a=candidate:%s\r\n", a.Value)
		}
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String(), nil
}
