package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/lateness"
)

// maxMediaSections bounds the media sections of one link. pion never
// recycles the section of a removed track, so every speaker that joins the
// stage adds one for good; past this many the link ends with
// ErrMediaSectionLimit and the child reconnects with a fresh
// PeerConnection. At about 330 bytes per dead section and 650 per live one
// (64-character IDs), 100 sections with a full stage keep an offer near
// 45 KiB, under maxSignalFrame.
const maxMediaSections = 100

// ErrMediaSectionLimit ends a link whose stage changed so often that its
// offers would outgrow the signaling limit; reconnecting starts afresh.
var ErrMediaSectionLimit = errors.New("media section limit reached")

// ChildOptions configures the parent end of a link.
type ChildOptions struct {
	// Timeout is how long the child may send no heartbeat; default 15 s,
	// three heartbeats (ICE notices a dead child after 2 s).
	Timeout time.Duration
	// Uplink receives the packets the child sends up (its speaker's
	// microphone), on the goroutine reading them; nil drops them.
	Uplink func(pkt *rtp.Packet)
	// OnSubtree is told the child's subtree size (itself included) when it
	// first reports it and whenever it changes. It runs on the link's
	// reader goroutine.
	OnSubtree func(n int)
	// Label names the link in LinkStats.
	Label LinkLabel
	// Trickle: as ParentOptions.Trickle, for this end.
	Trickle bool
	// Proof is shown to the always-on nodes with the request for the
	// link's TURN credentials (Config.ICEServersFor): the link's
	// host-signed assignment, so that they let the relay reach only the
	// other end of this link.
	Proof []byte
	// TURNServers are the always-on nodes (peer IDs) to ask for the
	// link's TURN credentials (Config.ICEServersFor), if set: the ones the child
	// named at the link's start (the ones it asks).
	// Both ends must ask the same node, which lets the relay reach an end
	// only once both asked it with the same proof. Nil asks the ones
	// this node is connected to.
	TURNServers []string
	// Standby serves a standby link (standby.go): it connects, negotiates
	// the stage's tracks and keeps heartbeats like any other, but
	// forwards only between the child's activate and deactivate frames,
	// so a child that loses its parent hears this one after one frame,
	// not a new connection. OnActivate and OnDeactivate, if set, are
	// called then, on the link's loop; an error from OnActivate refuses
	// the activation and ends the link. The child's end must know the
	// link is a standby (ParentOptions.Standby): both learn it from the
	// link protocol.
	Standby      bool
	OnActivate   func() error
	OnDeactivate func()

	// late, if set, is the meter of the child-loss check's own
	// lateness (tests inject a starved parent); nil: a new one.
	late *lateness.Meter
}

// ServeChild is the parent end of a tree link: it serves one child on
// stream until ctx ends, the stream fails, the child goes silent for
// Timeout, the PeerConnection is lost, or f is closed. The parent is always
// the offerer: its offer carries one sendonly track per speaker of f (track
// ID = speaker ID, stream ID "clubnode") and one recvonly audio section for
// the child's uplink, and it renegotiates, one offer at a time, whenever f's
// stage changes. When ctx ends it returns ctx.Err(); otherwise its error
// wraps ErrStreamClosed, ErrSilent, ErrConnectionLost, ErrConnectTimeout,
// ErrProtocol, ErrMediaSectionLimit or ErrForwarderClosed. ServeChild
// closes stream before it returns.
func ServeChild(ctx context.Context, api *API, stream io.ReadWriteCloser, f *Forwarder, opts ChildOptions) error {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultLinkTimeout
	}
	l, err := newLink(ctx, api, stream, RoleChild, opts.Label, opts.Trickle, turnAsk{opts.Proof, opts.TURNServers})
	if err != nil {
		_ = stream.Close()
		return fmt.Errorf("serve child: %w", err)
	}
	defer l.close()
	l.standby.Store(opts.Standby)
	c := &childEnd{link: l, f: f, opts: opts, senders: map[string]*webrtc.RTPSender{}}
	c.tracks.Store(&map[string]*linkTrack{})
	return linkResult(ctx, "child lost", c.run())
}

