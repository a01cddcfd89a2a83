package rtc

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The raw-pion baseline: what a relay built the way pion's broadcast
// example builds one costs on this machine, measured in the same run as
// clubnode's own relay. One TrackLocalStaticRTP per speaker is added to
// every child's PeerConnection and written once per packet (pion loops over
// the bindings), each sender's RTCP is drained, and the children live in
// the helper process as for BenchmarkForwarderWrite. Opus is registered
// with NACK feedback, as clubnode registers it, so "default" interceptors
// really keep a NACK buffer for the audio.

// rawSignal writes one length-prefixed SDP on the raw baseline's TCP
// signaling.
func rawSignal(w io.Writer, sdp string) error {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(sdp)))
	if _, err := w.Write(append(n[:], sdp...)); err != nil {
		return fmt.Errorf("send sdp: %w", err)
	}
	return nil
}

func readRawSignal(r io.Reader) (string, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", fmt.Errorf("read sdp length: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxSignalFrame {
		return "", fmt.Errorf("sdp of %d bytes", size)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("read sdp: %w", err)
	}
	return string(buf), nil
}

// rawBenchChild is one child of the raw baseline, in the helper process:
// it answers the relay's one offer and delivers every packet it gets.
func rawBenchChild(ctx context.Context, api *API, conn net.Conn, deliver func(string, *rtp.Packet)) error {
	defer conn.Close()
	pc, err := api.newPeerConnection(nil, true)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer func() {
		_ = pc.Close() // ends the track readers
		wg.Wait()
	}()
	pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		wg.Add(2)
		go func() { defer wg.Done(); drainReceiverRTCP(receiver) }()
		go func() {
			defer wg.Done()
			readTrack(api.log, track, func(pkt *rtp.Packet) { deliver(track.ID(), pkt) })
		}()
	})
	offer, err := readRawSignal(conn)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	<-gathered
	if err := rawSignal(conn, pc.LocalDescription().SDP); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// newRawPionAPI is a pion API on loopback as a relay written with pion
// alone would make it: Opus (with NACK feedback), and pion's default
// interceptors or none.
func newRawPionAPI(b *testing.B, interceptors bool) *webrtc.API {
	b.Helper()
	media := &webrtc.MediaEngine{}
	if err := media.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: PayloadType},
		webrtc.RTPCodecTypeAudio); err != nil {
		b.Fatal(err)
	}
	registry := &interceptor.Registry{}
	if interceptors {
		if err := webrtc.RegisterDefaultInterceptors(media, registry); err != nil {
			b.Fatal(err)
		}
	}
	settings := webrtc.SettingEngine{}
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	settings.SetIncludeLoopbackCandidate(true)
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	loopback := net.IPv4(127, 0, 0, 1)
	settings.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
	return webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(settings))
}

// rawRelay is the baseline relay: shared tracks, one PeerConnection per
// child, written from the caller's goroutine.
type rawRelay struct {
	*benchHelper
	tracks   []*webrtc.TrackLocalStaticRTP
	speakers []*source
	pcs      []*webrtc.PeerConnection
	drains   sync.WaitGroup
	children int
	written  uint64 // copies handed to pion
	stopOnce sync.Once
}

func startRawRelay(b *testing.B, children int, speakers []string, interceptors bool) *rawRelay {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	api := newRawPionAPI(b, interceptors)
	r := &rawRelay{children: children}
	for i, id := range speakers {
		track, err := webrtc.NewTrackLocalStaticRTP(opusCodec, id, streamID)
		if err != nil {
			b.Fatal(err)
		}
		r.tracks = append(r.tracks, track)
		r.speakers = append(r.speakers, &source{speaker: id, ssrc: uint32(i + 1)})
	}
	r.benchHelper = startBenchHelper(b, children, speakers, ln.Addr().String(), true)
	b.Cleanup(r.stop)
	for range children {
		conn, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		if err := r.addChild(api, conn); err != nil {
			b.Fatal(err)
		}
	}
	r.waitReady(b, r.writeRound)
	return r
}

func (r *rawRelay) addChild(api *webrtc.API, conn net.Conn) error {
	defer conn.Close()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("new peer connection: %w", err)
	}
	r.pcs = append(r.pcs, pc)
	for _, track := range r.tracks {
		sender, err := pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("add track: %w", err)
		}
		r.drains.Add(1)
		go func() { defer r.drains.Done(); drainRTCP(sender) }()
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	<-gathered
	if err := rawSignal(conn, pc.LocalDescription().SDP); err != nil {
		return err
	}
	answer, err := readRawSignal(conn)
	if err != nil {
		return err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	return nil
}

