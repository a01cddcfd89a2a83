package rooms

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/record"
)

// Every fuzzer checks the same properties of its decoder, on the input as
// an envelope, as a bare payload, and as a payload signed by a real key
// (so the fuzzer reaches the payload decoder past the signature):
//   - it never panics;
//   - it returns a value or an error wrapping a sentinel, never both or
//     neither;
//   - a value re-encodes (payload MarshalRecord, and the envelope Bytes) to
//     something that decodes to an equal value;
//   - input past the size limit is refused as ErrTooLarge.

var sentinels = []error{ErrTooLarge, ErrMalformed, ErrBadSignature, ErrBadVersion, ErrExpired,
	ErrWrongNetwork, ErrUnsupportedKey}

func checkResult(t *testing.T, ok bool, err error) {
	t.Helper()
	if ok == (err != nil) {
		t.Fatalf("returned a value %v and error %v", ok, err)
	}
	if err == nil {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %q wraps no sentinel error", err)
}

// recordRoundTrip re-encodes a decoded payload and decodes it again.
func recordRoundTrip[R any, P interface {
	*R
	record.Record
}](t *testing.T, rec P) {
	t.Helper()
	payload, err := rec.MarshalRecord()
	if err != nil {
		t.Fatalf("re-encode %s: %v", rec.Domain(), err)
	}
	back := P(new(R))
	if err := back.UnmarshalRecord(payload); err != nil {
		t.Fatalf("decode re-encoded %s: %v", rec.Domain(), err)
	}
	mustEqual(t, rec.Domain(), back, rec)
}

// fuzzParser runs the common properties for one object type. key signs
// the raw payloads: it is the seeds' signer, so mutated seeds still pass
// the signer check and reach validation.
func fuzzParser[R any, P interface {
	*R
	record.Record
}, S any](f *testing.F, key crypto.PrivKey, limit int, seeds [][]byte, parse func([]byte) (*S, error), inner func(*S) P, bytesOf func(*S) []byte) {
	for _, s := range seeds {
		f.Add(s)
		if env, err := record.ConsumeTypedEnvelope(s, P(new(R))); err == nil {
			f.Add(env.RawPayload)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			v, err := parse(data)
			checkResult(t, v != nil, err)
			if v == nil {
				return
			}
			recordRoundTrip(t, inner(v))
			again, err := parse(bytesOf(v))
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			mustEqual(t, "re-parsed", again, v)
		}
		check(data)
		// As a payload: the decoder alone, then signed.
		if rec := P(new(R)); rec.UnmarshalRecord(data) == nil {
			recordRoundTrip(t, rec)
		}
		if len(data) <= limit/2 {
			check(sealRaw(t, key, P(new(R)), data))
		}
		over := append(bytes.Clone(data), make([]byte, limit+1)...)
		if _, err := parse(over); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d bytes: %v, want %v", len(over), err, ErrTooLarge)
		}
	})
}

func sealRaw(t *testing.T, key crypto.PrivKey, like record.Record, payload []byte) []byte {
	data, err := seal(&rawRecord{domain: like.Domain(), codec: like.Codec(), payload: payload}, key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func FuzzParseState(f *testing.F) {
	c := newCast(f)
	s := c.room(f)
	next := mustApply(f, s, c.req(s, "L", KindRaiseHand, ""), member)
	next.Banned = append(next.Banned, c.id("X"))
	sched, err := NewState(RoomConfig{Network: testNetwork, Host: c.id("H"), Title: "ü later", Type: TypeClosed, Start: t0.Add(time.Hour), Now: t0})
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{c.sign(f, "H", s).Bytes, c.sign(f, "H", next).Bytes, c.sign(f, "H", sched).Bytes}
	fuzzParser(f, c.keys["H"], MaxStateSize, seeds, ParseState,
		func(v *SignedState) *State { return &v.State }, func(v *SignedState) []byte { return v.Bytes })
}

func FuzzParseRequest(f *testing.F) {
	c := newCast(f)
	s := c.room(f)
	var seeds [][]byte
	for _, r := range []Request{
		{Room: s.Room, Kind: KindJoin, Time: t0},
		{Room: s.Room, Kind: KindMute, Time: t0},
		{Room: s.Room, Kind: KindMute, Target: c.id("T"), Time: t0},
		{Room: s.Room, Kind: KindRemove, Target: c.id("U"), Time: t0},
	} {
		signed, err := SignRequest(c.keys["M"], r)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, signed.Bytes)
	}
	fuzzParser(f, c.keys["M"], MaxRequestSize, seeds, ParseRequest,
		func(v *SignedRequest) *Request { return &v.Request }, func(v *SignedRequest) []byte { return v.Bytes })
}

func FuzzParseTicket(f *testing.F) {
	c := newCast(f)
	room, _ := NewRoomID()
	tk, err := IssueTicket(c.keys["H"], room, c.id("O"), t0.Add(time.Hour), t0)
	if err != nil {
		f.Fatal(err)
	}
	fuzzParser(f, c.keys["H"], MaxTicketSize, [][]byte{tk.Bytes}, ParseTicket,
		func(v *SignedTicket) *Ticket { return &v.Ticket }, func(v *SignedTicket) []byte { return v.Bytes })
}

func FuzzParseAnnouncement(f *testing.F) {
	c := newCast(f)
	s := c.room(f)
	var seeds [][]byte
	tagged := AnnouncementOf(&s, 2, t0.Add(time.Minute))
	tagged.Type, tagged.Followed = TypeSocial, bytes.Repeat([]byte{7}, 3*FollowTagSize)
	for _, a := range []Announcement{AnnouncementOf(&s, 1, t0.Add(time.Minute)), AnnouncementOf(&s, 1<<40, t0.Add(time.Minute)), tagged} {
		signed, err := SignAnnouncement(c.keys["H"], a)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, signed.Bytes)
	}
	fuzzParser(f, c.keys["H"], MaxAnnouncementSize, seeds, ParseAnnouncement,
		func(v *SignedAnnouncement) *Announcement { return &v.Announcement },
		func(v *SignedAnnouncement) []byte { return v.Bytes })
}
