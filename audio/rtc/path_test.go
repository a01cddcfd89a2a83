package rtc

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/testutil"
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

// A node gathers no link-local candidates: pion never announces them but
// checks from them, so a peer on the same machine or LAN learns an
// address as peer reflexive that nothing rewrote, and the link looks
// hole-punched (TestWebUIShowsLinkPaths failed so on a machine with
// fe80:: on its interface). Only meaningful where an interface has one.
func TestNoLinkLocalCandidates(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(addrs, func(a net.Addr) bool {
		ipn, ok := a.(*net.IPNet)
		return ok && ipn.IP.IsLinkLocalUnicast()
	}) {
		t.Skip("no interface of this machine has a link-local address")
	}
	api := newTestAPI(t, Config{Setting: func(*webrtc.SettingEngine) {}}) // every address, as a daemon gathers
	pc, err := api.WebRTC().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("gathering not complete in 10 s")
	}
	// pion keeps link-local candidates out of the SDP but checks from
	// them all the same: the stats list every candidate gathered.
	var hosts int
	for _, st := range pc.GetStats() {
		c, ok := st.(webrtc.ICECandidateStats)
		if !ok || c.Type != webrtc.StatsTypeLocalCandidate {
			continue
		}
		ip := net.ParseIP(strings.SplitN(c.IP, "%", 2)[0])
		if ip == nil {
			t.Fatalf("candidate with no IP address: %+v", c)
		}
		if ip.IsLinkLocalUnicast() {
			t.Fatalf("gathered a link-local candidate: %s:%d", c.IP, c.Port)
		}
		hosts++
	}
	if hosts == 0 {
		t.Fatal("gathered no candidate at all")
	}
}

// A link's path may be asked for while its peer hangs up: the peer's DTLS
// close_notify must not make pion close the PeerConnection under a
// GetStats (a data race, caught by -race), and the link still ends.
func TestPathAskedWhilePeerHangsUp(t *testing.T) {
	for round := 0; round < 20; round++ { // the race is a matter of timing: give it many chances
		parentAPI, childAPI := newTestAPI(t, Config{}), newTestAPI(t, Config{})
		a, b := net.Pipe()
		parentCtx, hangUp := context.WithCancel(context.Background())
		childCtx, stopChild := context.WithCancel(context.Background())
		parentDone, childDone := make(chan error, 1), make(chan error, 1)
		go func() {
			parentDone <- ServeChild(parentCtx, parentAPI, a, newTestForwarder(t), ChildOptions{Timeout: patientTimeout})
		}()
		go func() {
			childDone <- DialParent(childCtx, childAPI, b, newTestForwarder(t), ParentOptions{Timeout: patientTimeout})
		}()
		testutil.Eventually(t, 10*time.Second, func() error {
			if paths := childAPI.LinkPaths(nil); len(paths) != 1 || paths[0].Path == "" {
				return fmt.Errorf("the child's link has no path yet: %v", paths)
			}
			return nil
		})
		asking := make(chan struct{})
		go func() {
			defer close(asking)
			for {
				select {
				case <-childDone:
					childDone <- nil
					return
				default:
					childAPI.LinkPaths(nil)
				}
			}
		}()
		// The parent's PeerConnection goes first, its stream after (a
		// peer whose pion closed on a failure of its own): the child
		// hears close_notify while its link is still up.
		for _, l := range parentAPI.links.live() {
			if err := l.pc.Close(); err != nil {
				t.Fatal(err)
			}
		}
		hangUp()
		<-parentDone
		select {
		case <-asking:
		case <-time.After(10 * time.Second):
			t.Fatal("the child's link outlived its parent's hang-up by 10 s")
		}
		stopChild()
	}
}
