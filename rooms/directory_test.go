package rooms

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/lateness"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testTTL = time.Minute

func newDirectory(t *testing.T, cfg DirectoryConfig) (*Directory, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: t0}
	cfg.Network, cfg.TTL, cfg.Now = testNetwork, testTTL, clk.now
	d, err := NewDirectory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d, clk
}

// newRoom is a live room of the given type hosted by host, with M as
// moderator.
func (c *cast) newRoom(t *testing.T, host string, typ RoomType) State {
	t.Helper()
	s, err := NewState(RoomConfig{Network: testNetwork, Host: c.id(host), Title: host + "'s room", Type: typ, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if host != "M" {
		s.Speakers = append(s.Speakers, Speaker{Peer: c.id("M")})
		s.Moderators = append(s.Moderators, c.id("M"))
	}
	return s
}

func (c *cast) announce(t *testing.T, s State, seq uint64, now time.Time, edit func(*Announcement)) *SignedAnnouncement {
	t.Helper()
	a := AnnouncementOf(&s, seq, now.Add(testTTL))
	if edit != nil {
		edit(&a)
	}
	signed, err := SignAnnouncement(c.keys[hostName(c, a.Host)], a)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func hostName(c *cast, id peer.ID) string {
	for n, p := range c.ids {
		if p == id {
			return n
		}
	}
	return ""
}

func ids(list []*SignedAnnouncement) []RoomID {
	var out []RoomID
	for _, a := range list {
		out = append(out, a.Room)
	}
	return out
}

func TestDirectoryReplayAndUpdate(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{})
	s := c.newRoom(t, "H", TypeOpen)
	viewer := StaticViewer{Peer: c.id("O")}
	if err := d.Put(c.announce(t, s, 10, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "hallway", ids(d.List(viewer)), []RoomID{s.Room})
	wantErr(t, d.Put(c.announce(t, s, 10, clk.now(), nil)), ErrStaleVersion)
	wantErr(t, d.Put(c.announce(t, s, 9, clk.now(), nil)), ErrStaleVersion)
	busier := c.announce(t, s, 11, clk.now(), func(a *Announcement) { a.Listeners = 42 })
	if err := d.Put(busier); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.Get(s.Room); !ok || got.Listeners != 42 {
		t.Fatalf("get: %v %v", got, ok)
	}
	// Other networks, expired and far-future announcements are refused.
	wantErr(t, d.Put(c.announce(t, s, 12, clk.now(), func(a *Announcement) { a.Network = "net-other" })), ErrWrongNetwork)
	wantErr(t, d.Put(c.announce(t, s, 12, clk.now(), func(a *Announcement) { a.Expires = t0 })), ErrExpired)
	wantErr(t, d.Put(c.announce(t, s, 12, clk.now(), func(a *Announcement) { a.Expires = t0.Add(3 * testTTL) })), ErrMalformed)
}

func TestDirectoryEndedRoom(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{})
	s := c.newRoom(t, "H", TypeOpen)
	live := c.announce(t, s, 1, clk.now(), nil)
	if err := d.Put(live); err != nil {
		t.Fatal(err)
	}
	s.Status = StatusEnded
	// The end is announced with a short expiry; its tombstone must still
	// outlive the live announcements before it.
	if err := d.Put(c.announce(t, s, 2, clk.now(), func(a *Announcement) { a.Expires = t0.Add(10 * time.Second) })); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Get(s.Room); ok || len(d.List(StaticViewer{Peer: c.id("O")})) != 0 {
		t.Fatal("an ended room is still listed")
	}
	// Replaying the old live announcement, or a newer one, cannot revive it.
	wantErr(t, d.Put(live), ErrRoomEnded)
	s.Status = StatusLive
	wantErr(t, d.Put(c.announce(t, s, 3, clk.now(), nil)), ErrRoomEnded)
	clk.advance(30 * time.Second)
	wantErr(t, d.Put(live), ErrRoomEnded)
	if gone := d.Expire(clk.now().Add(2 * testTTL)); len(gone) != 0 {
		t.Fatalf("expiring a tombstone reported rooms leaving: %v", gone)
	}
}

func TestDirectoryExpiry(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{})
	long := c.newRoom(t, "H", TypeOpen)
	short := c.newRoom(t, "X", TypeOpen)
	if err := d.Put(c.announce(t, long, 1, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(c.announce(t, short, 1, clk.now(), func(a *Announcement) { a.Expires = t0.Add(10 * time.Second) })); err != nil {
		t.Fatal(err)
	}
	v := StaticViewer{Peer: c.id("O")}
	clk.advance(10 * time.Second)
	// Listing hides expired rooms even before Expire runs.
	mustEqual(t, "hallway at 10s", ids(d.List(v)), []RoomID{long.Room})
	mustEqual(t, "expired at 10s", d.Expire(clk.now()), []RoomID{short.Room})
	clk.advance(testTTL)
	if len(d.List(v)) != 0 {
		t.Fatal("a silent room outlived the TTL")
	}
	mustEqual(t, "expired after the TTL", d.Expire(clk.now()), []RoomID{long.Room})
	// Once forgotten, a fresh announcement lists the room again.
	if err := d.Put(c.announce(t, long, 2, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryRateLimit(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{Rate: 1, Burst: 3})
	s := c.newRoom(t, "H", TypeOpen)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := d.Put(c.announce(t, s, seq, clk.now(), nil)); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, d.Put(c.announce(t, s, 4, clk.now(), nil)), ErrRateLimited)
	// Another room has its own bucket, even from the same host.
	if err := d.Put(c.announce(t, c.newRoom(t, "X", TypeOpen), 1, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(c.announce(t, c.newRoom(t, "H", TypeOpen), 1, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	// Replays spend no tokens: after a second, H's next one gets in.
	clk.advance(time.Second)
	old := c.announce(t, s, 2, clk.now(), nil)
	for range 10 {
		wantErr(t, d.Put(old), ErrStaleVersion)
	}
	if err := d.Put(c.announce(t, s, 5, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryTakeover(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{})
	s := c.newRoom(t, "H", TypeOpen)
	if err := d.Put(c.announce(t, s, 1, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	// X, not a moderator, claims the room (say, to announce it ended).
	claim := s.Clone()
	claim.Host, claim.Moderators, claim.Speakers = c.id("X"), []peer.ID{c.id("X")}, []Speaker{{Peer: c.id("X")}}
	claim.Status = StatusEnded
	wantErr(t, d.Put(c.announce(t, claim, 2, clk.now(), nil)), ErrNotAllowed)
	// M, a moderator, takes over.
	taken, err := Takeover(s, c.id("M"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(c.announce(t, taken, 2, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Get(s.Room); got.Host != c.id("M") {
		t.Fatalf("host after takeover: %s", got.Host)
	}
	// The old host, back (it is a moderator now), announces its own,
	// older history: the hallway keeps the takeover.
	back := s.Clone()
	back.Moderators = taken.Moderators
	wantErr(t, d.Put(c.announce(t, back, 3, clk.now(), nil)), ErrStaleVersion)
	wantErr(t, d.Put(c.announce(t, taken, 3, clk.now(), func(a *Announcement) { a.Creator = c.id("M") })), ErrNotAllowed)
}

func TestDirectoryVisibility(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{})
	open, social, closed := c.newRoom(t, "H", TypeOpen), c.newRoom(t, "H", TypeSocial), c.newRoom(t, "H", TypeClosed)
	blocked := c.newRoom(t, "X", TypeOpen)
	later, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("N"), Title: "later", Type: TypeOpen, Start: t0.Add(time.Hour), Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []State{open, social, closed, blocked, later} {
		if err := d.Put(c.announce(t, s, 1, clk.now(), func(a *Announcement) { a.Listeners = uint32(10 - i) })); err != nil {
			t.Fatal(err)
		}
	}
	ticket := func(issuer, holder string, exp time.Duration) *SignedTicket {
		tk, err := IssueTicket(c.keys[issuer], closed.Room, c.id(holder), t0.Add(exp), t0)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	tickets := func(tk *SignedTicket) map[RoomID]*SignedTicket { return map[RoomID]*SignedTicket{closed.Room: tk} }
	for _, tc := range []struct {
		name string
		v    StaticViewer
		want []RoomID
	}{
		{"stranger", StaticViewer{Peer: c.id("O")}, []RoomID{open.Room, blocked.Room, later.Room}},
		{"followed", StaticViewer{Peer: c.id("O"), Followers: map[peer.ID]bool{c.id("H"): true}},
			[]RoomID{open.Room, social.Room, blocked.Room, later.Room}},
		{"followed by someone else", StaticViewer{Peer: c.id("O"), Followers: map[peer.ID]bool{c.id("X"): true}},
			[]RoomID{open.Room, blocked.Room, later.Room}},
		{"ticket holder", StaticViewer{Peer: c.id("O"), Tickets: tickets(ticket("H", "O", time.Hour))},
			[]RoomID{open.Room, closed.Room, blocked.Room, later.Room}},
		{"someone else's ticket", StaticViewer{Peer: c.id("O"), Tickets: tickets(ticket("H", "L", time.Hour))},
			[]RoomID{open.Room, blocked.Room, later.Room}},
		{"self-made ticket", StaticViewer{Peer: c.id("O"), Tickets: tickets(ticket("O", "O", time.Hour))},
			[]RoomID{open.Room, blocked.Room, later.Room}},
		{"blocks X", StaticViewer{Peer: c.id("O"), Blocked: map[peer.ID]bool{c.id("X"): true}},
			[]RoomID{open.Room, later.Room}},
		{"moderator of all H's rooms", StaticViewer{Peer: c.id("M")},
			[]RoomID{open.Room, social.Room, closed.Room, blocked.Room, later.Room}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustEqual(t, "hallway", ids(d.List(tc.v)), tc.want)
		})
	}
	// A ticket that expires takes the closed room out of the holder's view.
	clk.advance(30 * time.Second)
	v := StaticViewer{Peer: c.id("O"), Tickets: tickets(ticket("H", "O", 20*time.Second))}
	mustEqual(t, "expired ticket", ids(d.List(v)), []RoomID{open.Room, blocked.Room, later.Room})
}

func TestDirectoryFull(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{MaxRooms: 2})
	for i := range 2 {
		if err := d.Put(c.announce(t, c.newRoom(t, "H", TypeOpen), uint64(i+1), clk.now(), nil)); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, d.Put(c.announce(t, c.newRoom(t, "H", TypeOpen), 3, clk.now(), nil)), ErrDirectoryFull)
	clk.advance(testTTL)
	if err := d.Put(c.announce(t, c.newRoom(t, "H", TypeOpen), 4, clk.now(), nil)); err != nil {
		t.Fatalf("full of expired rooms: %v", err)
	}
}

func TestDirectoryConcurrent(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{Rate: 1000, Burst: 1000})
	var anns []*SignedAnnouncement
	for _, host := range []string{"H", "M", "N", "S"} {
		s := c.newRoom(t, host, TypeOpen)
		for seq := uint64(1); seq <= 20; seq++ {
			anns = append(anns, c.announce(t, s, seq, clk.now(), nil))
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(anns); i += 4 {
				_ = d.Put(anns[i])
				d.List(StaticViewer{Peer: c.id("O")})
				d.Expire(clk.now())
			}
		})
	}
	wg.Wait()
	if n := len(d.List(StaticViewer{Peer: c.id("O")})); n != 4 {
		t.Fatalf("%d rooms listed, want 4", n)
	}
}

// TestDirectoryManyRoomsOfOneHost: a host re-announcing 20 rooms every
// interval (and each of them after a change) keeps all of them listed; a
// host cannot list more than MaxRoomsPerHost.
func TestDirectoryManyRoomsOfOneHost(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{MaxRoomsPerHost: 24})
	var rooms []State
	for range 20 {
		rooms = append(rooms, c.newRoom(t, "H", TypeOpen))
	}
	seq := uint64(0)
	for round := range 10 { // ten announce intervals of 500 ms
		for i, s := range rooms {
			seq++
			if err := d.Put(c.announce(t, s, seq, clk.now(), nil)); err != nil {
				t.Fatalf("round %d, room %d: %v", round, i, err)
			}
		}
		clk.advance(500 * time.Millisecond)
	}
	if got := len(d.List(StaticViewer{Peer: c.id("L")})); got != 20 {
		t.Fatalf("%d of 20 rooms listed", got)
	}
	for range 4 {
		seq++
		if err := d.Put(c.announce(t, c.newRoom(t, "H", TypeOpen), seq, clk.now(), nil)); err != nil {
			t.Fatal(err)
		}
	}
	seq++
	wantErr(t, d.Put(c.announce(t, c.newRoom(t, "H", TypeOpen), seq, clk.now(), nil)), ErrDirectoryFull)
}

// A starved node reads the host's next announcement late although it was
// sent in time, and its own expiry tick wakes late too: allowing twice
// its own lateness (Grace), the room is still listed when the tick runs
// and the late announcement refreshes it. Without the allowance the room
// left the hallway ("the hallway lost room (22 of 24 listed)").
func TestDirectoryGraceKeepsRoomHeardLate(t *testing.T) {
	c := newCast(t)
	var late lateness.Meter
	d, clk := newDirectory(t, DirectoryConfig{Grace: func() time.Duration { return 2 * late.Recent() }})
	s := c.newRoom(t, "H", TypeOpen)
	viewer := StaticViewer{Peer: c.id("O")}
	if err := d.Put(c.announce(t, s, 1, clk.now(), nil)); err != nil {
		t.Fatal(err)
	}
	next := c.announce(t, s, 2, clk.now().Add(testTTL/3), nil) // sent in time
	// The watcher was starved for 3 s: its tick fires 3 s late, past the
	// TTL, before it reads the announcement waiting for it.
	late.Record(3 * time.Second)
	clk.advance(testTTL + 2*time.Second)
	if gone := d.Expire(clk.now()); len(gone) != 0 {
		t.Fatalf("a room whose announcement came late by the watcher's own lateness expired: %v", gone)
	}
	mustEqual(t, "hallway", ids(d.List(viewer)), []RoomID{s.Room})
	if err := d.Put(next); err != nil {
		t.Fatal(err)
	}
	// Once the watcher wakes on time again, a room that truly went silent
	// still goes.
	for range 64 {
		late.Record(0)
	}
	clk.advance(testTTL + time.Second)
	if gone := d.Expire(clk.now()); !slices.Equal(gone, []RoomID{s.Room}) {
		t.Fatalf("a silent room stayed: expired %v", gone)
	}
}
