package rooms

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func followKeys(tb testing.TB, c *cast, who string) *FollowKeys {
	tb.Helper()
	k, err := NewFollowKeys(c.keys[who])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// A social room's announcement lists the members its host follows so that
// each of them, and nobody else, can tell.
func TestFollowTags(t *testing.T) {
	c := newCast(t)
	s := c.newRoom(t, "H", TypeSocial)
	host := followKeys(t, c, "H")
	a := AnnouncementOf(&s, 1, t0.Add(time.Minute))
	a.Followed = host.Tags(s.Room, []peer.ID{c.id("L"), c.id("U")})
	if len(a.Followed) != 2*FollowTagSize {
		t.Fatalf("%d bytes of tags for two follows", len(a.Followed))
	}
	signed, err := SignAnnouncement(c.keys["H"], a)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseAnnouncement(signed.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for who, want := range map[string]bool{"L": true, "U": true, "O": false, "M": false} {
		if got := followKeys(t, c, who).Listed(&parsed.Announcement); got != want {
			t.Errorf("%s listed: %v, want %v", who, got, want)
		}
	}
	// Tags differ from room to room, so rooms cannot be linked by them.
	other := c.newRoom(t, "H", TypeSocial)
	if bytes.Equal(host.Tags(other.Room, []peer.ID{c.id("L")}), a.Followed[:FollowTagSize]) {
		t.Fatal("the same tag in two rooms")
	}
	// The tags are the host's: the same bytes under another host list nobody.
	moved := parsed.Announcement
	moved.Host = c.id("M")
	if followKeys(t, c, "L").Listed(&moved) {
		t.Fatal("H's tag for L counts in a room hosted by M")
	}
	// At most MaxFollowTags tags.
	many := make([]peer.ID, MaxFollowTags+5)
	for i := range many {
		_, many[i] = newKey(t)
	}
	if n := len(host.Tags(s.Room, many)); n != MaxFollowTags*FollowTagSize {
		t.Fatalf("%d bytes of tags for %d follows", n, len(many))
	}
}

// The directory shows a social room to the members its announcement lists.
func TestDirectorySocialRoomByTags(t *testing.T) {
	c := newCast(t)
	d, clk := newDirectory(t, DirectoryConfig{})
	s := c.newRoom(t, "H", TypeSocial)
	tags := followKeys(t, c, "H").Tags(s.Room, []peer.ID{c.id("L")})
	if err := d.Put(c.announce(t, s, 1, clk.now(), func(a *Announcement) { a.Followed = tags })); err != nil {
		t.Fatal(err)
	}
	followed := StaticViewer{Peer: c.id("L"), Keys: followKeys(t, c, "L")}
	stranger := StaticViewer{Peer: c.id("O"), Keys: followKeys(t, c, "O")}
	mustEqual(t, "followed member's hallway", ids(d.List(followed)), []RoomID{s.Room})
	mustEqual(t, "stranger's hallway", ids(d.List(stranger)), []RoomID(nil))
}

func TestFollowKeysRefuseOtherKeys(t *testing.T) {
	if _, err := NewFollowKeys(nil); err == nil {
		t.Fatal("follow keys without a key")
	}
	c := newCast(t)
	// A peer ID that embeds no key (an identity-hash of nothing useful).
	bogus := peer.ID("not a peer id")
	if _, err := followKeys(t, c, "H").tag(bogus, c.id("H"), c.newRoom(t, "H", TypeSocial).Room); err == nil {
		t.Fatal("a tag with a peer ID that carries no key")
	}
}

// BenchmarkFollowTags is a host computing the tags of 1000 follows for a
// new room: first with no pairwise secret cached (one X25519 each), then
// with all cached, as in every re-announcement.
func BenchmarkFollowTags(b *testing.B) {
	c := newCast(b)
	s, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "t", Type: TypeSocial, Now: t0})
	if err != nil {
		b.Fatal(err)
	}
	follows := make([]peer.ID, MaxFollowTags)
	for i := range follows {
		_, follows[i] = newKey(b)
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			followKeys(b, c, "H").Tags(s.Room, follows)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/MaxFollowTags, "µs/tag")
	})
	b.Run("cached", func(b *testing.B) {
		k := followKeys(b, c, "H")
		k.Tags(s.Room, follows)
		for b.Loop() {
			k.Tags(s.Room, follows)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/MaxFollowTags, "µs/tag")
	})
}