func (r *rawRelay) writeRound() {
	var payload [opusSizedPayload]byte
	for i, s := range r.speakers {
		pkt := s.next("")
		pkt.Payload = payload[:]
		_ = r.tracks[i].WriteRTP(pkt) // before a child connects, pion drops
	}
	r.written += uint64(len(r.speakers) * r.children)
}

func (r *rawRelay) copies() uint64 { return r.written }
func (r *rawRelay) backlog() bool  { return false } // pion writes synchronously

func (r *rawRelay) stop() {
	r.stopOnce.Do(func() {
		r.benchHelper.stop()
		for _, pc := range r.pcs {
			_ = pc.Close()
		}
		r.drains.Wait()
	})
}

// clubnode's relay as relayUnderTest.
func (r *benchRelay) copies() uint64 { return r.f.Stats().Forwarded }

// backlog reports a child link's queue half full: a saturating writer
// waits rather than have packets dropped.
func (r *benchRelay) backlog() bool {
	for _, o := range r.f.state.Load().outlets {
		if len(o.queue) > outletQueue/2 {
			return true
		}
	}
	return false
}

// relayUnderTest is what BenchmarkRelayVsPion drives.
type relayUnderTest interface {
	writeRound()
	copies() uint64 // copies forwarded so far
	backlog() bool  // a saturating writer should wait
	received(b *testing.B) uint64
	stop()
}

// BenchmarkRelayVsPion measures clubnode's relay and the raw-pion baseline
// (pion's default interceptors, and none) in one run: four speakers to 32
// children, paced at 50 packets/s per speaker (one op is one 20 ms round)
// and saturated (rounds back to back; clubnode's writer waits whenever a
// child's queue is half full, so nothing is dropped). It reports the relay
// process's CPU per forwarded copy (everything: ICE keepalives, RTCP, the
// pacing ticker), the idle share of it (the same links with no packets),
// allocations per copy, the share the children received and the heap in
// use at the end (NACK buffers fill as the run goes on); clubnode's
// runs also report their ratio to the baselines measured just before.
func BenchmarkRelayVsPion(b *testing.B) {
	const children = 32
	speakers := []string{"s1", "s2", "s3", "s4"}
	perCopy := map[string]float64{}
	for _, load := range []string{"paced", "saturated"} {
		for _, relay := range []string{"pion-default", "pion-none", "clubnode"} {
			b.Run(load+"/"+relay, func(b *testing.B) {
				var r relayUnderTest
				switch relay {
				case "clubnode":
					r = startBenchRelay(b, children, speakers)
				default:
					r = startRawRelay(b, children, speakers, relay == "pion-default")
				}
				defer r.stop()
				idle := idleCPU(20*time.Millisecond, 25)
				ns := runRelayLoad(b, r, load == "paced", idle)
				perCopy[load+"/"+relay] = ns
				if relay == "clubnode" {
					for _, base := range []string{"pion-default", "pion-none"} {
						if v := perCopy[load+"/"+base]; v > 0 {
							b.ReportMetric(ns/v, "x-"+base)
						}
					}
				}
			})
		}
	}
}

// runRelayLoad writes b.N rounds and reports the per-copy metrics; it
// returns CPU nanoseconds per copy.
func runRelayLoad(b *testing.B, r relayUnderTest, paced bool, idle float64) float64 {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	fromCopies, fromReceived := r.copies(), r.received(b)
	b.ResetTimer()
	start, before := time.Now(), readUsage()
	for i := 0; i < b.N; i++ {
		r.writeRound()
		if paced {
			<-tick.C
			continue
		}
		for r.backlog() {
			time.Sleep(100 * time.Microsecond)
		}
	}
	wall, after := time.Since(start), readUsage()
	b.StopTimer()
	copies := float64(r.copies() - fromCopies)
	ns := float64(after.cpu-before.cpu) / copies
	b.ReportMetric(ns, "cpu-ns/copy")
	b.ReportMetric(idle*float64(wall)/copies, "idle-ns/copy")
	b.ReportMetric(float64(after.allocs-before.allocs)/copies, "allocs/copy")
	deadline := time.Now().Add(2 * time.Second)
	for r.received(b)-fromReceived < uint64(copies) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(100*float64(r.received(b)-fromReceived)/copies, "%delivered")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	return ns
}
