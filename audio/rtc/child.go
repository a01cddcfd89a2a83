package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/lateness"
)

// ParentOptions configures the child end of a link.
type ParentOptions struct {
	// Timeout is how long the parent may send neither heartbeat nor RTP;
	// default 15 s, three heartbeats (ICE notices a dead parent after
	// 2 s, and the flow watch, Stall, sooner while audio flows).
	Timeout time.Duration
	// Uplink, if set, is sent to the parent on the recvonly section the
	// parent offered.
	Uplink *Uplink
	// Subtree reports this node's subtree size, itself included, for the
	// heartbeats (called from the link's heartbeat goroutine); nil
	// reports 1.
	Subtree func() int
	// SubtreeChanged, if set, is signalled when Subtree's answer may have
	// changed: a heartbeat with the new size goes at once, instead of at
	// the next heartbeat, so that the parent and the host through it
	// count a grown or shrunk subtree within a hand-off.
	SubtreeChanged <-chan struct{}
	// Label names the link in LinkStats.
	Label LinkLabel
	// Proof is shown to the always-on nodes with the request for the
	// link's TURN credentials (Config.ICEServersFor): the link's
	// host-signed assignment, so that they let the relay reach only the
	// other end of this link.
	Proof []byte
	// TURNServers are the always-on nodes (peer IDs) to ask for the
	// link's TURN credentials (Config.ICEServersFor), if set: the ones named
	// to the parent at the link's start, so that it asks them too.
	// Both ends must ask the same node, which lets the relay reach an end
	// only once both asked it with the same proof. Nil asks the ones
	// this node is connected to.
	TURNServers []string
	// Stall, if set, is how long the parent's RTP may stop before the
	// child probes it; a probe unanswered for ProbeTimeout (default Stall)
	// ends the link with ErrStalled. See stall.go.
	Stall, ProbeTimeout time.Duration
	// Trickle sends this end's candidates as they are found and takes
	// the parent's the same way (linktrickle.go). The parent's end must
	// trickle too: both ends learn it from the link protocol's version.
	Trickle bool
	// Standby, if set, makes this a standby link to a backup parent
	// (standby.go): it connects, and the parent negotiates its tracks,
	// but forwards nothing, the uplink stays where it is and the flow is
	// not watched, until the control says otherwise. The parent must
	// serve it with ChildOptions.Standby. OnHeard, if set, is called once
	// per Warm, when the warmed backup has sent heardAfter packets of one
	// speaker (held meanwhile): the backup has audio. If it returns true
	// the link delivers those packets and all that follow, at once, as
	// after Deliver (which the caller must still call, for the rest: the
	// uplink, the flow's watch).
	Standby *StandbyControl
	OnHeard func() bool
	// OnStall, if set, is called with true when the parent's RTP stalled
	// and a probe went out, and with false when the probe was answered
	// or the flow came back (on the flow watcher's goroutine).
	OnStall func(stalled bool)
	// Lost, if set, ends the link with ErrBackupHeard when closed: the
	// child's warmed standby has audio that this parent does not send.
	Lost <-chan struct{}
	// OnConnected, if set, is called once the PeerConnection first
	// connects (on the link's loop).
	OnConnected func()

	// late, if set, is the meter of the parent-loss check's own
	// lateness (tests inject a starved child); nil: a new one.
	late *lateness.Meter
}

// DialParent is the child end of a tree link: it answers the parent's
// offers on stream and writes every received track's packets to
// f.Write(track ID, pkt), until ctx ends, f is closed, or the parent is lost
// (stream closed, PeerConnection disconnected or failed, neither heartbeat
// nor RTP for Timeout, or RTP stalled and a probe unanswered). The error
// wraps ErrStreamClosed, ErrConnectionLost, ErrSilent, ErrStalled,
// ErrConnectTimeout or ErrProtocol to say which; when ctx ends it returns
// ctx.Err(). DialParent closes stream before it returns.
func DialParent(ctx context.Context, api *API, stream io.ReadWriteCloser, f *Forwarder, opts ParentOptions) error {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultLinkTimeout
	}
	l, err := newLink(ctx, api, stream, RoleParent, opts.Label, opts.Trickle, turnAsk{opts.Proof, opts.TURNServers})
	if err != nil {
		_ = stream.Close()
		return fmt.Errorf("dial parent: %w", err)
	}
	defer l.close()
	l.standby.Store(opts.Standby != nil)
	p := &parentEnd{link: l, f: f, opts: opts}
	return linkResult(ctx, "parent lost", p.run())
}

