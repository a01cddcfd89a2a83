package audio

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// FrameKind says what a Receiver played for one frame.
type FrameKind int

const (
	// Silent: nothing to play. Playout has not started, the speaker is
	// idle, or the sender is in DTX; the frame holds silence (or, for a
	// DTX packet, the decoder's comfort noise).
	Silent FrameKind = iota
	// Decoded: the frame's own packet arrived in time.
	Decoded
	// Recovered: the packet was lost and the frame was rebuilt from the
	// FEC copy carried by the next packet.
	Recovered
	// Concealed: the packet was lost or late and the decoder made the
	// frame up (packet-loss concealment).
	Concealed
)

func (k FrameKind) String() string {
	switch k {
	case Silent:
		return "silent"
	case Decoded:
		return "decoded"
	case Recovered:
		return "recovered"
	case Concealed:
		return "concealed"
	}
	return fmt.Sprintf("FrameKind(%d)", int(k))
}

// ReceiverConfig tunes a Receiver. The zero value gives the defaults.
type ReceiverConfig struct {
	// Delay is the target playout delay: how long the first packet of a
	// talk spurt waits before it plays, which is the jitter the buffer
	// absorbs. Default 60 ms; at most 1 s.
	Delay time.Duration
	// MaxPackets caps the packets buffered (memory, and latency if a
	// sender bursts). Default 100 (2 s); at most 1000.
	MaxPackets int
}

const (
	defaultDelay      = 60 * time.Millisecond
	maxDelay          = time.Second
	defaultMaxPackets = 100
	maxMaxPackets     = 1000

	// maxConcealFrames is how many frames in a row concealment may make
	// up before the Receiver falls silent: beyond about 100 ms, made-up
	// audio sounds worse than a gap, and the speaker has probably stopped.
	maxConcealFrames = 5
	// maxMisorder and maxDropout are RFC 3550's bounds (appendix A.1) on
	// how far a sequence number may stray from the highest seen and still
	// belong to the same stream; beyond them a packet is either a stray or
	// the start of a restarted sender.
	maxMisorder = 100
	maxDropout  = 3000
	// driftWindow is how many played packets (one second's) the drift
	// check watches before it judges the delay too long or too short.
	driftWindow = 50
	// maxBacklog is how much audio beyond Delay a burst may leave
	// buffered; more is dropped at once.
	maxBacklog = time.Second
	// maxSkipsPerPull bounds how fast a backlog drains: up to two quiet
	// frames dropped per frame played, so a pause plays at a third of its
	// length at most.
	maxSkipsPerPull = 2
	// quietLevel (-40 dBFS RMS) is a frame quiet enough to drop: a pause
	// between words, not a syllable.
	quietLevel = 0.01
	// forceCorrectionAfter: if a second of continuous sound offered no
	// quiet frame, one frame of it is dropped anyway.
	forceCorrectionAfter = time.Second
	// dtxMaxBytes: an Opus packet this short carries no coded audio, only
	// the TOC byte of a DTX frame (libopus's own rule for "need not be
	// transmitted").
	dtxMaxBytes = 2
)

// Stats counts what a Receiver did. Lost counts frames whose packet was
// missing when its turn came (proved by a gap in sequence numbers); each of
// them was either Recovered, Concealed or, after a long gap, played silent.
type Stats struct {
	Packets    uint64 // packets accepted into the buffer
	Duplicates uint64 // packets already buffered, dropped
	Late       uint64 // packets that arrived after their frame was played, dropped
	Overflow   uint64 // packets dropped because the buffer was full
	Invalid    uint64 // packets that are not 20 ms Opus or did not decode
	Stray      uint64 // packets that did not fit the stream (the first of a restart among them)
	Decoded    uint64 // frames played from their own packet
	Lost       uint64 // frames whose packet was missing at playout
	Recovered  uint64 // frames rebuilt from FEC
	Concealed  uint64 // frames made up by concealment
	Skipped    uint64 // frames dropped to keep the delay near Delay (fast sender clock, bursts)
	Stretched  uint64 // frames of concealment inserted to keep the delay near Delay (slow sender clock)
	Resets     uint64 // times the stream restarted (new SSRC or a jump in sequence)
}

