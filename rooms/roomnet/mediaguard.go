package roomnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio/mediasig"
	"github.com/clubnode/clubnode/rooms"
)

// guard is the receiving end of the media path on every node: it verifies
// each speaker's signed stream (audio/mediasig) as the forwarder hands it
// over, and gives local listeners (WHEP, tests) only the packets a valid
// signature of their speaker covers, without the signature trailer.
// Forwarding does not wait for it: the forwarder queues every packet to the
// child links before it calls its sinks, and the guard's sink only queues
// the packet for the guard's own goroutine, so a relay adds no delay; it
// verifies anyway, with or without a local listener, so that the first
// honest node below a relay that changes audio notices and reports it.
//
// The room's state binds each speaker's key to its stream: a stream is
// the track named by the speaker's peer ID (the forwarder carries only
// audible speakers of the current state), and that peer ID is the Ed25519
// member key the verifier checks.
type guard struct {
	room string
	now  func() time.Time
	// open turns a verified payload into Opus (decrypt, in a closed
	// room); nil drops it.
	open func(speaker peer.ID, media []byte) []byte
	// onTamper is called (on the packet's goroutine) when a failure proves
	// that the stream was changed on its way here, or when a speaker's
	// packets keep coming and none verifies (a Failure of kind Unverified
	// wrapping errStarved): a relay that replays or withholds signatures.
	onTamper func(speaker peer.ID, f mediasig.Failure)

	queue     chan guardPacket
	mu        sync.Mutex
	verifiers map[string]*speakerGuard
	sinks     atomic.Pointer[[]*playSink]
	stats     guardStats
}

type speakerGuard struct {
	id  peer.ID
	v   *mediasig.Verifier
	out []mediasig.Packet // scratch, used under mu of speakerGuard
	dry int               // packets pushed since one was last released, under mu
	mu  sync.Mutex
}

// starveAfter is how many of a speaker's packets in a row may arrive
// without one being released before the guard calls its parent a suspect:
// one second of audio. An honest stream releases a batch every 4 packets
// (a lost signature costs one batch, NACK repairs most), so a second with
// none is no longer loss: a relay that replays old packets under new
// numbers, strips or withholds signatures, or sends only what fails. It
// proves nothing on its own (a speaker with a wrong clock looks the same),
// which is why the host wants more than one child's word (report.go).
const starveAfter = 50

// errStarved is the Failure's error when starveAfter packets in a row
// were refused.
var errStarved = errors.New("a second of packets and none signed by its speaker")

type playSink struct {
	fn func(speaker string, pkt *rtp.Packet)
}

// guardStats counts what the guard played and refused, for MediaStats and
// the metrics. The counters only grow: verifiers come and go with
// speakers, the guard stays.
type guardStats struct {
	released, overflow, starved atomic.Uint64
	refused                     [numRefusals]atomic.Uint64 // by mediasig.Kind
}

// numRefusals sizes guardStats.refused: one slot per mediasig.Kind.
const numRefusals = int(mediasig.Unverified) + 1

// GuardStats counts what this node's signature check did with a room's
// audio, and what did not decrypt: every refusal, by reason.
type GuardStats struct {
	Released uint64 // packets a valid signature covered, handed to local listeners
	// Refusals by mediasig.Kind: malformed trailers, bad signatures,
	// packets that differ from what was signed, conflicting copies, stale
	// frames, replays, and packets no signature covered in time.
	Malformed, BadSignature, BadPacket, Conflict, Stale, Replay, Unverified uint64
	// Overflow: packets dropped unverified because the guard's queue was
	// full (this node fell behind).
	Overflow uint64
	// DecryptFailed: verified frames of a closed room that did not decrypt
	// (an epoch this node lacks).
	DecryptFailed uint64
	// Starved counts the times a speaker's packets kept coming for a
	// second and none verified: each time the parent is reported.
	Starved uint64
}

// Refusals lists the refusal counters by the names the API and the metrics
// use.
func (s GuardStats) Refusals() map[string]uint64 {
	return map[string]uint64{"malformed": s.Malformed, "bad_signature": s.BadSignature, "bad_packet": s.BadPacket,
		"conflict": s.Conflict, "stale": s.Stale, "replay": s.Replay, "unverified": s.Unverified,
		"overflow": s.Overflow, "decrypt_failed": s.DecryptFailed}
}

