package rtc

import (
	"errors"
	"fmt"
	"time"

	"github.com/clubnode/clubnode/internal/lateness"
)

// ErrStalled ends a link whose parent's RTP stopped and who then did not
// answer a probe in time: a frozen process or a cut network, noticed long
// before heartbeats or ICE would time out.
var ErrStalled = errors.New("parent's RTP stalled and a probe went unanswered")

// ErrBackupHeard ends a link whose parent's RTP stalled while the child's
// warmed standby link had audio (ParentOptions.Lost): whether the parent
// froze or its own way up broke, the backup is the better parent now.
var ErrBackupHeard = errors.New("parent's RTP stalled while a backup had audio")

// Watching the flow. A parent that dies silently is lost when ICE finds
// its path down (2 s) or after Timeout without a heartbeat, so a silent
// death would cost 2 s of audio. RTP comes every 20 ms while anyone
// speaks: when it stops for Stall the child probes its parent on the
// signaling stream, and a parent that does not answer within
// ProbeTimeout is lost. A stall whose probe is answered (the speaker
// paused, or a link above this one broke and is being repaired) costs
// nothing but the probe, and is probed once.
//
// A busy machine answers late, so the wait grows with the answers seen:
// twice the slowest recent answer, from ProbeTimeout up to three times it
// (past that a parent too slow to answer is as good as lost). Only the
// numbered answer counts: a heartbeat sent before the parent froze may be
// read late on a busy machine, long after its last RTP.
//
// A starved child cannot judge its parent either: the answer may sit
// unread behind its own goroutines. The watcher measures how late its own
// timer fires and waits that much longer, twice over, and the process's
// scheduling delay once per hand-off (lateness.Slack), before it gives up.

// watchFlow probes the parent when its RTP stalls and fails the link when
// a probe goes unanswered. It runs until the link ends. It wakes when a
// stall would be due, not on a fixed tick: about once per Stall while
// audio flows. While none does (before the first packet, or through a
// stall already answered) it sleeps until a packet comes (link.mediaCame):
// a stall is only news once audio has come again, and a silent room's
// links are most of a member's wakes.
func (p *parentEnd) watchFlow() {
	stall, wait := p.opts.Stall, p.opts.ProbeTimeout
	if wait <= 0 {
		wait = stall
	}
	step := max(stall/4, 5*time.Millisecond)
	timer := time.NewTimer(step)
	defer timer.Stop()
	var late lateness.Meter // how late this watcher wakes
	late.Expect(time.Now().Add(step))
	reset := func(d time.Duration) {
		timer.Reset(d)
		late.Expect(time.Now().Add(d))
	}
	var (
		slowest  time.Duration // slowest recent answer, decaying
		seq      uint32        // last probe number used
		pending  uint32        // probe in flight, 0 if none
		episode  int64         // lastMedia when the pending probe went out
		cleared  int64         // lastMedia of a stall whose probe was answered
		probedAt time.Time     // when the pending probe went out
	)
	for {
		var selfLag time.Duration
		select {
		case <-p.ctx.Done():
			return
		case <-timer.C:
			selfLag = late.Woke(time.Now())
		case <-p.mediaCame:
			selfLag = late.Recent() // an event, not a timer: nothing to measure
		}
		now := time.Now()
		last := p.lastMedia.Load()
		if last == 0 || last == cleared {
			p.awaitMedia(last) // nothing flowed yet, or this stall was answered
			continue
		}
		if pending != 0 {
			switch {
			case p.answered.Load() == pending:
				cleared, pending = episode, 0
				slowest = max(time.Unix(0, p.answeredAt.Load()).Sub(probedAt), slowest*7/8)
				p.stalled(false)
			case last != episode:
				pending = 0 // flowing again
				p.stalled(false)
			case now.Sub(probedAt) > min(max(wait, 2*slowest), 3*wait)+lateness.Slack(selfLag, 2*wait):
				p.fail(fmt.Errorf("%w: no RTP for %s, no answer for %s", ErrStalled,
					now.Sub(time.Unix(0, last)).Round(time.Millisecond), now.Sub(probedAt).Round(time.Millisecond)))
				return
			}
			reset(step)
			continue
		}
		if due := time.Unix(0, last).Add(stall).Sub(now); due > 0 {
			reset(max(due, time.Millisecond))
			continue
		}
		seq++
		if seq == 0 {
			seq = 1
		}
		pending, episode, probedAt = seq, last, now
		if err := p.send(signalFrame{Kind: kindProbe, Probe: pending}); err != nil {
			p.fail(err)
			return
		}
		p.stalled(true)
		reset(step)
	}
}

func (p *parentEnd) stalled(yes bool) {
	if p.opts.OnStall != nil {
		p.opts.OnStall(yes)
	}
}
