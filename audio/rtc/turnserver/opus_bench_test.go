package turnserver

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/testutil"
)

// speakerPeer is a PeerConnection of clubnode's media API that may use
// only relayed candidates from s: a member behind a symmetric NAT.
func speakerPeer(b *testing.B, s *Server) *webrtc.PeerConnection {
	b.Helper()
	creds := mustIssue(b, s, "speaker")
	// The listener's address as the always-on node sees it.
	if err := s.AllowPeers("speaker", []netip.Addr{loopback}); err != nil {
		b.Fatal(err)
	}
	return newPeer(b, rtc.Config{Setting: func(se *webrtc.SettingEngine) {
		// The relay is on loopback here; pion ignores loopback
		// candidates unless told otherwise.
		se.SetIncludeLoopbackCandidate(true)
		// pion accepts a relayed pair only after 2 s by default, and
		// rtc's ICE gives up after 2 s of checking: without this, a
		// relay-only link never connects.
		se.SetRelayAcceptanceMinWait(100 * time.Millisecond)
	}}, webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{{URLs: creds.URLs[1:], Username: creds.Username, Credential: creds.Password}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
}

// newPeer is a PeerConnection of clubnode's media API (Opus, NACK, RTCP
// reports, its ICE timings), closed when the benchmark ends.
func newPeer(b *testing.B, cfg rtc.Config, pcCfg webrtc.Configuration) *webrtc.PeerConnection {
	b.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	api, err := rtc.NewAPI(cfg)
	if err != nil {
		b.Fatal(err)
	}
	pc, err := api.WebRTC().NewPeerConnection(pcCfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.Close() })
	return pc
}

// connect runs offer and answer between a and b with complete candidates.
func connect(b *testing.B, offerer, answerer *webrtc.PeerConnection) {
	b.Helper()
	gathered := func(pc *webrtc.PeerConnection) *webrtc.SessionDescription {
		<-webrtc.GatheringCompletePromise(pc)
		return pc.LocalDescription()
	}
	offer, err := offerer.CreateOffer(nil)
	if err == nil {
		err = offerer.SetLocalDescription(offer)
	}
	if err == nil {
		err = answerer.SetRemoteDescription(*gathered(offerer))
	}
	var answer webrtc.SessionDescription
	if err == nil {
		answer, err = answerer.CreateAnswer(nil)
	}
	if err == nil {
		err = answerer.SetLocalDescription(answer)
	}
	if err == nil {
		err = offerer.SetRemoteDescription(*gathered(answerer))
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpusSpeakerThroughTURN sends one speaker's Opus (32 kbit/s,
// 20 ms frames of test speech with its pauses, paced in real time: one
// iteration is one frame) to one listener through clubnode's media API
// (NACK, RTCP reports, ICE keepalives every 250 ms). The speaker may use
// only relayed candidates of a server on loopback, as behind a symmetric
// NAT; the listener is reached directly from the relay. It reports per
// minute the Opus payload, what the relay sent to the listener (media,
// RTCP, ICE) and got back (RTCP, ICE), and the server's traffic each way:
// each packet crosses it once in and once out, with the speaker's leg
// adding a 4-byte ChannelData header, and 28 bytes of UDP and IPv4 each.
// Run with -benchtime 3000x for a minute.
func BenchmarkOpusSpeakerThroughTURN(b *testing.B) {
	s := newServer(b, Config{})
	track, heard := speakerToListener(b, s)
	frame := opusFrames(b)
	// The first frames open the path; counting starts once one is heard.
	testutil.Eventually(b, 20*time.Second, func() error {
		if err := track.WriteSample(media.Sample{Data: frame(0), Duration: audio.FrameDuration}); err != nil {
			return err
		}
		if heard.Load() == 0 {
			return errors.New("the listener hears nothing yet")
		}
		return nil
	})

	before, heard0, opus := s.Stats(), heard.Load(), 0
	start := time.Now()
	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		<-tick.C
		pkt := frame(i)
		opus += len(pkt)
		if err := track.WriteSample(media.Sample{Data: pkt, Duration: audio.FrameDuration}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	after := s.Stats()
	reportTURN(b, before, after, opus, elapsed)
	if got := heard.Load() - heard0; got < int64(b.N)*9/10 {
		b.Fatalf("the listener heard %d packets of %d", got, b.N)
	}
}

// speakerToListener connects a speaker that relays through s to a
// listener that counts the packets it hears.
func speakerToListener(b *testing.B, s *Server) (*webrtc.TrackLocalStaticSample, *atomic.Int64) {
	b.Helper()
	// Registered before the PeerConnections, so it runs after they close
	// (cleanups run last first) and their tracks end.
	var readers sync.WaitGroup
	b.Cleanup(readers.Wait)
	speaker := speakerPeer(b, s)
	// The listener is reachable directly (its host candidate), as a
	// member behind a port-preserving NAT would be through its mapping.
	listener := newPeer(b, rtc.Config{LoopbackOnly: true}, webrtc.Configuration{})
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: audio.SampleRate, Channels: 2}, "audio", "speaker")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := speaker.AddTrack(track); err != nil {
		b.Fatal(err)
	}
	heard := new(atomic.Int64)
	listener.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		readers.Go(func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				heard.Add(1)
			}
		})
	})
	connect(b, speaker, listener)
	return track, heard
}

// opusFrames encodes a minute of speech frame by frame, round and round.
func opusFrames(b *testing.B) func(i int) []byte {
	enc, err := audio.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	speech := audiotest.Speech(time.Minute, 3)
	return func(i int) []byte {
		i %= len(speech) / audio.FrameSamples
		pkt, err := enc.Encode(speech[i*audio.FrameSamples : (i+1)*audio.FrameSamples])
		if err != nil {
			b.Fatal(err)
		}
		return pkt
	}
}

// reportTURN reports what crossed s while opus bytes of Opus were sent.
func reportTURN(b *testing.B, before, after Stats, opus int, elapsed time.Duration) {
	perMin := func(v uint64) float64 { return float64(v) * float64(time.Minute) / float64(elapsed) }
	toB, toP := after.BytesToPeers-before.BytesToPeers, after.PacketsToPeers-before.PacketsToPeers
	fromB, fromP := after.BytesFromPeers-before.BytesFromPeers, after.PacketsFromPeers-before.PacketsFromPeers
	const ipUDP, channelData = 28, 4
	b.ReportMetric(perMin(uint64(opus)), "opus-B/min")
	b.ReportMetric(perMin(toB), "to-listener-B/min")
	b.ReportMetric(perMin(toP), "to-listener-pkt/min")
	b.ReportMetric(perMin(fromB), "from-listener-B/min")
	// In from the speaker plus in from the listener; out is the same
	// packets the other way, so the same bytes.
	b.ReportMetric(perMin(toB+(ipUDP+channelData)*toP+fromB+ipUDP*fromP), "server-in-B/min")
}