// parentEnd is the child's end of a link to its parent.
type parentEnd struct {
	*link
	f      *Forwarder
	opts   ParentOptions
	uplink *webrtc.TrackLocalStaticRTP // this link's uplink track, once offered
	// active is false on a standby link until it delivers: packets
	// received meanwhile are dropped (the parent should send none unless
	// warmed); heard is set at the first one. forwarding and live are
	// the loop's: the parent was last told to forward, goLive ran.
	active, heard    atomic.Bool
	warmGen          atomic.Uint64 // counts the parent's starts of forwarding
	forwarding, live bool
}

func (p *parentEnd) run() error {
	p.pc.OnTrack(p.onTrack)
	defer func() {
		if p.uplink != nil {
			p.opts.Uplink.track.CompareAndSwap(p.uplink, nil)
		}
	}()

	p.link.subtree = p.subtree
	p.spawn(func() { p.readLoop(nil) })
	p.spawn(func() { p.heartbeatLoop(p.opts.Timeout, p.opts.SubtreeChanged) })
	var control <-chan struct{}
	if p.opts.Standby == nil {
		p.goLive()
	} else {
		control = p.opts.Standby.poke
		if err := p.standbyStep(); err != nil { // a control set before the link
			return err
		}
	}

	life := watchLife(p.opts.Timeout, p.opts.late, true) // RTP counts as a sign of life
	defer life.stop()
	connected := false
	for {
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-p.f.Done():
			return ErrForwarderClosed
		case err := <-p.failed:
			return err
		case <-p.opts.Lost:
			return ErrBackupHeard
		case <-control:
			if err := p.standbyStep(); err != nil {
				return err
			}
		case m := <-p.sdp:
			if err := p.signal(m); err != nil {
				return err
			}
		case <-p.stateChanged:
			ok, err := p.stateError()
			if err != nil {
				return err
			}
			if ok && !connected {
				connected = true
				p.log.Debug("parent connected", "after", time.Since(p.start).Round(time.Millisecond))
				if p.opts.OnConnected != nil {
					p.opts.OnConnected()
				}
			}
		case <-life.C():
			if err := p.checkLife(life); err != nil {
				return err
			}
			if !connected && time.Since(p.start) > connectTimeout {
				return fmt.Errorf("%w: %s", ErrConnectTimeout, connectTimeout)
			}
		}
	}
}

// onTrack reads a track the parent sends into the forwarder, once the
// link delivers (a standby's packets before that are dropped).
func (p *parentEnd) onTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	leave, ok := p.work.Enter()
	if !ok {
		return
	}
	defer leave()
	p.spawn(func() { drainReceiverRTCP(receiver) })
	speaker := track.ID()
	if err := CheckSpeakerID(speaker); err != nil {
		p.log.Warn("parent sent a track no speaker can own", "err", err)
		p.readTrack(track, func(*rtp.Packet) {}) // keep the receiver drained
		return
	}
	var (
		held   []*rtp.Packet // a warmed standby's packets, while the child waits
		heldAt time.Time     // when the first of them came
		gen    uint64        // the warming they belong to
		inSeen uint64        // the forwarder's packets in when held began
	)
	hold := func(pkt *rtp.Packet) {
		if len(held) == 0 {
			inSeen, heldAt = p.f.in.Load(), time.Now()
		}
		held = append(held, pkt)
	}
	p.readTrack(track, func(pkt *rtp.Packet) {
		if p.active.Load() {
			p.f.Write(speaker, pkt)
			return
		}
		if g := p.warmGen.Load(); g != gen {
			held, gen = held[:0], g
		}
		if p.opts.OnHeard == nil || len(held) == heardAfter {
			return
		}
		hold(pkt)
		if len(held) < heardAfter {
			return
		}
		if p.f.in.Load() != inSeen {
			// The parent delivered while the backup sent these: it was
			// only late (a busy machine's stall), not gone. Count again.
			held = held[:0]
			return
		}
		if !pacedArrival(len(held), time.Since(heldAt)) {
			// They came in one burst: this node was not scheduled while
			// they queued, and so may the parent's be, unread. Count
			// again from this packet.
			held = held[:0]
			hold(pkt)
			return
		}
		if p.heard.Swap(true) || !p.opts.OnHeard() {
			return
		}
		p.active.Store(true) // the child switched: what the backup sent is not lost
		for _, h := range held {
			p.f.Write(speaker, h)
		}
		held = nil
	})
}

