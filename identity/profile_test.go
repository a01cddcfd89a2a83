package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProfileRoundTrip(t *testing.T) {
	w := newWorld(t)
	updated := t0.Add(1234567 * time.Microsecond) // sub-millisecond part is dropped
	tests := []struct {
		name, bio string
	}{
		{"", ""},
		{"Cé", "likes\tjazz\nand late-night radio"},
		{strings.Repeat("é", MaxNameLength), strings.Repeat("ü", MaxBioLength)},
		{"emoji 🎙️", "right-to-left שלום"},
	}
	for _, tt := range tests {
		p, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: tt.name, Bio: tt.bio, Updated: updated})
		if err != nil {
			t.Fatalf("%q: %v", tt.name, err)
		}
		back, err := ParseProfile(p.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if back.Profile != p.Profile || back.Name != tt.name || back.Bio != tt.bio || back.Peer != w.C.id ||
			back.Network != w.network || !back.Updated.Equal(updated.Truncate(time.Millisecond)) {
			t.Fatalf("round trip: %+v, want %+v", back.Profile, p.Profile)
		}
	}
}

func TestProfileRefuses(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name, text, bio string
	}{
		{"NUL in name", "a\x00b", ""},
		{"escape in name", "\x1b[31mred", ""},
		{"DEL in name", "a\x7f", ""},
		{"carriage return in bio", "", "a\rb"},
		{"bell in bio", "", "\a"},
		{"name too long", strings.Repeat("n", MaxNameLength+1), ""},
		{"multi-byte name too long", strings.Repeat("é", MaxNameLength+1), ""},
		{"bio too long", "", strings.Repeat("b", MaxBioLength+1)},
		{"invalid UTF-8 name", "\xff", ""},
		{"invalid UTF-8 bio", "", "ok\xc3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateProfileText(tt.text, tt.bio); err == nil {
				t.Fatal("ValidateProfileText accepted it")
			}
			if _, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: tt.text, Bio: tt.bio, Updated: t0}); err == nil {
				t.Fatal("SignProfile accepted it")
			}
			// Signed by hand, the parser refuses it too.
			if !strings.Contains(tt.name, "UTF-8") {
				data := sealWire(t, &Profile{}, w.C.key, profileWire{V: Version, Network: string(w.network), Peer: []byte(w.C.id), Name: tt.text, Bio: tt.bio})
				if len(data) <= MaxProfileSize {
					_, err := ParseProfile(data)
					wantErr(t, err, ErrMalformed)
				}
			}
		})
	}
}

func TestParseProfileRefuses(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"signed by another member", sealWire(t, &Profile{}, w.B.key, profileWire{V: Version, Network: string(w.network), Peer: []byte(w.C.id), Name: "C"}), ErrBadSignature},
		{"peer not a peer ID", sealWire(t, &Profile{}, w.C.key, profileWire{V: Version, Network: string(w.network), Peer: []byte("c"), Name: "C"}), ErrMalformed},
		// Invalid UTF-8 in a CBOR text string is refused by the decoder.
		{"invalid UTF-8", sealAs(t, &Profile{}, w.C.key, []byte{0xa2, 0x00, 0x01, 0x03, 0x61, 0xff}), ErrMalformed},
		{"a certificate offered as a profile", w.C.chain.Certs[1].Bytes, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProfile(tt.data)
			wantErr(t, err, tt.want)
		})
	}
	// SignProfile with someone else's key: refused at parse.
	_, err := SignProfile(w.B.key, Profile{Network: w.network, Peer: w.C.id, Name: "C", Updated: t0})
	wantErr(t, err, ErrBadSignature)
}

// TestProfileLongestTextFits: any name and bio that ValidateProfileText
// accepts can be signed and parsed, even in four-byte characters.
func TestProfileLongestTextFits(t *testing.T) {
	w := newWorld(t)
	name := strings.Repeat("🎙", MaxNameLength)
	bio := strings.Repeat("😀", MaxBioLength)
	if err := ValidateProfileText(name, bio); err != nil {
		t.Fatal(err)
	}
	p, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: name, Bio: bio, Updated: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProfile(p.Bytes); err != nil {
		t.Fatal(err)
	}
}

// TestHostileText: what could forge a row of someone's members table,
// reorder what is shown around it, or look like no name at all is refused
// in names, bios and network names, when signed and when parsed.
func TestHostileText(t *testing.T) {
	w := newWorld(t)
	fk, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Bob\n12D3KooWFake  Alice  yes", "Bob\tAlice", "Bob\u202etxt.exe",
		"\u2066Bob\u2069", "\u200b\u200b", "\u3164"} {
		if err := ValidateName(text); err == nil {
			t.Errorf("ValidateName accepted %q", text)
		}
		if _, err := FoundNetwork(fk, text, t0); err == nil {
			t.Errorf("FoundNetwork accepted %q", text)
		}
		if _, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: text, Updated: t0}); err == nil {
			t.Errorf("SignProfile accepted the name %q", text)
		}
		data := sealWire(t, &Profile{}, w.C.key, profileWire{V: Version, Network: string(w.network), Peer: []byte(w.C.id), Name: text})
		_, err := ParseProfile(data)
		wantErr(t, err, ErrMalformed)
	}
	for _, bio := range []string{"hi\u202eereht", "\u200b"} {
		if _, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: "C", Bio: bio, Updated: t0}); err == nil {
			t.Errorf("SignProfile accepted the bio %q", bio)
		}
	}
	if err := ValidateName(""); err == nil {
		t.Error("ValidateName accepted an empty name")
	}
}

// A profile's support link is a web address, kept through signing and
// parsing; what a browser would run, or a link with credentials, is
// refused when signing and, from a node that signed one anyway, when
// parsing.
func TestProfileSupportLink(t *testing.T) {
	w := newWorld(t)
	p, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: "Carol", Support: "https://ko-fi.example/carol", Updated: t0})
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseProfile(p.Bytes)
	if err != nil || back.Support != "https://ko-fi.example/carol" {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,hi", "ftp://x.example/", "https://", "https://u:p@x.example/",
		"https://x.example/" + strings.Repeat("a", MaxSupportLength), "https://x.example/\n"} {
		if _, err := SignProfile(w.C.key, Profile{Network: w.network, Peer: w.C.id, Name: "Carol", Support: bad, Updated: t0}); err == nil {
			t.Errorf("signed a profile with the support link %q", bad)
		}
		forged := Profile{Network: w.network, Peer: w.C.id, Name: "Carol", Support: bad, Updated: t0}
		data, err := seal(&forged, w.C.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseProfile(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("parsed a profile with the support link %q: %v", bad, err)
		}
	}
}