// Receiver is the jitter buffer and decoder for one speaker's RTP stream.
// Push packets as they arrive and Pull one frame every 20 ms on the
// playout clock. Both are safe to call from different goroutines.
//
// How playout works: packets are kept in sequence order and played on a
// timeline of RTP time that advances one frame per Pull. The timeline is
// set when the first packet has waited Delay. Each Pull plays the next
// 20 ms: the packet if it is there, the FEC copy in the following packet
// if that one is, otherwise concealment for up to about 100 ms, then
// silence. A jump in timestamps without a gap in sequence numbers is the
// sender pausing (DTX) and plays as silence while the timeline runs on, so
// speech after a pause keeps its timing.
//
// The timeline is set again when it no longer fits: a packet arriving too
// late for it while nothing is playing (the network got slower, the
// sender stalled, or its clock is slow), a packet after a pause that has
// already waited longer than Delay plus a frame (the sender's clock is
// fast, or its timestamps jumped), or a restarted sender.
//
// The delay is kept near Delay without dropping speech where possible: if
// every packet over a second waited more than a frame beyond Delay (a
// fast sender clock, or a backlog after a stall), the extra frames are
// dropped where they are quiet (pauses, DTX), two frames' worth per Pull
// at most, and only after a second without a quiet frame from the speech
// itself; if every packet waited less than Delay minus a frame (a slow
// clock), a frame of concealment is inserted. A backlog of more than a
// second beyond Delay is cut at once: a live room cannot wait that long.
type Receiver struct {
	delay      time.Duration
	maxPackets int

	mu    sync.Mutex
	dec   *Decoder
	stats Stats

	// The stream being received: its SSRC and the highest extended
	// sequence number and timestamp seen, which unwrap the 16- and 32-bit
	// RTP fields of later packets.
	started bool
	ssrc    uint32
	highSeq int64
	highTS  int64
	// probe is the last packet that did not fit the stream; if the next
	// packet follows it, the sender restarted.
	probe   *rtp.Packet
	probeAt time.Time

	queue []queued // sorted by seq

	// The timeline.
	anchored   bool
	playTS     int64 // RTP time of the frame the next Pull plays
	lastSeq    int64 // highest sequence number whose turn has come
	haveLast   bool
	concealRun int
	// paused: the last Pull played silence; nothing audible would be cut
	// by setting the timeline again.
	paused bool
	// senderPaused: the last packet played was DTX or silence, so an
	// empty buffer means a pause, not a loss.
	senderPaused bool

	// Drift check: the shortest and longest wait of the packets played in
	// the current window.
	minWait, maxWait time.Duration
	waitCount        int
	// correction is a change of delay waiting to be made: n > 0 frames to
	// drop, -1 a frame to insert. Drops wait for quiet frames (since
	// correctionSince) so no speech is lost unless it takes too long.
	correction      int
	correctionSince time.Time
}

type queued struct {
	seq, ts int64
	payload []byte
	arrival time.Time
}

// NewReceiver makes a Receiver, checking cfg and filling in its defaults.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dec, err := NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	return &Receiver{delay: cfg.Delay, maxPackets: cfg.MaxPackets, dec: dec}, nil
}

// withDefaults fills in zero fields and checks the rest.
func (cfg ReceiverConfig) withDefaults() (ReceiverConfig, error) {
	if cfg.Delay == 0 {
		cfg.Delay = defaultDelay
	}
	if cfg.MaxPackets == 0 {
		cfg.MaxPackets = defaultMaxPackets
	}
	if cfg.Delay < 0 || cfg.Delay > maxDelay {
		return cfg, fmt.Errorf("receiver: delay %s out of range (0..%s)", cfg.Delay, maxDelay)
	}
	if cfg.MaxPackets < 0 || cfg.MaxPackets > maxMaxPackets {
		return cfg, fmt.Errorf("receiver: max packets %d out of range (1..%d)", cfg.MaxPackets, maxMaxPackets)
	}
	if need := int(cfg.Delay/FrameDuration) + 2; cfg.MaxPackets < need {
		return cfg, fmt.Errorf("receiver: max packets %d cannot hold a delay of %s (need %d)", cfg.MaxPackets, cfg.Delay, need)
	}
	return cfg, nil
}

