package rooms

import (
	"bytes"
	"testing"
	"time"
)

func TestTicket(t *testing.T) {
	c := newCast(t)
	room, _ := NewRoomID()
	tk, err := IssueTicket(c.keys["H"], room, c.id("O"), t0.Add(time.Hour+time.Microsecond), t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseTicket(tk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ticket", got.Ticket, Ticket{Room: room, Holder: c.id("O"), Issuer: c.id("H"), Expires: t0.Add(time.Hour)})
	if err := got.Check(room, c.id("O"), t0, c.id("H"), c.id("M")); err != nil {
		t.Fatal(err)
	}
	other, _ := NewRoomID()
	wantErr(t, got.Check(other, c.id("O"), t0, c.id("H")), ErrUnknownRoom)
	wantErr(t, got.Check(room, c.id("L"), t0, c.id("H")), ErrNotAllowed)
	wantErr(t, got.Check(room, c.id("O"), t0, c.id("M")), ErrNotAllowed)
	wantErr(t, got.Check(room, c.id("O"), t0.Add(time.Hour), c.id("H")), ErrExpired)

	if _, err := IssueTicket(c.keys["H"], room, c.id("O"), t0, t0); err == nil {
		t.Fatal("issued a ticket that has already expired")
	}
	if _, err := IssueTicket(c.keys["H"], "room-bad", c.id("O"), t0.Add(time.Hour), t0); err == nil {
		t.Fatal("issued a ticket for a malformed room id")
	}
	payload, _ := got.MarshalRecord()
	tampered := bytes.Clone(tk.Bytes)
	tampered[bytes.Index(tampered, payload)+3] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"tampered", tampered, ErrBadSignature},
		{"oversize", append(bytes.Clone(tk.Bytes), make([]byte, MaxTicketSize)...), ErrTooLarge},
		{"self-issued in the host's name", forge(t, c.keys["O"], &got.Ticket, payload), ErrBadSignature},
		{"truncated", tk.Bytes[:len(tk.Bytes)/2], ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTicket(tc.data)
			wantErr(t, err, tc.want)
		})
	}
}
