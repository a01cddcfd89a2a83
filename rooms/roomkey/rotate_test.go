package roomkey

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/rooms"
)

// closedRoom is a live closed room: host H on stage with speaker S, and
// listeners L and M.
func closedRoom(t *testing.T) (rooms.State, map[string]peer.ID) {
	ids := map[string]peer.ID{}
	for _, n := range []string{"H", "S", "L", "M", "J"} {
		ids[n] = newMember(t).id
	}
	s := rooms.State{Room: newRoomID(t), Network: "net", Title: "t", Type: rooms.TypeClosed, Status: rooms.StatusLive,
		Creator: ids["H"], Host: ids["H"], Version: 1, Updated: t0,
		Moderators: []peer.ID{ids["H"]}, Speakers: []rooms.Speaker{{Peer: ids["H"]}, {Peer: ids["S"]}},
		Audience: []peer.ID{ids["L"], ids["M"]}}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s, ids
}

func TestRotate(t *testing.T) {
	base, id := closedRoom(t)
	edit := func(f func(s *rooms.State)) *rooms.State {
		s := base.Clone()
		s.Version++
		f(&s)
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	for _, c := range []struct {
		name string
		old  *rooms.State
		next *rooms.State
		want Rotation
	}{
		{"first state", nil, &base, Rotation{Rotate: true, Start: true}},
		{"goes live", edit(func(s *rooms.State) { s.Status = rooms.StatusScheduled }), &base, Rotation{Rotate: true, Start: true}},
		{"nothing changed", &base, edit(func(s *rooms.State) {}), Rotation{}},
		{"someone joins", &base, edit(func(s *rooms.State) { s.Audience = append(s.Audience, id["J"]) }), Rotation{}},
		{"a listener goes on stage", &base, edit(func(s *rooms.State) {
			s.Audience = []peer.ID{id["M"]}
			s.Speakers = append(s.Speakers, rooms.Speaker{Peer: id["L"]})
		}), Rotation{}},
		{"a listener leaves", &base, edit(func(s *rooms.State) { s.Audience = []peer.ID{id["L"]} }),
			Rotation{Rotate: true, Left: []peer.ID{id["M"]}}},
		{"a speaker is banned", &base, edit(func(s *rooms.State) {
			s.Speakers = s.Speakers[:1]
			s.Banned = []peer.ID{id["S"]}
		}), Rotation{Rotate: true, Left: []peer.ID{id["S"]}}},
		{"the host changes", &base, edit(func(s *rooms.State) {
			s.Moderators = []peer.ID{id["S"]}
			s.Speakers = s.Speakers[1:]
			s.Host = id["S"]
		}), Rotation{Rotate: true, HostChanged: true, Left: []peer.ID{id["H"]}}},
		{"the room ends", &base, edit(func(s *rooms.State) { s.Status = rooms.StatusEnded; s.Audience = nil }), Rotation{}},
		{"an open room", nil, edit(func(s *rooms.State) { s.Type = rooms.TypeOpen }), Rotation{}},
		{"a social room loses a listener", edit(func(s *rooms.State) { s.Type = rooms.TypeSocial }),
			edit(func(s *rooms.State) { s.Type = rooms.TypeSocial; s.Audience = nil }), Rotation{}},
	} {
		got, err := Rotate(c.old, c.next)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Rotate != c.want.Rotate || got.Start != c.want.Start || got.HostChanged != c.want.HostChanged ||
			!slices.Equal(got.Left, c.want.Left) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	other, _ := closedRoom(t)
	if _, err := Rotate(&base, &other); err == nil {
		t.Error("two different rooms")
	}
	if got := Recipients(&base); !slices.Equal(got, []peer.ID{id["S"], id["L"], id["M"]}) {
		t.Errorf("recipients %v", got)
	}
}
