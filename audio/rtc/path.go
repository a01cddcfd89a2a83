package rtc

import (
	"net"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// How a link's audio travels, from the candidate pair ICE selected.
const (
	// PathDirect: host candidates on both ends, no NAT between them.
	PathDirect = "direct"
	// PathHolePunched: straight between the ends, through the mapping a
	// NAT made (a server- or peer-reflexive candidate on one end).
	PathHolePunched = "hole-punched"
	// PathTURN: through a TURN server's relay.
	PathTURN = "turn"
)

// LinkPath is a live tree link's path and its round-trip time as ICE's
// consent checks measure it. Path is "" while no pair is selected.
type LinkPath struct {
	LinkLabel
	Role string
	Path string
	// Relay is the TURN relay's address (IP:port, on the always-on node
	// that runs it) when Path is PathTURN, else "".
	Relay string
	RTT   time.Duration
}

// LinkPaths appends the path of every live tree link to dst. It asks
// pion for a full stats report per link: for the API, not for scrapes.
func (a *API) LinkPaths(dst []LinkPath) []LinkPath {
	for _, l := range a.links.live() {
		report, ok := l.statsReport()
		if !ok {
			continue // closing
		}
		p := LinkPath{LinkLabel: l.label, Role: l.currentRole()}
		p.Path, p.Relay, p.RTT = pathOf(report)
		dst = append(dst, p)
	}
	return dst
}

// statsReport is pion's full stats report of a link that is not closing.
func (l *link) statsReport() (webrtc.StatsReport, bool) {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	if l.closed {
		return nil, false
	}
	return l.pc.GetStats(), true
}

// pathOf reads the selected (nominated, succeeded) pair of a report: its
// path, the TURN relay it goes through (if any) and its RTT.
func pathOf(report webrtc.StatsReport) (path, relay string, rtt time.Duration) {
	var pair *webrtc.ICECandidatePairStats
	for _, s := range report {
		// A pair's checks may succeed long before ICE nominates one:
		// only the nominated pair carries the audio.
		p, ok := s.(webrtc.ICECandidatePairStats)
		if ok && p.Nominated && p.State == webrtc.StatsICECandidatePairStateSucceeded {
			pair = &p
			break
		}
	}
	if pair == nil {
		return "", "", 0
	}
	local, _ := report[pair.LocalCandidateID].(webrtc.ICECandidateStats)
	remote, _ := report[pair.RemoteCandidateID].(webrtc.ICECandidateStats)
	if remote.CandidateType == webrtc.ICECandidateTypePrflx && announcedHost(report, remote) {
		// With trickle ICE the peer's check can arrive before the frame
		// carrying its host candidate: ICE learns the address as peer
		// reflexive, but it is the host candidate the peer announced,
		// and nothing between the ends rewrote it.
		remote.CandidateType = webrtc.ICECandidateTypeHost
	}
	rtt = time.Duration(pair.CurrentRoundTripTime * float64(time.Second))
	for _, c := range []webrtc.ICECandidateStats{local, remote} {
		if c.CandidateType == webrtc.ICECandidateTypeRelay {
			relay = net.JoinHostPort(c.IP, strconv.Itoa(int(c.Port)))
			break
		}
	}
	return pathKind(local.CandidateType, remote.CandidateType), relay, rtt
}

// announcedHost reports whether the peer announced c's address and port
// as one of its host candidates.
func announcedHost(report webrtc.StatsReport, c webrtc.ICECandidateStats) bool {
	for _, s := range report {
		h, ok := s.(webrtc.ICECandidateStats)
		if ok && h.Type == webrtc.StatsTypeRemoteCandidate && h.CandidateType == webrtc.ICECandidateTypeHost &&
			h.IP == c.IP && h.Port == c.Port {
			return true
		}
	}
	return false
}

func pathKind(local, remote webrtc.ICECandidateType) string {
	switch {
	case local == webrtc.ICECandidateTypeRelay || remote == webrtc.ICECandidateTypeRelay:
		return PathTURN
	case local == webrtc.ICECandidateTypeHost && remote == webrtc.ICECandidateTypeHost:
		return PathDirect
	default:
		return PathHolePunched
	}
}