// childEnd is the parent's end of a link to one child.
type childEnd struct {
	*link
	f    *Forwarder
	opts ChildOptions

	// tracks maps speaker to outgoing track; replaced whole by the loop,
	// read by the writer goroutine for every packet.
	tracks atomic.Pointer[map[string]*linkTrack]
	// senders is the loop's own record of which speaker has which sender.
	senders    map[string]*webrtc.RTPSender
	negotiated bool
	out        *outlet // this link's, in the forwarder
	activated  bool    // a standby link's child activated it
}

func (c *childEnd) run() error {
	if err := c.receiveUplink(); err != nil {
		return err
	}
	attach := c.f.attach
	if c.opts.Standby {
		attach = c.f.attachStandby
	}
	out := attach()
	c.out = out
	defer c.f.detach(out)
	c.spawnLoops(out)

	life := watchLife(c.opts.Timeout, c.opts.late, false) // heartbeats only: the child sends RTP only when it speaks
	defer life.stop()
	var (
		connected bool
		wanted    = true // a renegotiation is queued
		pending   bool   // an offer is in flight
		offeredAt time.Time
	)
	for {
		if wanted && !pending {
			wanted = false
			sent, err := c.offer()
			if err != nil {
				return err
			}
			pending, offeredAt = sent, time.Now()
		}
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		case <-c.f.Done():
			return ErrForwarderClosed
		case err := <-c.failed:
			return err
		case <-out.changed:
			wanted = true
		case m := <-c.sdp:
			answered, err := c.signal(m, pending)
			if err != nil {
				return err
			}
			pending = pending && !answered
		case <-c.stateChanged:
			ok, err := c.stateError()
			if err != nil {
				return err
			}
			if ok && !connected {
				connected = true
				c.log.Debug("child connected", "after", time.Since(c.start).Round(time.Millisecond))
			}
		case <-life.C():
			if err := c.checkLife(life); err != nil {
				return err
			}
			if pending && time.Since(offeredAt) > connectTimeout {
				return fmt.Errorf("%w: no answer in %s", ErrConnectTimeout, connectTimeout)
			}
			if !connected && time.Since(c.start) > connectTimeout {
				return fmt.Errorf("%w: %s", ErrConnectTimeout, connectTimeout)
			}
		}
	}
}

// signal handles an answer (to the offer pending) or a trickled
// candidate from the child, and reports whether it was the answer.
func (c *childEnd) signal(m signalFrame, pending bool) (answered bool, err error) {
	switch {
	case m.Kind == kindAnswer && pending:
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
			return false, fmt.Errorf("set answer: %w", err)
		}
		return true, nil
	case m.Kind == kindCandidate:
		return false, c.addRemoteCandidate(m)
	case m.Kind == kindActivate && c.opts.Standby && !c.activated:
		return false, c.activate()
	case m.Kind == kindDeactivate && c.opts.Standby && c.activated:
		c.deactivate()
		return false, nil
	default:
		return false, fmt.Errorf("%w: unexpected %s from child", ErrProtocol, m.Kind)
	}
}

// activate starts forwarding on a standby link the child now needs.
func (c *childEnd) activate() error {
	if c.opts.OnActivate != nil {
		if err := c.opts.OnActivate(); err != nil {
			return fmt.Errorf("activation refused: %w", err)
		}
	}
	c.activated = true
	c.standby.Store(false)
	c.f.activate(c.out)
	c.log.Debug("standby activated", "after", time.Since(c.start).Round(time.Millisecond))
	return nil
}

// deactivate stops forwarding on a standby link the child did not take.
func (c *childEnd) deactivate() {
	c.activated = false
	c.standby.Store(true)
	c.f.deactivate(c.out)
	if c.opts.OnDeactivate != nil {
		c.opts.OnDeactivate()
	}
}

