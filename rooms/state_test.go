package rooms

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/internal/wire"
)

func TestSignParseStateRoundTrip(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	s.Hands = []peer.ID{c.id("L")}
	s.Banned = []peer.ID{c.id("X")}
	s.Speakers[1].Muted = true
	s.Updated = t0.Add(1234567 * time.Microsecond) // rounded to ms by SignState
	signed := c.sign(t, "H", s)
	got, err := ParseState(signed.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "parsed state", got.State, signed.State)
	if !got.Updated.Equal(t0.Add(1234 * time.Millisecond)) {
		t.Fatalf("updated %s", got.Updated)
	}
	if !bytes.Equal(got.Bytes, signed.Bytes) {
		t.Fatal("bytes differ")
	}
	// Signing clones: the caller's lists are not shared with the result.
	s.Audience[0] = c.id("O")
	if signed.Audience[0] == c.id("O") {
		t.Fatal("SignState shares the caller's slices")
	}
}

func TestParseStateRejects(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	good := c.sign(t, "H", s).Bytes
	payload, err := (&s).MarshalRecord()
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(good)
	i := bytes.Index(tampered, []byte("Late-night"))
	tampered[i] = 'l'
	ticket, err := IssueTicket(c.keys["H"], s.Room, c.id("L"), t0.Add(time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	hostless := s.Clone()
	hostless.Moderators = []peer.ID{c.id("M")}
	badPayload, _ := hostless.MarshalRecord()
	w := map[int]any{0: 2, 1: []byte("from the future")}
	future, _ := wire.Marshal(w)
	unknownField := bytes.Clone(payload)
	unknownField[0]++ // one more map pair than fields
	unknownField = append(unknownField, 0x18, 99, 0x01)

	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-10], ErrMalformed},
		{"tampered", tampered, ErrBadSignature},
		{"oversize", append(bytes.Clone(good), make([]byte, MaxStateSize)...), ErrTooLarge},
		{"a ticket", ticket.Bytes, ErrMalformed},
		{"signed by a moderator", forge(t, c.keys["M"], &s, payload), ErrBadSignature},
		{"host not a moderator", forge(t, c.keys["H"], &s, badPayload), ErrMalformed},
		{"version 2", forge(t, c.keys["H"], &s, future), ErrBadVersion},
		{"unknown field", forge(t, c.keys["H"], &s, unknownField), ErrMalformed},
		{"garbage payload", forge(t, c.keys["H"], &s, []byte{0xff, 0x00}), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseState(tc.data)
			if got != nil {
				t.Fatal("returned a state")
			}
			wantErr(t, err, tc.want)
		})
	}
}

func TestSignStateRefuses(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	_, err := SignState(c.keys["M"], s)
	wantErr(t, err, ErrNotAllowed)
	for name, mutate := range map[string]func(*State){
		"twice in the room":     func(s *State) { s.Audience = append(s.Audience, c.id("S")) },
		"moderator in audience": func(s *State) { s.Moderators = append(s.Moderators, c.id("L")) },
		"hand on stage":         func(s *State) { s.Hands = []peer.ID{c.id("S")} },
		"invited outsider":      func(s *State) { s.Invited = append(s.Invited, c.id("O")) },
		"banned in room":        func(s *State) { s.Banned = []peer.ID{c.id("L")} },
		"empty title":           func(s *State) { s.Title = "  " },
		"title with newline":    func(s *State) { s.Title = "a\nb" },
		"long title":            func(s *State) { s.Title = strings.Repeat("é", MaxTitleLength+1) },
		"version 0":             func(s *State) { s.Version = 0 },
		"bad type":              func(s *State) { s.Type = 9 },
		"bad room id":           func(s *State) { s.Room = "room-x" },
	} {
		t.Run(name, func(t *testing.T) {
			bad := s.Clone()
			mutate(&bad)
			if _, err := SignState(c.keys["H"], bad); err == nil {
				t.Fatal("signed an invalid state")
			}
		})
	}
}

// A room at every list limit still signs and parses within MaxStateSize.
func TestLargestState(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	ids := make([]peer.ID, 0, MaxAudience+MaxBanned+MaxStage)
	for range cap(ids) {
		_, id := newKey(t)
		ids = append(ids, id)
	}
	s.Speakers = s.Speakers[:1]
	s.Moderators = s.Moderators[:1]
	for _, p := range ids[:MaxStage-1] {
		s.Speakers = append(s.Speakers, Speaker{Peer: p, Muted: true})
		s.Moderators = append(s.Moderators, p)
	}
	s.Audience = ids[MaxStage-1 : MaxStage-1+MaxAudience]
	s.Hands = s.Audience[:MaxHands]
	s.Invited = s.Audience[MaxHands : MaxHands+MaxInvited]
	s.Banned = ids[MaxStage-1+MaxAudience:][:MaxBanned]
	s.Title = strings.Repeat("é", MaxTitleLength)
	signed := c.sign(t, "H", s)
	t.Logf("largest state: %d bytes of %d", len(signed.Bytes), MaxStateSize)
	got, err := ParseState(signed.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "largest state", got.State, signed.State)
	over := s.Clone()
	over.Audience = append(over.Audience, c.id("O"))
	if _, err := SignState(c.keys["H"], over); err == nil {
		t.Fatal("signed an audience over the limit")
	}
}

func TestRoomID(t *testing.T) {
	a, err := NewRoomID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRoomID()
	if a == b || !strings.HasPrefix(string(a), "room-") || len(a) != len("room-")+26 {
		t.Fatalf("room ids %q, %q", a, b)
	}
	got, err := ParseRoomID(" " + strings.ToUpper(string(a)) + "\n")
	if err != nil || got != a {
		t.Fatalf("parse %q: %q, %v", a, got, err)
	}
	for _, bad := range []string{"", "room-", "net-abc", string(a) + "a", string(a)[:len(a)-1], "room-0000000000000000000000000!"} {
		if _, err := ParseRoomID(bad); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
	for _, typ := range []RoomType{TypeOpen, TypeSocial, TypeClosed} {
		if got, err := ParseRoomType(typ.String()); err != nil || got != typ {
			t.Errorf("room type %s: %v, %v", typ, got, err)
		}
	}
}

// TestTitleRefusesHostileText: a title is one line of visible text.
func TestTitleRefusesHostileText(t *testing.T) {
	c := newCast(t)
	for _, title := range []string{"Jazz\nLive now: free money", "Jazz\tnight", "\u202eJazz", "\u200b\u200d", "  "} {
		if _, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: title, Type: TypeOpen, Now: t0}); err == nil {
			t.Errorf("NewState accepted the title %q", title)
		}
	}
}

// TestScheduleHorizon: a room is scheduled at most MaxScheduleAhead ahead;
// a start in the year 9999 is a typo, not a plan.
func TestScheduleHorizon(t *testing.T) {
	c := newCast(t)
	cfg := RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "Later", Type: TypeOpen, Now: t0}
	cfg.Start = t0.Add(MaxScheduleAhead)
	if _, err := NewState(cfg); err != nil {
		t.Fatalf("at the horizon: %v", err)
	}
	cfg.Start = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := NewState(cfg); err == nil {
		t.Fatal("a start in 9999 was accepted")
	}
}
