package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckAccepts(t *testing.T) {
	for _, tt := range []struct {
		text string
		kind Kind
	}{
		{"Alice", Line},
		{"Cé Ünal", Line},
		{"emoji 🎙️", Line},      // a variation selector after a visible character
		{"👩‍👩‍👧", Line},         // zero-width joiners inside an emoji sequence
		{"שלום", Line},          // right to left
		{"\u200fשלום 42", Line}, // a right-to-left mark is not an override
		{"می\u200cخواهم", Line}, // a zero-width non-joiner, as Persian writes
		{"likes\tjazz\nand late-night radio", Lines},
		{"", Line},
	} {
		if err := Check("name", tt.text, tt.kind, 100, false); err != nil {
			t.Errorf("%q: %v", tt.text, err)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	for _, tt := range []struct {
		why, text string
		kind      Kind
		required  bool
		want      string
	}{
		{"newline in a line", "Bob\nEve  y", Line, false, "control character"},
		{"tab in a line", "Bob\tfake", Line, false, "control character"},
		{"carriage return in lines", "a\rb", Lines, false, "control character"},
		{"escape", "\x1b[31mred", Lines, false, "control character"},
		{"NUL", "a\x00b", Line, false, "control character"},
		{"DEL", "a\x7f", Line, false, "control character"},
		{"C1 control", "a\u0085b", Line, false, "control character"},
		{"right-to-left override", "Bob\u202egnp", Line, false, "bidirectional"},
		{"left-to-right embedding", "\u202aBob", Lines, false, "bidirectional"},
		{"right-to-left isolate", "Bob\u2067x\u2069", Line, false, "bidirectional"},
		{"first strong isolate", "\u2068Bob", Line, false, "bidirectional"},
		{"line separator", "a\u2028b", Lines, false, "line separator"},
		{"zero-width only", "\u200b\u200d\u2060", Line, false, "no visible"},
		{"spaces only", "   ", Line, false, "no visible"},
		{"no-break and ideographic spaces", "\u00a0\u3000", Line, false, "no visible"},
		{"soft hyphen and BOM", "\u00ad\ufeff", Line, false, "no visible"},
		{"Hangul filler", "\u3164", Line, false, "no visible"},
		{"braille blank", "\u2800\u2800", Line, false, "no visible"},
		{"combining marks alone", "\u0301\u0308", Line, false, "no visible"},
		{"variation selector alone", "\ufe0f", Line, false, "no visible"},
		{"tag characters", "\U000e0041\U000e0042", Line, false, "no visible"},
		{"newlines only in lines", "\n\t\n", Lines, false, "no visible"},
		{"empty but required", "", Line, true, "must not be empty"},
		{"too long", strings.Repeat("é", 11), Line, false, "limit is 10"},
		{"invalid UTF-8", "ok\xc3", Line, false, "UTF-8"},
	} {
		err := Check("name", tt.text, tt.kind, 10, tt.required)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %q: got %v, want an error about %q", tt.why, tt.text, err, tt.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"Alice":            "Alice",
		"Bob\tfake\n":      `Bob\tfake\n`,
		"Bob\u202egnp.exe": `Bob\u202egnp.exe`,
		"\x1b[31mred":      `\u001b[31mred`,
		"bad\xffbyte":      "bad\ufffdbyte",
		"real \ufffd":      "real \ufffd",
		"שלום\u200f":       "שלום\u200f",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCheck: nothing panics; whatever Check accepts as a line is valid
// UTF-8, shows something, and prints unchanged; whatever Printable gives
// back holds none of the refused characters and is valid UTF-8.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"Alice", "a\tb", "\u202e", "\u200b", "👩‍👩‍👧", "\xff", "a\u0301", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if !utf8.ValidString(p) {
			t.Fatalf("Printable(%q) = %q is not valid UTF-8", s, p)
		}
		for _, r := range p {
			if forbidden(r) != "" {
				t.Fatalf("Printable(%q) = %q keeps U+%04X", s, p, r)
			}
		}
		if Check("name", s, Line, 1<<20, true) == nil {
			if p != s {
				t.Fatalf("accepted %q prints as %q", s, p)
			}
			if strings.TrimSpace(s) == "" {
				t.Fatalf("accepted blank %q", s)
			}
		}
		if Check("bio", s, Lines, 1<<20, false) == nil && Check("name", s, Line, 1<<20, false) != nil &&
			!strings.ContainsAny(s, "\n\t") {
			t.Fatalf("%q is fine as lines but not as a line, without a line break", s)
		}
	})
}
