package rtc

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/webrtc/v4"
)

// Link roles, as LinkStats.Role names them.
const (
	RoleChild  = "child"  // this node serves the peer, its child in the tree
	RoleParent = "parent" // the peer is this node's parent in the tree
	// A standby link (ChildOptions.Standby) not yet activated: the peer
	// is a child that may fail over to this node, or the backup parent
	// this node may fail over to.
	RoleStandbyChild  = "standby-child"
	RoleStandbyParent = "standby-parent"
)

// LinkLabel names a link for its stats: the room and the peer at the other
// end. Both are informational; rtc never looks at them.
type LinkLabel struct {
	Room string
	Peer string
}

// LinkStats is what one tree link has carried since it was made, as pion's
// stats interceptor counted it on the wire (retransmissions included),
// summed over the link's RTP streams.
type LinkStats struct {
	LinkLabel
	Role string // RoleChild, RoleParent, or a standby's

	PacketsSent, BytesSent         uint64
	PacketsReceived, BytesReceived uint64
	// NACKsReceived counts the peer's retransmission requests for what
	// this end sent; NACKsSent counts this end's own.
	NACKsReceived, NACKsSent uint64
	// PacketsLost is what this end missed of what the peer sent;
	// RemoteLost is what the peer reports missing of what this end sent.
	PacketsLost, RemoteLost int64
	// Jitter is the largest interarrival jitter of the received streams.
	Jitter time.Duration
	// RTT is the latest round-trip time from the peer's receiver reports
	// (zero until the first one).
	RTT time.Duration
	// ProbesAnswered counts the probes the peer answered: stalls of its
	// RTP that were not its death (see stall.go).
	ProbesAnswered uint64
}

// linkSet is the API's record of its live links, read at scrape time.
type linkSet struct {
	mu    sync.Mutex
	links map[*link]struct{}
	// pending receives the stats getter of the PeerConnection being
	// made: pion calls the stats factory inside NewPeerConnection, on the
	// caller's goroutine, while newPeerConnection holds mu.
	pending stats.Getter
}

func (s *linkSet) add(l *link) {
	s.mu.Lock()
	s.links[l] = struct{}{}
	s.mu.Unlock()
}

// live lists the links now, so that a caller can read them without
// holding mu while pion answers.
func (s *linkSet) live() []*link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.links))
}

func (s *linkSet) remove(l *link) {
	s.mu.Lock()
	delete(s.links, l)
	s.mu.Unlock()
}

// LinkStats appends a snapshot of every live tree link to dst and returns
// it. It only reads counters pion keeps anyway, so it is cheap enough to
// call on every metrics scrape.
func (a *API) LinkStats(dst []LinkStats) []LinkStats {
	for _, l := range a.links.live() {
		dst = append(dst, l.stats())
	}
	return dst
}

// stats reads the link's streams from its stats getter.
func (l *link) stats() LinkStats {
	out := LinkStats{LinkLabel: l.label, Role: l.currentRole(), ProbesAnswered: l.nAnswered.Load()}
	if l.statsGetter == nil {
		return out
	}
	for _, ssrc := range l.senderSSRCs() {
		s := l.statsGetter.Get(ssrc)
		if s == nil {
			continue
		}
		out.PacketsSent += s.OutboundRTPStreamStats.PacketsSent
		out.BytesSent += s.OutboundRTPStreamStats.BytesSent
		out.NACKsReceived += uint64(s.OutboundRTPStreamStats.NACKCount)
		out.RemoteLost += s.RemoteInboundRTPStreamStats.PacketsLost
		out.RTT = max(out.RTT, s.RemoteInboundRTPStreamStats.RoundTripTime)
	}
	for _, receiver := range l.pc.GetReceivers() {
		for _, track := range receiver.Tracks() {
			s := l.statsGetter.Get(uint32(track.SSRC()))
			if s == nil {
				continue
			}
			out.PacketsReceived += s.InboundRTPStreamStats.PacketsReceived
			out.BytesReceived += s.InboundRTPStreamStats.BytesReceived
			out.NACKsSent += uint64(s.InboundRTPStreamStats.NACKCount)
			out.PacketsLost += max(s.InboundRTPStreamStats.PacketsLost, 0)
			out.Jitter = max(out.Jitter, time.Duration(s.InboundRTPStreamStats.Jitter*float64(time.Second)))
		}
	}
	return out
}

// newStatsPeerConnection makes a PeerConnection (a tree link's, or a
// session's) and returns the stats getter pion's stats interceptor made
// for it. Every PeerConnection is made here: the lock is what pairs a
// getter with its PeerConnection.
func (a *API) newStatsPeerConnection(servers []webrtc.ICEServer, treeLink bool) (*webrtc.PeerConnection, stats.Getter, error) {
	a.links.mu.Lock()
	defer a.links.mu.Unlock()
	a.links.pending = nil
	pc, err := a.newPeerConnection(servers, treeLink)
	getter := a.links.pending
	a.links.pending = nil
	return pc, getter, err
}

// senderSSRCs lists the SSRCs of the link's senders. A sender's SSRC never
// changes, and asking pion for it (GetParameters) builds the codec list
// every time, so it is asked once per sender.
func (l *link) senderSSRCs() []uint32 {
	l.ssrcMu.Lock()
	defer l.ssrcMu.Unlock()
	senders := l.pc.GetSenders()
	next := make(map[*webrtc.RTPSender]uint32, len(senders))
	out := make([]uint32, 0, len(senders))
	for _, sender := range senders {
		ssrc, ok := l.ssrcs[sender]
		if !ok {
			if sender.Track() == nil {
				continue
			}
			enc := sender.GetParameters().Encodings
			if len(enc) == 0 {
				continue
			}
			ssrc = uint32(enc[0].SSRC)
		}
		next[sender] = ssrc
		out = append(out, ssrc)
	}
	l.ssrcs = next
	return out
}

// LinkCount is how many tree links are live now.
func (a *API) LinkCount() int {
	a.links.mu.Lock()
	defer a.links.mu.Unlock()
	return len(a.links.links)
}