func (g *guard) statsSnapshot() GuardStats {
	r := func(k mediasig.Kind) uint64 { return g.stats.refused[k].Load() }
	return GuardStats{Released: g.stats.released.Load(), Malformed: r(mediasig.Malformed),
		BadSignature: r(mediasig.BadSignature), BadPacket: r(mediasig.BadPacket), Conflict: r(mediasig.Conflict),
		Stale: r(mediasig.Stale), Replay: r(mediasig.Replay), Unverified: r(mediasig.Unverified),
		Overflow: g.stats.overflow.Load(), Starved: g.stats.starved.Load()}
}

func newGuard(room string, now func() time.Time, open func(peer.ID, []byte) []byte, onTamper func(peer.ID, mediasig.Failure)) *guard {
	g := &guard{room: room, now: now, open: open, onTamper: onTamper, verifiers: map[string]*speakerGuard{},
		queue: make(chan guardPacket, guardQueue)}
	g.sinks.Store(&[]*playSink{})
	return g
}

// addSink plays every verified packet to fn until remove is called.
func (g *guard) addSink(fn func(speaker string, pkt *rtp.Packet)) (remove func()) {
	k := &playSink{fn: fn}
	g.mu.Lock()
	next := append(slices.Clone(*g.sinks.Load()), k)
	g.sinks.Store(&next)
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			next := slices.DeleteFunc(slices.Clone(*g.sinks.Load()), func(x *playSink) bool { return x == k })
			g.sinks.Store(&next)
			g.mu.Unlock()
		})
	}
}

// keep drops the verifiers of speakers no longer audible: a speaker who
// comes back starts a new one.
func (g *guard) keep(speakers []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id := range g.verifiers {
		if !slices.Contains(speakers, id) {
			delete(g.verifiers, id)
		}
	}
}

// reset forgets every stream's state: after leaving a parent that changed
// audio, what it sent must not count against what the next one sends.
func (g *guard) reset() {
	g.mu.Lock()
	clear(g.verifiers)
	g.mu.Unlock()
}

// speaker returns the verifier of one speaker's stream, made on first use.
func (g *guard) speaker(id string) *speakerGuard {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sg, ok := g.verifiers[id]; ok {
		return sg
	}
	pid, err := peer.Decode(id)
	if err != nil {
		return nil
	}
	v, err := mediasig.NewVerifier(mediasig.VerifierConfig{Stream: mediasig.Stream{Room: g.room, Speaker: pid},
		OnFailure: func(f mediasig.Failure) { g.failed(pid, f) }})
	if err != nil {
		return nil // a peer ID without an Ed25519 key signs nothing: unplayable
	}
	sg := &speakerGuard{v: v, id: pid}
	g.verifiers[id] = sg
	return sg
}

func (g *guard) failed(speaker peer.ID, f mediasig.Failure) {
	if int(f.Kind) < numRefusals {
		g.stats.refused[f.Kind].Add(1)
	}
	if !f.Kind.Tampering() {
		return
	}
	if g.onTamper != nil {
		g.onTamper(speaker, f)
	}
}

// guardQueue is how many packets may wait for the guard: 1.3 s of a
// four-speaker stage. Past it packets are not played (they would be late).
const guardQueue = 256

type guardPacket struct {
	speaker string
	pkt     *rtp.Packet
	queued  time.Time
}

// guardLate is how long a packet may wait in the guard's queue before this
// node counts as running late: its refusals then say nothing about its
// parent (packets expire here, not on the way), so they do not count
// towards starveAfter.
const guardLate = 100 * time.Millisecond

// enqueue is the forwarder's sink: it hands the packet to the guard's own
// goroutine and returns at once, so that verifying never delays the
// forwarding goroutine (the link's track reader). The forwarder's packets
// are immutable, so they are queued as they are.
func (g *guard) enqueue(speaker string, pkt *rtp.Packet) {
	select {
	case g.queue <- guardPacket{speaker: speaker, pkt: pkt, queued: g.now()}:
	default:
		g.stats.overflow.Add(1)
	}
}

