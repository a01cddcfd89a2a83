package rooms

import (
	"bytes"
	"testing"
	"time"
)

func TestSignParseRequest(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	for k := KindJoin; k < numKinds; k++ {
		r := Request{Room: s.Room, Kind: k, Time: t0.Add(1500 * time.Microsecond)}
		if k.target() == needsTarget {
			r.Target = c.id("U")
		}
		signed, err := SignRequest(c.keys["L"], r)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if signed.From != c.id("L") || len(signed.Nonce) != nonceSize || !signed.Time.Equal(t0.Add(time.Millisecond)) {
			t.Fatalf("%s: from %s, nonce %x, time %s", k, signed.From, signed.Nonce, signed.Time)
		}
		got, err := ParseRequest(signed.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		mustEqual(t, k.String(), got.Request, signed.Request)
		if back, err := ParseKind(k.String()); err != nil || back != k {
			t.Fatalf("kind %s: %v %v", k, back, err)
		}
	}
	// Two requests alike are still different: fresh nonces.
	a, _ := SignRequest(c.keys["L"], Request{Room: s.Room, Kind: KindLeave, Time: t0})
	b, _ := SignRequest(c.keys["L"], Request{Room: s.Room, Kind: KindLeave, Time: t0})
	if bytes.Equal(a.Nonce, b.Nonce) {
		t.Fatal("two requests share a nonce")
	}
}

func TestRequestRejects(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	// Refused at signing: malformed requests are never made.
	for name, r := range map[string]Request{
		"no target":       {Room: s.Room, Kind: KindRemove, Time: t0},
		"target on leave": {Room: s.Room, Kind: KindLeave, Target: c.id("U"), Time: t0},
		"remove oneself":  {Room: s.Room, Kind: KindRemove, Target: c.id("L"), Time: t0},
		"unknown kind":    {Room: s.Room, Kind: numKinds, Time: t0},
		"no time":         {Room: s.Room, Kind: KindLeave},
		"no room":         {Kind: KindLeave, Time: t0},
		"short nonce":     {Room: s.Room, Kind: KindLeave, Time: t0, Nonce: []byte{1}},
		"someone else's":  {Room: s.Room, From: c.id("M"), Kind: KindEnd, Time: t0},
		"before 1970":     {Room: s.Room, Kind: KindLeave, Time: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := SignRequest(c.keys["L"], r); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	good, err := SignRequest(c.keys["L"], Request{Room: s.Room, Kind: KindRaiseHand, Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := good.MarshalRecord()
	tampered := bytes.Clone(good.Bytes)
	tampered[bytes.Index(tampered, good.Nonce)] ^= 1
	impostor := good.Request
	impostor.Kind = KindEnd
	impostorPayload, _ := impostor.MarshalRecord()
	targeted := good.Request
	targeted.Target = c.id("U")
	targetedPayload, _ := targeted.MarshalRecord()
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"tampered", tampered, ErrBadSignature},
		{"oversize", append(bytes.Clone(good.Bytes), make([]byte, MaxRequestSize)...), ErrTooLarge},
		{"signed by another", forge(t, c.keys["M"], &good.Request, impostorPayload), ErrBadSignature},
		{"as a state", forge(t, c.keys["L"], &s, payload), ErrMalformed},
		{"target on raise-hand", forge(t, c.keys["L"], &good.Request, targetedPayload), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.data)
			wantErr(t, err, tc.want)
		})
	}
}

func TestReplayGuard(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	g, err := NewReplayGuard(ReplayConfig{Window: time.Minute, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(at time.Time) *Request {
		r, err := SignRequest(c.keys["L"], Request{Room: s.Room, Kind: KindRaiseHand, Time: at})
		if err != nil {
			t.Fatal(err)
		}
		return &r.Request
	}
	r := mk(t0)
	if err := g.Check(r, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, g.Check(r, t0.Add(2*time.Second)), ErrReplay)
	wantErr(t, g.Check(mk(t0.Add(-2*time.Minute)), t0), ErrReplay)
	wantErr(t, g.Check(mk(t0.Add(2*time.Minute)), t0), ErrReplay)
	// Full of requests still inside the window: refuse, do not forget.
	for range 2 {
		if err := g.Check(mk(t0), t0); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, g.Check(mk(t0), t0), ErrRateLimited)
	// Once they have left the window they are forgotten, and the first
	// one is still refused, by its time.
	later := t0.Add(2 * time.Minute)
	if err := g.Check(mk(later), later); err != nil {
		t.Fatal(err)
	}
	wantErr(t, g.Check(r, later), ErrReplay)
	if _, err := NewReplayGuard(ReplayConfig{Window: -1}); err == nil {
		t.Fatal("negative window accepted")
	}
}
