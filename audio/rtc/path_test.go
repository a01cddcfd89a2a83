package rtc

import (
	"testing"

	"github.com/pion/webrtc/v4"
)

// A pair whose remote end ICE learned as peer reflexive (its check came
// before the trickled candidate) is direct when the peer announced that
// very address as a host candidate, and hole-punched when it did not.
func TestPathOfPeerReflexiveAnnouncedHost(t *testing.T) {
	report := func(announced webrtc.ICECandidateStats) webrtc.StatsReport {
		return webrtc.StatsReport{
			"pair": webrtc.ICECandidatePairStats{Type: webrtc.StatsTypeCandidatePair, Nominated: true,
				State: webrtc.StatsICECandidatePairStateSucceeded, LocalCandidateID: "l", RemoteCandidateID: "r"},
			"l": webrtc.ICECandidateStats{Type: webrtc.StatsTypeLocalCandidate, CandidateType: webrtc.ICECandidateTypeHost,
				IP: "127.0.0.1", Port: 4000},
			"r": webrtc.ICECandidateStats{Type: webrtc.StatsTypeRemoteCandidate, CandidateType: webrtc.ICECandidateTypePrflx,
				IP: "127.0.0.1", Port: 5000},
			"h": announced,
		}
	}
	host := func(port int32) webrtc.ICECandidateStats {
		return webrtc.ICECandidateStats{Type: webrtc.StatsTypeRemoteCandidate, CandidateType: webrtc.ICECandidateTypeHost,
			IP: "127.0.0.1", Port: port}
	}
	for _, c := range []struct {
		name      string
		announced webrtc.ICECandidateStats
		want      string
	}{
		{"announced", host(5000), PathDirect},
		{"another port", host(5001), PathHolePunched},
		{"a local host candidate", webrtc.ICECandidateStats{Type: webrtc.StatsTypeLocalCandidate,
			CandidateType: webrtc.ICECandidateTypeHost, IP: "127.0.0.1", Port: 5000}, PathHolePunched},
	} {
		if path, _, _ := pathOf(report(c.announced)); path != c.want {
			t.Errorf("%s: path %q, want %q", c.name, path, c.want)
		}
	}
}