// run verifies queued packets until ctx ends.
func (g *guard) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-g.queue:
			g.push(p.speaker, p.pkt, g.now().Sub(p.queued) > guardLate)
		}
	}
}

// push verifies one packet, then plays what is released. late says the
// packet waited long in the queue: this node, not its parent, is behind.
func (g *guard) push(speaker string, pkt *rtp.Packet, late bool) {
	sg := g.speaker(speaker)
	if sg == nil {
		return
	}
	sg.mu.Lock()
	sg.out = sg.v.Push(sg.out[:0], pkt, g.now())
	released := slices.Clone(sg.out)
	starved := false
	if sg.dry++; len(released) > 0 || late {
		sg.dry = 0
	} else if sg.dry >= starveAfter {
		starved, sg.dry = true, 0
	}
	sg.mu.Unlock()
	if starved {
		g.stats.starved.Add(1)
		if g.onTamper != nil {
			g.onTamper(sg.id, mediasig.Failure{Kind: mediasig.Unverified, Seq: pkt.SequenceNumber, Err: errStarved})
		}
	}
	if len(released) == 0 {
		return
	}
	g.stats.released.Add(uint64(len(released)))
	sinks := *g.sinks.Load()
	for i := range released {
		r := &released[i]
		media := r.Media
		if g.open != nil {
			if media = g.open(sg.id, media); media == nil {
				continue
			}
		}
		out := &rtp.Packet{Header: r.Header, Payload: media}
		for _, k := range sinks {
			k.fn(speaker, out)
		}
	}
}

// mediaSigning makes a room's signer for this node's own voice and the
// guard that verifies everyone's.
func (m *media) mediaSigning(id rooms.RoomID, open func(peer.ID, []byte) []byte, onTamper func(peer.ID, mediasig.Failure)) (*mediasig.Signer, *guard) {
	s, err := mediasig.NewSigner(mediasig.SignerConfig{Stream: mediasig.Stream{Room: string(id), Speaker: m.self()},
		Key: m.key, Now: m.now})
	if err != nil {
		m.log.Warn("this node cannot sign its voice: nobody will play it", "room", id, "err", err)
		s = nil
	}
	return s, newGuard(string(id), m.now, open, onTamper)
}

// dtxMax is the longest Opus packet taken for a pause (DTX sends a 1-2
// byte packet every 400 ms): the batch is signed there rather than wait
// for the speech to resume.
const dtxMax = 2

// tailIdle is how long this node's voice may be quiet before the packets
// its signer holds (up to 3, when the speech stopped without a DTX packet
// to close the batch: a WHIP client that hangs up, a muted microphone)
// get a signature of their own: listeners drop packets no signature
// covers after mediasig.DefaultMaxWait. Five frames: no honest source
// pauses that long inside speech without DTX.
const tailIdle = 100 * time.Millisecond

// tailLoop signs the tail of this node's voice whenever it has been quiet
// for tailIdle with packets pending.
func (ms *mediaSession) tailLoop(ctx context.Context) {
	t := time.NewTimer(tailIdle)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ms.spoke:
			t.Reset(tailIdle)
		case <-t.C:
			ms.signTail()
		}
	}
}

// signTail sends one packet without media, on a sequence number of its
// own, that carries the signature of the packets pending.
func (ms *mediaSession) signTail() {
	if ms.signer == nil || ms.signer.Pending() == 0 {
		return
	}
	pkt, ok := ms.voice.tail()
	if !ok {
		return
	}
	out, err := ms.signer.Sign(pkt, true)
	if err == nil {
		err = ms.send(out)
	}
	if err != nil {
		ms.m.log.Debug("sign the tail of this node's voice", "room", ms.room, "err", err)
	}
}

// sign encrypts (in a closed room) and signs one packet of this node's
// own stream; pkt is the caller's copy, changed in place.
func (ms *mediaSession) sign(pkt *rtp.Packet) (*rtp.Packet, error) {
	if ms.signer == nil {
		return nil, fmt.Errorf("%w: this node cannot sign its voice", ErrNoMedia)
	}
	flush := len(pkt.Payload) <= dtxMax
	payload, err := ms.encrypt(pkt.Payload)
	if err != nil {
		return nil, err
	}
	pkt.Payload = payload
	out, err := ms.signer.Sign(pkt, flush)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return out, nil
}
