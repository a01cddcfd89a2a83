package rooms

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/clubnode/clubnode/identity"
)

// DirectoryConfig configures a Directory; zero fields take the defaults.
type DirectoryConfig struct {
	// Network is the only network whose rooms the directory keeps.
	Network identity.NetworkID
	// TTL is how long a room stays listed after its last announcement
	// (or less, if the announcement expires sooner). Hosts re-publish well
	// within it. Default 60 s.
	TTL time.Duration
	// Rate and Burst are each room's token bucket: announcements of one
	// room accepted per second, and how many at once. Default 2/s, burst
	// 4: a host re-announces each room once an interval and after each
	// change, so the limit is per room, not per host, or a host with many
	// rooms would see some of them dropped (and taken for dead).
	Rate  rate.Limit
	Burst int
	// MaxRoomsPerHost bounds the rooms one host has listed at once, which
	// with Rate bounds what a host can make others store and check.
	// Default 64.
	MaxRoomsPerHost int
	// MaxRooms bounds memory. Default 10000.
	MaxRooms int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Grace, if set, is how much longer than its TTL a room stays
	// listed, asked at each check: twice the owner's recent timer
	// lateness (internal/lateness). A node starved of CPU reads the
	// hosts' announcements late although they were sent in time, and
	// must not take their rooms for gone.
	Grace func() time.Duration
}

// Directory is the hallway: the rooms a node knows of, from announcements.
// It is safe for concurrent use. Put is what the gossip validator calls; a
// refusal is an error wrapping ErrStaleVersion (replay: ignore), ErrExpired,
// ErrRateLimited, ErrNotAllowed, ErrRoomEnded, ErrWrongNetwork or
// ErrDirectoryFull.
type Directory struct {
	cfg DirectoryConfig

	mu      sync.Mutex
	rooms   map[RoomID]*listing
	limits  map[RoomID]*rate.Limiter
	perHost map[peer.ID]int // rooms listed (not ended) per host
}

// listing is a held announcement and when it stops counting. An ended room
// stays as a tombstone (never listed) so that its older announcements,
// replayed, cannot bring it back.
type listing struct {
	ann   *SignedAnnouncement
	until time.Time
}

