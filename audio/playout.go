package audio

import (
	"math"
	"time"
)

// Pull plays the next 20 ms into pcm (FrameSamples long) and says what it
// played. Call it on a steady 20 ms clock; now is that clock's time, on the
// same clock as the arrival times given to Push.
func (r *Receiver) Pull(now time.Time, pcm []int16) FrameKind {
	if len(pcm) != FrameSamples {
		clear(pcm)
		return Silent
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.anchored && !r.anchor(now) {
		clear(pcm)
		return Silent
	}
	kind := r.playSlot(now, pcm)
	r.paused = kind == Silent
	return kind
}

// anchor sets the timeline when the earliest buffered packet has waited
// Delay: at the start of the stream, or when the old timeline stopped
// fitting.
func (r *Receiver) anchor(now time.Time) bool {
	if len(r.queue) == 0 {
		return false
	}
	first := r.queue[0].arrival
	for _, q := range r.queue[1:] {
		if q.arrival.Before(first) {
			first = q.arrival
		}
	}
	if now.Sub(first) < r.delay {
		return false
	}
	// A backlog (a burst after a stall) is kept, so no speech is lost, and
	// drained through its pauses; beyond a second it is cut.
	newest := r.queue[len(r.queue)-1].ts
	limit := int64((r.delay+maxBacklog)/FrameDuration) * FrameSamples
	for len(r.queue) > 1 && newest-r.queue[0].ts >= limit {
		r.queue = r.queue[1:]
		r.stats.Skipped++
	}
	head := r.queue[0]
	r.anchored = true
	r.playTS = head.ts
	r.lastSeq, r.haveLast = head.seq-1, true
	r.concealRun = 0
	r.waitCount, r.correction = 0, 0
	backlog := int((newest-head.ts)/FrameSamples) + 1
	if extra := backlog - int(r.delay/FrameDuration) - 2; extra > 0 {
		r.correction, r.correctionSince = extra, now
	}
	return true
}

// playSlot plays the frame at playTS and moves the timeline on.
func (r *Receiver) playSlot(now time.Time, pcm []int16) FrameKind {
	if len(r.queue) == 0 {
		// Nothing buffered: the packet is late or lost, or the speaker
		// stopped. Conceal a few frames in case it is a short hiccup,
		// unless the sender was pausing (a DTX packet, or silence that
		// DTX is about to stop sending: concealing silence only counts a
		// loss that is not one).
		if r.concealRun < maxConcealFrames && !r.senderPaused {
			return r.conceal(pcm)
		}
		return r.silence(pcm)
	}
	head := &r.queue[0]
	if head.ts <= r.playTS {
		if r.correction < 0 {
			// Insert a frame before this packet: the buffer ran low.
			r.correction = 0
			r.stats.Stretched++
			if err := r.dec.Conceal(pcm); err == nil {
				return Concealed
			}
		}
		return r.decodeHead(now, pcm)
	}
	// The head packet belongs later. Missing sequence numbers before it
	// are lost packets, taken to fill the frames just before it; any time
	// before those is a pause in sending.
	missing := head.seq - r.lastSeq - 1
	ahead := (head.ts - r.playTS + FrameSamples - 1) / FrameSamples // frames until head
	if ahead > missing {
		if now.Sub(head.arrival) >= r.delay+FrameDuration {
			// The head has waited longer than it should already: the
			// pause was shorter in our clock than in the sender's
			// timestamps (a fast clock, or they jumped). Shorten the pause.
			target := head.ts - missing*FrameSamples
			r.stats.Skipped += uint64((target - r.playTS) / FrameSamples)
			r.playTS = target
			return r.playSlot(now, pcm)
		}
		return r.silence(pcm)
	}
	// This frame's packet is lost.
	r.stats.Lost++
	r.lastSeq = head.seq - ahead
	if ahead == 1 {
		if err := r.dec.DecodeFEC(head.payload, pcm); err == nil {
			r.stats.Recovered++
			r.playTS += FrameSamples
			r.concealRun = 0
			return Recovered
		}
	}
	if r.concealRun < maxConcealFrames {
		return r.conceal(pcm)
	}
	return r.silence(pcm)
}

// silence plays nothing for one frame. A pending correction is made here
// first, where nobody can hear it: the timeline moves by up to three
// frames, or by none.
func (r *Receiver) silence(pcm []int16) FrameKind {
	step := 1
	switch {
	case r.correction > 0:
		n := min(r.correction, maxSkipsPerPull)
		step += n
		r.correction -= n
		r.stats.Skipped += uint64(n)
	case r.correction < 0:
		step = 0
		r.correction = 0
		r.stats.Stretched++
	}
	r.playTS += int64(step) * FrameSamples
	clear(pcm)
	return Silent
}

func (r *Receiver) conceal(pcm []int16) FrameKind {
	r.playTS += FrameSamples
	r.concealRun++
	if err := r.dec.Conceal(pcm); err != nil {
		clear(pcm)
		return Silent
	}
	r.stats.Concealed++
	return Concealed
}

// decodeHead plays the packet at the head of the queue. While frames are
// to be dropped, a quiet frame is dropped and the next one played in its
// place; every packet still goes through the decoder, so what follows a
// dropped frame joins smoothly.
func (r *Receiver) decodeHead(now time.Time, pcm []int16) FrameKind {
	kind := r.decodeNext(now, pcm)
	for skips := 0; r.correction > 0 && skips < maxSkipsPerPull && r.nextFollows(); skips++ {
		quiet := kind == Silent || frameLevel(pcm) < quietLevel
		overdue := now.Sub(r.correctionSince) >= forceCorrectionAfter
		if !quiet && !overdue {
			break
		}
		if !quiet {
			r.correctionSince = now // one frame of speech dropped per second at most
		}
		r.correction--
		r.stats.Skipped++
		kind = r.decodeNext(now, pcm)
	}
	if kind == Decoded {
		r.stats.Decoded++
	}
	return kind
}

// nextFollows says whether the next buffered packet is the one right after
// the last played.
func (r *Receiver) nextFollows() bool {
	return len(r.queue) > 0 && r.queue[0].seq == r.lastSeq+1 && r.queue[0].ts == r.playTS
}

// decodeNext decodes the head packet into pcm and moves the timeline past
// it.
func (r *Receiver) decodeNext(now time.Time, pcm []int16) FrameKind {
	head := r.queue[0]
	r.queue = r.queue[1:]
	r.lastSeq = head.seq
	r.playTS = max(r.playTS, head.ts) + FrameSamples
	r.watchDrift(now, now.Sub(head.arrival))
	if err := r.dec.Decode(head.payload, pcm); err != nil {
		r.stats.Invalid++
		if r.concealRun < maxConcealFrames {
			r.playTS -= FrameSamples // conceal advances it again
			return r.conceal(pcm)
		}
		clear(pcm)
		return Silent
	}
	r.concealRun = 0
	dtx := len(head.payload) <= dtxMaxBytes
	r.senderPaused = dtx || frameLevel(pcm) < ActivityFloor
	if dtx {
		return Silent
	}
	return Decoded
}

// watchDrift tracks how long played packets waited. If all of the last
// driftWindow waited more than a frame beyond Delay, the buffer holds
// frames it does not need (the sender's clock is fast, or a backlog after
// a stall) and that many are to be dropped; if all waited less than Delay
// minus a frame, it is running dry (the sender's clock is slow) and a
// frame is to be inserted.
func (r *Receiver) watchDrift(now time.Time, wait time.Duration) {
	if r.waitCount == 0 {
		r.minWait, r.maxWait = wait, wait
	}
	r.minWait = min(r.minWait, wait)
	r.maxWait = max(r.maxWait, wait)
	r.waitCount++
	if r.waitCount < driftWindow {
		return
	}
	r.waitCount = 0
	switch {
	case r.minWait > r.delay+FrameDuration:
		if r.correction <= 0 {
			r.correctionSince = now
		}
		// The measure includes frames already waiting to be dropped.
		r.correction = int((r.minWait - r.delay) / FrameDuration)
	case r.maxWait < r.delay-FrameDuration:
		r.correction = -1
	}
}

// frameLevel is the RMS of a frame as a fraction of full scale.
func frameLevel(pcm []int16) float64 {
	var energy float64
	for _, v := range pcm {
		energy += float64(v) * float64(v)
	}
	return math.Sqrt(energy/float64(max(1, len(pcm)))) / 32768
}