// receiveUplink takes what a child on stage sends up the link, for
// Options.Uplink.
func (c *childEnd) receiveUplink() error {
	if _, err := c.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fmt.Errorf("add uplink transceiver: %w", err)
	}
	c.pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		leave, ok := c.work.Enter()
		if !ok {
			return
		}
		defer leave()
		c.spawn(func() { drainReceiverRTCP(receiver) })
		c.readTrack(track, func(pkt *rtp.Packet) {
			if c.opts.Uplink != nil {
				c.opts.Uplink(pkt)
			}
		})
	})
	return nil
}

// spawnLoops starts the link's signalling reader (which reports the
// child's subtree as it changes), its heartbeats and the RTP writer.
func (c *childEnd) spawnLoops(out *outlet) {
	subtree := -1
	c.spawn(func() {
		c.readLoop(func(m signalFrame) {
			if n := int(m.Subtree); n != subtree {
				subtree = n
				if c.opts.OnSubtree != nil {
					c.opts.OnSubtree(n)
				}
			}
		})
	})
	c.spawn(func() { c.heartbeatLoop(c.opts.Timeout, nil) })
	c.spawn(func() { c.writeLoop(out) })
}

// offer brings the link's tracks in line with the stage and, if anything
// changed (or nothing was negotiated yet), sends an offer. It reports
// whether it sent one.
func (c *childEnd) offer() (bool, error) {
	stage := c.f.speakers()
	want := make(map[string]bool, len(stage))
	for _, id := range stage {
		want[id] = true
	}
	tracks := maps.Clone(*c.tracks.Load())
	changed := !c.negotiated
	var removed []*webrtc.RTPSender
	for id, sender := range c.senders {
		if !want[id] {
			delete(tracks, id)
			delete(c.senders, id)
			removed = append(removed, sender)
		}
	}
	if len(removed) != 0 {
		changed = true
		c.tracks.Store(new(maps.Clone(tracks))) // stop writing to them before they go
		for _, sender := range removed {
			if err := c.pc.RemoveTrack(sender); err != nil {
				return false, fmt.Errorf("remove track %s: %w", sender.Track().ID(), err)
			}
		}
	}
	for _, id := range stage {
		if c.senders[id] != nil {
			continue
		}
		if len(c.pc.GetTransceivers()) >= maxMediaSections {
			return false, fmt.Errorf("%w: %d", ErrMediaSectionLimit, maxMediaSections)
		}
		track := newLinkTrack(id)
		tr, err := c.pc.AddTransceiverFromTrack(track,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return false, fmt.Errorf("add track %s: %w", id, err)
		}
		sender := tr.Sender()
		c.spawn(func() { drainRTCP(sender) })
		c.senders[id] = sender
		tracks[id] = track
		changed = true
	}
	c.tracks.Store(&tracks)
	if !changed {
		return false, nil
	}

	desc, err := c.pc.CreateOffer(nil)
	if err != nil {
		return false, fmt.Errorf("create offer: %w", err)
	}
	n, err := c.sendDescription(kindOffer, desc)
	if err != nil {
		return false, err
	}
	c.negotiated = true
	c.log.Debug("offer sent", "speakers", len(stage), "bytes", n, "trickle", c.trickle)
	return true, nil
}

// writeLoop moves queued packets onto the speakers' tracks. It is the only
// goroutine that writes to this child, so a slow child delays only itself.
// It drains whatever is queued before it waits again.
func (c *childEnd) writeLoop(out *outlet) {
	var h rtp.Header // every packet's outgoing header, reused
	for {
		select {
		case <-c.ctx.Done():
			return
		case p := <-out.queue:
			c.writeOne(&h, p)
			for n := len(out.queue); n > 0; n-- {
				c.writeOne(&h, <-out.queue)
			}
		}
	}
}

func (c *childEnd) writeOne(h *rtp.Header, p outPacket) {
	track := (*c.tracks.Load())[p.speaker]
	if track == nil {
		return // not negotiated on this link yet, or just removed
	}
	if err := track.write(h, p.pkt); err != nil {
		c.log.Debug("write to child", "speaker", p.speaker, "err", err)
	}
}
