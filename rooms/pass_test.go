package rooms

import (
	"errors"
	"testing"
	"time"
)

// TestSupportersRoomAdmitsPassHolders: a supporters' room lets in the
// holder of a pass its host signed, and nobody else: no pass, someone
// else's pass, another host's pass, an expired or a revoked one.
func TestSupportersRoomAdmitsPassHolders(t *testing.T) {
	c := newCast(t)
	s := c.room(t)
	s.Type = TypeSupporters
	pass := func(issuer, holder string, expires time.Time) *SignedPass {
		p, err := IssuePass(c.keys[issuer], c.id(holder), expires, t0)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := pass("H", "O", t0.Add(30*24*time.Hour))
	again, err := ParsePass(good.Bytes)
	if err != nil || again.ID() != good.ID() || again.Holder != c.id("O") {
		t.Fatalf("parse: %+v %v", again, err)
	}
	for _, tc := range []struct {
		name string
		adm  Admission
		want error
	}{
		{"the holder", Admission{Member: true, Pass: good}, nil},
		{"no pass", Admission{Member: true}, ErrNotAdmitted},
		{"followed, no pass", Admission{Member: true, Followed: true}, ErrNotAdmitted},
		{"someone else's pass", Admission{Member: true, Pass: pass("H", "X", t0.Add(time.Hour))}, ErrNotAdmitted},
		{"a pass from a moderator", Admission{Member: true, Pass: pass("M", "O", t0.Add(time.Hour))}, ErrNotAdmitted},
		{"revoked", Admission{Member: true, Pass: good, PassRevoked: true}, ErrNotAdmitted},
		{"expired", Admission{Member: true, Pass: pass("H", "O", t0.Add(time.Second))}, ErrNotAdmitted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, err := Apply(s.Clone(), c.req(s, "O", KindJoin, ""), tc.adm)
			if tc.want != nil {
				wantErr(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if next.RoleOf(c.id("O")) != RoleListener {
				t.Fatalf("joined O is a %s", next.RoleOf(c.id("O")))
			}
		})
	}
}

func FuzzParsePass(f *testing.F) {
	c := newCast(f)
	pass, err := IssuePass(c.keys["H"], c.id("L"), t0.Add(time.Hour), t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pass.Bytes)
	f.Add(pass.Bytes[:len(pass.Bytes)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePass(data)
		if (p == nil) == (err == nil) {
			t.Fatalf("pass %v and error %v", p, err)
		}
		if len(data) > MaxPassSize && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%d bytes: %v", len(data), err)
		}
		if err != nil {
			return
		}
		again, err := ParsePass(p.Bytes)
		if err != nil || again.ID() != p.ID() || again.Holder != p.Holder || again.Issuer != p.Issuer || !again.Expires.Equal(p.Expires) {
			t.Fatalf("round trip: %+v %v", again, err)
		}
	})
}
