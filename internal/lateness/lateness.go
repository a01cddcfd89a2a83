// Package lateness measures how late a loop's own timer fires. A node on
// a starved machine wakes late, and so reads late what others sent in
// time: a watcher that judges others by how long it has not heard from
// them must first allow for its own lateness, or it takes a live peer for
// dead (audio/rtc's stall watcher, roomnet's hallway expiry and host
// liveness).
package lateness

import (
	"sync"
	"time"
)

// Meter records how late its owner wakes. The owner calls Expect with
// when its timer (or ticker) should fire next and Woke when it fires;
// anyone may read Recent. The zero Meter is ready to use and safe for
// concurrent use.
type Meter struct {
	mu  sync.Mutex
	due time.Time
	lag time.Duration
}

// Expect says the owner's next wake is due at due.
func (m *Meter) Expect(due time.Time) {
	m.mu.Lock()
	m.due = due
	m.mu.Unlock()
}

// Woke records a wake at now (how much after the expected time; early
// counts as on time) and returns Recent.
func (m *Meter) Woke(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var late time.Duration
	if !m.due.IsZero() {
		late = max(now.Sub(m.due), 0)
	}
	m.due = time.Time{}
	m.recordLocked(late)
	return m.lag
}

// Record counts one wake late by late, as Woke does; tests use it to
// inject a starved owner.
func (m *Meter) Record(late time.Duration) {
	m.mu.Lock()
	m.recordLocked(late)
	m.mu.Unlock()
}

// recordLocked keeps the worst recent lateness, forgetting an eighth of
// it per wake: one late wake is remembered for a dozen or so, so a
// machine starved in bursts is still allowed for between them.
func (m *Meter) recordLocked(late time.Duration) {
	m.lag = max(late, m.lag*7/8)
}

// Recent is the owner's recent lateness: the worst wake, decaying.
func (m *Meter) Recent() time.Duration {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lag
}