// Stats returns the counters so far.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Push hands the Receiver a packet that arrived at arrival. The packet is
// copied; the caller may reuse it. Packets that are not 20 ms Opus frames
// are counted as invalid and dropped; packets with an empty payload
// (padding and bandwidth probes) are ignored.
func (r *Receiver) Push(pkt *rtp.Packet, arrival time.Time) {
	if pkt == nil || len(pkt.Payload) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(pkt.Payload) > maxPacketBytes {
		r.stats.Invalid++
		return
	}
	if n, err := packetSamples(pkt.Payload); err != nil || n != FrameSamples {
		r.stats.Invalid++
		return
	}
	if !r.started {
		r.begin(pkt)
	}
	seqDiff := int64(int16(pkt.SequenceNumber - uint16(r.highSeq)))
	tsDiff := int64(int32(pkt.Timestamp - uint32(r.highTS)))
	if pkt.SSRC != r.ssrc || !belongs(seqDiff, tsDiff) {
		r.stray(pkt, arrival)
		return
	}
	r.probe = nil
	seq, ts := r.highSeq+seqDiff, r.highTS+tsDiff
	if seqDiff > 0 {
		r.highSeq, r.highTS = seq, ts
	}
	r.insert(seq, ts, pkt.Payload, arrival)
}

// belongs says whether a packet this far (in sequence numbers and RTP
// time) from the highest one seen is part of the same stream: within RFC
// 3550's window, and with its timestamp on the same side as its sequence
// number (a sender never goes back in time while going forward in
// sequence).
func belongs(seqDiff, tsDiff int64) bool {
	switch {
	case seqDiff < -maxMisorder || seqDiff > maxDropout:
		return false
	case seqDiff > 0:
		return tsDiff >= 0
	case seqDiff < 0:
		return tsDiff <= 0
	}
	return tsDiff == 0
}

// begin takes pkt as the first packet of a new stream.
func (r *Receiver) begin(pkt *rtp.Packet) {
	r.started = true
	r.ssrc = pkt.SSRC
	// Extended numbers start one wrap up so that reordered packets from
	// before the first stay positive.
	r.highSeq = 1<<16 + int64(pkt.SequenceNumber)
	r.highTS = 1<<32 + int64(pkt.Timestamp)
}

// stray handles a packet that does not fit the current stream. One such
// packet is kept as a probe; if the next one continues it (same SSRC, next
// sequence number, later timestamp) the sender has restarted, and the
// buffer starts over from the two of them rather than waiting for the old
// numbering to come back.
func (r *Receiver) stray(pkt *rtp.Packet, arrival time.Time) {
	r.stats.Stray++
	p := r.probe
	if p != nil && pkt.SSRC == p.SSRC && pkt.SequenceNumber == p.SequenceNumber+1 &&
		int32(pkt.Timestamp-p.Timestamp) >= 0 {
		r.reset()
		r.begin(p)
		r.insert(r.highSeq, r.highTS, p.Payload, r.probeAt)
		r.highSeq++
		r.highTS += int64(pkt.Timestamp - p.Timestamp)
		r.insert(r.highSeq, r.highTS, pkt.Payload, arrival)
		return
	}
	r.probe = &rtp.Packet{Header: rtp.Header{SSRC: pkt.SSRC, SequenceNumber: pkt.SequenceNumber, Timestamp: pkt.Timestamp},
		Payload: append([]byte(nil), pkt.Payload...)}
	r.probeAt = arrival
}

// reset forgets the old stream after a restart.
func (r *Receiver) reset() {
	r.stats.Resets++
	r.started = false
	r.probe = nil
	r.queue = r.queue[:0]
	r.anchored = false
	r.haveLast = false
	r.concealRun = 0
	r.senderPaused = false
	r.waitCount, r.correction = 0, 0
	// A fresh decoder: the old one's state belongs to a different stream
	// and would smear it into the new one's first frames.
	if dec, err := NewDecoder(); err == nil {
		r.dec = dec
	}
}

// insert buffers one packet of the current stream.
func (r *Receiver) insert(seq, ts int64, payload []byte, arrival time.Time) {
	if r.haveLast && seq <= r.lastSeq {
		r.stats.Late++
		return
	}
	if r.anchored && ts+FrameSamples <= r.playTS {
		if !r.paused {
			r.stats.Late++ // its frame was played (concealed) already
			return
		}
		// Nothing is playing, so rather than drop the packet, set a new
		// timeline from it: the network or the sender's clock got slower.
		r.anchored = false
	}
	i, found := slices.BinarySearchFunc(r.queue, seq, func(q queued, seq int64) int { return int(q.seq - seq) })
	if found {
		r.stats.Duplicates++
		return
	}
	if len(r.queue) >= r.maxPackets {
		r.stats.Overflow++
		if i == 0 {
			return // older than everything buffered: the newest are worth more
		}
		r.queue = slices.Delete(r.queue, 0, 1)
		i--
	}
	r.queue = slices.Insert(r.queue, i, queued{seq: seq, ts: ts, payload: append([]byte(nil), payload...), arrival: arrival})
	r.stats.Packets++
}