// pacedArrival says whether n packets of one speaker, which came over
// took, arrived as a sender paces them rather than in one burst: none
// paces one speaker's packets closer than the shortest Opus frame. A
// process that was not scheduled for a while reads what queued on every
// link at once, and whichever link is read first looks like the only one
// with audio: under three busy loops on two cores, a warmed standby was
// heard in 3 of 80 runs of TestStandbyCoolsAndWarmsAgain with the parent
// delivering.
func pacedArrival(n int, took time.Duration) bool {
	return took >= time.Duration(n-1)*minOpusFrame
}

// minOpusFrame is the shortest audio one Opus packet carries (RFC 6716).
const minOpusFrame = 2500 * time.Microsecond

// heardAfter is how many packets of one speaker a warmed standby must
// send while the parent sends none (the forwarder takes in nothing)
// before OnHeard is told: one packet could be a parent only late on a
// busy machine (20 ms of audio each), and the flow watcher may not have
// woken yet to cool the standby when the parent's audio came back.
const heardAfter = 3

// goLive makes the link the child's way in: what it receives is
// forwarded, its uplink track (if negotiated) carries the node's voice,
// and its flow is watched.
func (p *parentEnd) goLive() {
	p.live = true
	p.active.Store(true)
	p.standby.Store(false)
	if p.uplink != nil {
		p.opts.Uplink.track.Store(p.uplink)
	}
	if p.opts.Stall > 0 {
		p.spawn(p.watchFlow)
	}
}

// signal handles an offer or a trickled candidate from the parent.
func (p *parentEnd) signal(m signalFrame) error {
	switch m.Kind {
	case kindOffer:
		return p.answer(m.SDP)
	case kindCandidate:
		return p.addRemoteCandidate(m)
	default:
		return fmt.Errorf("%w: unexpected %s from parent", ErrProtocol, m.Kind)
	}
}

func (p *parentEnd) subtree() uint32 {
	if p.opts.Subtree == nil {
		return 1
	}
	return uint32(min(max(p.opts.Subtree(), 0), maxSubtree))
}

// answer applies an offer and sends the answer. On the first offer it puts
// the uplink track on the recvonly section the parent offered for it.
func (p *parentEnd) answer(offer string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	if p.opts.Uplink != nil && p.uplink == nil {
		if err := p.attachUplink(); err != nil {
			return err
		}
	}
	desc, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	_, err = p.sendDescription(kindAnswer, desc)
	return err
}

// attachUplink adds the uplink track. AddTrack reuses a transceiver the
// remote offered as recvonly; one it had to create would have no section in
// the answer, so the parent offered no uplink.
func (p *parentEnd) attachUplink() error {
	track, err := webrtc.NewTrackLocalStaticRTP(opusCodec, "uplink", streamID)
	if err != nil {
		return fmt.Errorf("uplink track: %w", err)
	}
	sender, err := p.pc.AddTrack(track)
	if err != nil {
		return fmt.Errorf("add uplink track: %w", err)
	}
	for _, tr := range p.pc.GetTransceivers() {
		if tr.Sender() == sender && tr.Mid() == "" {
			return fmt.Errorf("%w: parent offered no recvonly section for the uplink", ErrProtocol)
		}
	}
	p.spawn(func() { drainRTCP(sender) })
	p.uplink = track
	if p.live {
		p.opts.Uplink.track.Store(track)
	}
	return nil
}

// Uplink is a node's own microphone stream toward whatever parent it has
// now. It outlives links: pass the same Uplink to each DialParent as the
// node is re-parented.
type Uplink struct {
	track atomic.Pointer[webrtc.TrackLocalStaticRTP]
}

// NewUplink makes an Uplink with no parent.
func NewUplink() *Uplink { return &Uplink{} }

// Write sends pkt to the current parent. With no parent link up the packet
// is dropped and Write returns nil: a speaker between parents loses audio,
// it does not queue it.
func (u *Uplink) Write(pkt *rtp.Packet) error {
	track := u.track.Load()
	if track == nil {
		return nil
	}
	out := *pkt
	stripExtensions(&out.Header)
	if err := track.WriteRTP(&out); err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			return nil // the link is closing under us: same as no parent
		}
		return fmt.Errorf("uplink: %w", err)
	}
	return nil
}
