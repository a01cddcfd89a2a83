package rooms

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestAnnouncementRoundTrip(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	a := AnnouncementOf(&s, 7, t0.Add(time.Minute))
	if a.Listeners != 3 || len(a.Speakers) != 5 || a.Host != c.id("H") || a.Creator != c.id("H") {
		t.Fatalf("announcement of the room: %+v", a)
	}
	signed, err := SignAnnouncement(c.keys["H"], a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAnnouncement(signed.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "announcement", got.Announcement, signed.Announcement)

	_, err = SignAnnouncement(c.keys["M"], a)
	wantErr(t, err, ErrNotAllowed)
	payload, _ := a.MarshalRecord()
	noHost := a
	noHost.Moderators = []peer.ID{c.id("M")}
	noHostPayload, _ := noHost.MarshalRecord()
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"signed by a moderator", forge(t, c.keys["M"], &a, payload), ErrBadSignature},
		{"host not a moderator", forge(t, c.keys["H"], &a, noHostPayload), ErrMalformed},
		{"oversize", append(bytes.Clone(signed.Bytes), make([]byte, MaxAnnouncementSize)...), ErrTooLarge},
		{"a state", c.sign(t, "H", s).Bytes, ErrMalformed},
		{"follow tags in an open room", forge(t, c.keys["H"], &a, withTags(t, a, make([]byte, FollowTagSize))), ErrMalformed},
		{"ragged follow tags", forge(t, c.keys["H"], &a, withTags(t, social(a), make([]byte, FollowTagSize+1))), ErrMalformed},
		{"too many follow tags", forge(t, c.keys["H"], &a, withTags(t, social(a), make([]byte, (MaxFollowTags+1)*FollowTagSize))), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAnnouncement(tc.data)
			wantErr(t, err, tc.want)
		})
	}
}

func TestNextSeq(t *testing.T) {
	ms := uint64(t0.UnixMilli())
	for _, tc := range []struct{ last, want uint64 }{{0, ms}, {ms - 1, ms}, {ms, ms + 1}, {ms + 5, ms + 6}} {
		if got := NextSeq(tc.last, t0); got != tc.want {
			t.Errorf("NextSeq(%d) = %d, want %d", tc.last, got, tc.want)
		}
	}
}

func social(a Announcement) Announcement { a.Type = TypeSocial; return a }

// withTags is a's payload with follow tags, bypassing SignAnnouncement's
// checks.
func withTags(t *testing.T, a Announcement, tags []byte) []byte {
	t.Helper()
	a.Followed = tags
	data, err := a.MarshalRecord()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The largest announcement there can be fits MaxAnnouncementSize: a full
// stage of moderators, the longest title and every follow tag.
func TestLargestAnnouncement(t *testing.T) {
	c := newCast(t)
	s, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: strings.Repeat("𝄞", MaxTitleLength),
		Type: TypeSocial, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	for len(s.Speakers) < MaxStage {
		_, p := newKey(t)
		s.Speakers = append(s.Speakers, Speaker{Peer: p})
		s.Moderators = append(s.Moderators, p)
	}
	a := AnnouncementOf(&s, 1<<62, t0.Add(time.Minute))
	a.Listeners = MaxAudience
	a.Followed = bytes.Repeat([]byte{0xff}, MaxFollowTags*FollowTagSize)
	signed, err := SignAnnouncement(c.keys["H"], a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest announcement: %d bytes of %d", len(signed.Bytes), MaxAnnouncementSize)
}
