package rooms

import (
	"fmt"
	"sync"
	"time"
)

// ReplayConfig configures a ReplayGuard; zero fields take the defaults.
type ReplayConfig struct {
	// Window is how far a request's time may be from the host's clock,
	// either way. Requests older than that are refused, so the guard only
	// remembers nonces for twice the window. Default 2 minutes.
	Window time.Duration
	// MaxEntries bounds the memory of nonces. When it is full of requests
	// still inside the window the guard refuses new ones (ErrRateLimited)
	// rather than forget one that could then be replayed. Default 65536.
	MaxEntries int
}

// ReplayGuard is the host's memory of requests it has seen. It is safe for
// concurrent use. A host checks every parsed request with it before Apply:
// Apply itself is pure and cannot tell a request from its replay.
type ReplayGuard struct {
	window time.Duration
	max    int

	mu   sync.Mutex
	seen map[string]time.Time
}

// NewReplayGuard makes a guard.
func NewReplayGuard(c ReplayConfig) (*ReplayGuard, error) {
	if c.Window < 0 || c.MaxEntries < 0 {
		return nil, fmt.Errorf("replay guard: negative window %s or size %d", c.Window, c.MaxEntries)
	}
	if c.Window == 0 {
		c.Window = 2 * time.Minute
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 1 << 16
	}
	return &ReplayGuard{window: c.Window, max: c.MaxEntries, seen: make(map[string]time.Time)}, nil
}

// Check refuses r if its time is outside the window around now or if it was
// seen before, and remembers it otherwise.
func (g *ReplayGuard) Check(r *Request, now time.Time) error {
	if d := now.Sub(r.Time); d > g.window || d < -g.window {
		return fmt.Errorf("room request: %w: sent at %s, %s away from this node's clock (window %s; clock wrong?)",
			ErrReplay, r.Time.Format(time.RFC3339), d.Round(time.Second), g.window)
	}
	key := string(r.Room) + "\x00" + string(r.From) + "\x00" + string(r.Nonce)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen[key]; ok {
		return fmt.Errorf("room request: %w: %s from %s was already handled", ErrReplay, r.Kind, r.From)
	}
	if len(g.seen) >= g.max {
		// Forget what can no longer pass the time check anyway.
		for k, t := range g.seen {
			if now.Sub(t) > g.window {
				delete(g.seen, k)
			}
		}
		if len(g.seen) >= g.max {
			return fmt.Errorf("room request: %w: %d requests inside the replay window", ErrRateLimited, len(g.seen))
		}
	}
	g.seen[key] = r.Time
	return nil
}
