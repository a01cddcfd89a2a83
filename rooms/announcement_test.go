package rooms

import (
	"bytes"
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