// NewDirectory makes an empty directory.
func NewDirectory(c DirectoryConfig) (*Directory, error) {
	if c.Network == "" {
		return nil, fmt.Errorf("directory: no network")
	}
	if c.TTL < 0 || c.Rate < 0 || c.Burst < 0 || c.MaxRooms < 0 || c.MaxRoomsPerHost < 0 {
		return nil, fmt.Errorf("directory: negative TTL, rate, burst or size")
	}
	if c.TTL == 0 {
		c.TTL = time.Minute
	}
	if c.Rate == 0 {
		c.Rate = 2
	}
	if c.Burst == 0 {
		c.Burst = 4
	}
	if c.MaxRoomsPerHost == 0 {
		c.MaxRoomsPerHost = 64
	}
	if c.MaxRooms == 0 {
		c.MaxRooms = 10000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Directory{cfg: c, rooms: make(map[RoomID]*listing), limits: make(map[RoomID]*rate.Limiter),
		perHost: make(map[peer.ID]int)}, nil
}

// Put takes in an announcement from ParseAnnouncement.
//
// Replays are refused before the rate limit is consulted: otherwise anyone
// could replay a host's old announcements to spend its tokens and keep its
// fresh ones out.
func (d *Directory) Put(a *SignedAnnouncement) error {
	now := d.cfg.Now()
	fail := func(err error) error { return fmt.Errorf("room announcement %s (seq %d): %w", a.Room, a.Seq, err) }
	switch {
	case a.Network != d.cfg.Network:
		return fail(fmt.Errorf("%w: it is for %s", ErrWrongNetwork, a.Network))
	case !now.Before(a.Expires):
		return fail(fmt.Errorf("%w at %s", ErrExpired, a.Expires.Format(time.RFC3339)))
	case a.Expires.After(now.Add(2 * d.cfg.TTL)):
		// The bound lets a tombstone outlive every announcement of its room.
		return fail(fmt.Errorf("%w: expires %s, more than %s ahead", ErrMalformed, a.Expires.Format(time.RFC3339), 2*d.cfg.TTL))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	held := d.rooms[a.Room]
	if held != nil && d.expired(held, now) {
		d.forgetLocked(a.Room, held)
		held = nil
	}
	if held != nil {
		h := held.ann
		switch {
		case h.Status == StatusEnded:
			return fail(ErrRoomEnded)
		case a.Seq <= h.Seq && a.Host == h.Host:
			return fail(fmt.Errorf("%w: sequence number %d, already have %d", ErrStaleVersion, a.Seq, h.Seq))
		case a.Creator != h.Creator || a.Type != h.Type:
			return fail(fmt.Errorf("%w: the room's creator or type changed", ErrNotAllowed))
		case a.Host != h.Host && !slices.Contains(h.Moderators, a.Host):
			// The takeover rule of room states, applied to the hallway.
			return fail(fmt.Errorf("%w: %s announces itself host but was not a moderator", ErrNotAllowed, a.Host))
		case a.Host != h.Host && a.Version <= h.Version:
			// Two nodes announce the room: the one whose state has the
			// higher version (a takeover raises it) is its host.
			return fail(fmt.Errorf("%w: %s announces version %d, %s hosts version %d", ErrStaleVersion, a.Host, a.Version, h.Host, h.Version))
		}
	} else {
		if len(d.rooms) >= d.cfg.MaxRooms {
			d.expireLocked(now)
			if len(d.rooms) >= d.cfg.MaxRooms {
				return fail(fmt.Errorf("%w: %d rooms", ErrDirectoryFull, len(d.rooms)))
			}
		}
		if a.Status != StatusEnded && d.perHost[a.Host] >= d.cfg.MaxRoomsPerHost {
			return fail(fmt.Errorf("%w: %s has %d rooms listed, the most a host may", ErrDirectoryFull, a.Host, d.perHost[a.Host]))
		}
	}
	lim := d.limits[a.Room]
	if lim == nil {
		lim = rate.NewLimiter(d.cfg.Rate, d.cfg.Burst)
		d.limits[a.Room] = lim
	}
	if !lim.AllowN(now, 1) {
		return fail(fmt.Errorf("%w: room announced faster than %.2g/s", ErrRateLimited, float64(d.cfg.Rate)))
	}
	until := now.Add(d.cfg.TTL)
	if a.Expires.Before(until) {
		until = a.Expires
	}
	if a.Status == StatusEnded {
		until = now.Add(2 * d.cfg.TTL)
	}
	if held != nil {
		d.forgetLocked(a.Room, held)
	}
	d.rooms[a.Room] = &listing{ann: a, until: until}
	if a.Status != StatusEnded {
		d.perHost[a.Host]++
	}
	return nil
}

// forgetLocked drops a room's listing and its count against its host.
func (d *Directory) forgetLocked(id RoomID, l *listing) {
	delete(d.rooms, id)
	if l.ann.Status != StatusEnded {
		if d.perHost[l.ann.Host]--; d.perHost[l.ann.Host] <= 0 {
			delete(d.perHost, l.ann.Host)
		}
	}
}

// Expire forgets rooms not refreshed in time and ended rooms' tombstones,
// and the rate limits of rooms no longer listed whose bucket is full again. It returns the rooms that left the hallway.
func (d *Directory) Expire(now time.Time) []RoomID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expireLocked(now)
}

// expired says whether listing l is past its time at now, allowing for
// the owner's lateness (DirectoryConfig.Grace).
func (d *Directory) expired(l *listing, now time.Time) bool {
	until := l.until
	if d.cfg.Grace != nil {
		until = until.Add(max(d.cfg.Grace(), 0))
	}
	return !now.Before(until)
}

func (d *Directory) expireLocked(now time.Time) []RoomID {
	var gone []RoomID
	for id, l := range d.rooms {
		if d.expired(l, now) {
			d.forgetLocked(id, l)
			if l.ann.Status != StatusEnded {
				gone = append(gone, id)
			}
		}
	}
	for id, lim := range d.limits {
		if _, listed := d.rooms[id]; !listed && lim.TokensAt(now) >= float64(d.cfg.Burst) {
			delete(d.limits, id)
		}
	}
	slices.Sort(gone)
	return gone
}

// Get returns the room's announcement if it is listed (not ended, not
// expired), whoever asks.
func (d *Directory) Get(room RoomID) (*SignedAnnouncement, bool) {
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.rooms[room]
	if l == nil || l.ann.Status == StatusEnded || d.expired(l, now) {
		return nil, false
	}
	return l.ann, true
}

// Viewer is who looks at the hallway: what its node knows of its follows,
// tickets and blocks.
type Viewer interface {
	ID() peer.ID
	// FollowedIn reports whether a, a social room's announcement, says
	// that its host follows the viewer.
	FollowedIn(a *Announcement) bool
	// Ticket is the viewer's ticket for room, or nil.
	Ticket(room RoomID) *SignedTicket
	// Blocks reports whether the viewer blocked p.
	Blocks(p peer.ID) bool
}

// StaticViewer is a Viewer from fixed sets, for the node and tests.
type StaticViewer struct {
	Peer peer.ID
	// Keys finds Peer's follow tag in social rooms' announcements.
	Keys *FollowKeys
	// Followers are hosts known, by other means, to follow Peer.
	Followers map[peer.ID]bool
	Tickets   map[RoomID]*SignedTicket
	Blocked   map[peer.ID]bool
}

func (v StaticViewer) ID() peer.ID { return v.Peer }
func (v StaticViewer) FollowedIn(a *Announcement) bool {
	return v.Followers[a.Host] || (v.Keys != nil && v.Keys.Listed(a))
}
func (v StaticViewer) Ticket(room RoomID) *SignedTicket { return v.Tickets[room] }
func (v StaticViewer) Blocks(p peer.ID) bool            { return v.Blocked[p] }

// List is the hallway as v sees it: live rooms, busiest first, then
// scheduled rooms, soonest first. Hidden: ended and expired rooms, rooms
// hosted by someone v blocked, social rooms whose announcement does not list
// v's follow tag, closed rooms v holds no valid ticket for. A viewer always sees rooms it
// hosts, created or speaks in.
func (d *Directory) List(v Viewer) []*SignedAnnouncement {
	now := d.cfg.Now()
	d.mu.Lock()
	var out []*SignedAnnouncement
	for _, l := range d.rooms {
		if l.ann.Status != StatusEnded && !d.expired(l, now) && visible(&l.ann.Announcement, v, now) {
			out = append(out, l.ann)
		}
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b *SignedAnnouncement) int {
		// Live (2) before scheduled (1).
		if c := cmp.Compare(b.Status, a.Status); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Listeners, a.Listeners); c != 0 && a.Status == StatusLive {
			return c
		}
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Room, b.Room)
	})
	return out
}

func visible(a *Announcement, v Viewer, now time.Time) bool {
	me := v.ID()
	if v.Blocks(a.Host) {
		return false
	}
	if me == a.Host || me == a.Creator || slices.Contains(a.Speakers, me) {
		return true
	}
	switch a.Type {
	case TypeOpen, TypeSupporters:
		return true
	case TypeSocial:
		return v.FollowedIn(a)
	case TypeClosed:
		t := v.Ticket(a.Room)
		return t != nil && t.Check(a.Room, me, now, a.Host, a.Creator) == nil
	}
	return false
}
