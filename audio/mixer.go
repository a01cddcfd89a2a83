package audio

import (
	"math"
	"sync"
	"time"

	"github.com/pion/rtp"
)

const (
	// MaxSpeakers is how many speakers a Mixer mixes; packets from more
	// are ignored. Rooms keep their stages far smaller; the cap bounds
	// what a flood of speaker IDs can cost.
	MaxSpeakers = 64
	// ActivityFloor is the lowest level (RMS, fraction of full scale) that
	// Next reports for a speaker: -60 dBFS, below any voice and above
	// Opus's comfort noise.
	ActivityFloor = 0.001
)

// Mixer receives many speakers' RTP streams, each through its own
// Receiver, and sums them into one frame at a time with saturation. It is
// safe for concurrent use: packets for different speakers may be pushed
// from different goroutines while one clock calls Next.
type Mixer struct {
	cfg ReceiverConfig

	mu       sync.Mutex
	speakers map[string]*Receiver
	ignored  uint64

	// next serializes Next, which owns the buffers below.
	next  sync.Mutex
	ids   []string
	rxs   []*Receiver
	frame []int16
	acc   []int32
}

// NewMixer makes an empty Mixer whose speakers get Receivers configured by
// cfg. A cfg NewReceiver would refuse is replaced by the defaults (the
// signature has no error to report it with).
func NewMixer(cfg ReceiverConfig) *Mixer {
	cfg, err := cfg.withDefaults()
	if err != nil {
		cfg, _ = ReceiverConfig{}.withDefaults()
	}
	return &Mixer{
		cfg:      cfg,
		speakers: make(map[string]*Receiver),
		frame:    make([]int16, FrameSamples),
		acc:      make([]int32, FrameSamples),
	}
}

// Push hands the speaker's Receiver a packet, creating the Receiver on the
// speaker's first packet. Beyond MaxSpeakers, packets of new speakers are
// ignored (and counted in Ignored).
func (m *Mixer) Push(speaker string, pkt *rtp.Packet, arrival time.Time) {
	m.mu.Lock()
	rx, ok := m.speakers[speaker]
	if !ok {
		if len(m.speakers) >= MaxSpeakers {
			m.ignored++
			m.mu.Unlock()
			return
		}
		var err error
		if rx, err = NewReceiver(m.cfg); err != nil {
			m.ignored++
			m.mu.Unlock()
			return
		}
		m.speakers[speaker] = rx
	}
	m.mu.Unlock()
	rx.Push(pkt, arrival)
}

// Delay is the playout delay of the Mixer's Receivers.
func (m *Mixer) Delay() time.Duration { return m.cfg.Delay }

// Remove forgets a speaker and its buffered audio.
func (m *Mixer) Remove(speaker string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.speakers, speaker)
}

// Stats returns the counters of one speaker's Receiver.
func (m *Mixer) Stats(speaker string) (Stats, bool) {
	m.mu.Lock()
	rx, ok := m.speakers[speaker]
	m.mu.Unlock()
	if !ok {
		return Stats{}, false
	}
	return rx.Stats(), true
}

// Ignored counts packets dropped because the Mixer already had
// MaxSpeakers speakers.
func (m *Mixer) Ignored() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ignored
}

// Next mixes the next frame of every speaker into out (FrameSamples long)
// and returns the level of each speaker who made a sound in it: the RMS of
// their frame as a fraction of full scale, for those at or above
// ActivityFloor. Speakers who are silent (idle, in DTX, not started) are
// left out of the map. Call it every 20 ms on the playout clock.
func (m *Mixer) Next(now time.Time, out []int16) map[string]float64 {
	m.next.Lock()
	defer m.next.Unlock()
	m.mu.Lock()
	m.ids, m.rxs = m.ids[:0], m.rxs[:0]
	for id, rx := range m.speakers {
		m.ids = append(m.ids, id)
		m.rxs = append(m.rxs, rx)
	}
	m.mu.Unlock()

	clear(m.acc)
	levels := make(map[string]float64)
	for i, rx := range m.rxs {
		if rx.Pull(now, m.frame) == Silent {
			continue
		}
		for j, v := range m.frame {
			m.acc[j] += int32(v)
		}
		if level := frameLevel(m.frame); level >= ActivityFloor {
			levels[m.ids[i]] = level
		}
	}
	n := min(len(out), FrameSamples)
	for j := range n {
		out[j] = saturate(m.acc[j])
	}
	clear(out[n:])
	return levels
}

// saturate clips a sum to the 16-bit range: loud overlapping speakers
// clip instead of wrapping around into noise.
func saturate(v int32) int16 {
	return int16(min(max(v, math.MinInt16), math.MaxInt16))
}
