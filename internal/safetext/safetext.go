// Package safetext is the one check for text that people choose and other
// members see: names, bios, network names and room titles. Such text ends
// up in other members' terminals and tables, so it must not carry what
// could forge or hide part of what is shown around it:
//
//   - control characters (C0, DEL, C1): a tab or a newline in a name adds
//     columns or rows to everyone's `members` table, an escape sequence
//     recolours or moves the cursor of a terminal;
//   - the bidirectional embedding, override and isolate controls
//     (U+202A–U+202E, U+2066–U+2069): they reorder the text after them
//     ("Trojan Source"), so a name can display as someone else's or spill
//     into the next column. The plain marks U+200E, U+200F and U+061C are
//     allowed: they only set the direction of neighbouring neutral
//     characters, which right-to-left names need, and reorder nothing;
//   - the line and paragraph separators U+2028 and U+2029;
//   - text that looks empty: only spaces, zero-width and other default
//     ignorable characters, or combining marks with nothing to sit on.
//
// Printable is the other side: what a terminal should be given of text
// that came from elsewhere, whatever it holds.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says which line breaks a field may hold.
type Kind int

const (
	// Line is one line: names, network names, titles.
	Line Kind = iota
	// Lines may hold newlines and tabs: a bio.
	Lines
)

// Check says what is wrong with s as the text of field: at most max
// characters, nothing from the package comment's list, and, if required,
// not empty. An optional field may be "" but not empty-looking.
func Check(field, s string, kind Kind, max int, required bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s is %d characters long, the limit is %d", field, n, max)
	}
	if s == "" {
		if required {
			return fmt.Errorf("%s must not be empty", field)
		}
		return nil
	}
	visible := false
	for _, r := range s {
		if kind == Lines && (r == '\n' || r == '\t') {
			continue
		}
		if what := forbidden(r); what != "" {
			return fmt.Errorf("%s contains %s (U+%04X)", field, what, r)
		}
		visible = visible || isVisible(r)
	}
	if !visible {
		return fmt.Errorf("%s has no visible characters", field)
	}
	return nil
}

// forbidden names what kind of refused character r is, or says "".
func forbidden(r rune) string {
	switch {
	case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
		return "a control character"
	case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
		return "a bidirectional override character"
	case r == 0x2028 || r == 0x2029:
		return "a line separator"
	}
	return ""
}

// isVisible reports whether r leaves a mark on its own: not a space, not a
// format or other default-ignorable character, not a variation selector or
// a combining mark, not a filler that renders blank.
func isVisible(r rune) bool {
	switch {
	case unicode.IsSpace(r):
		return false
	case unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
		unicode.Mn, unicode.Me):
		return false
	case r == 0x2800, r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0: // braille blank, Hangul fillers
		return false
	}
	return true
}

// Printable returns s as a terminal may show it on one line: control
// characters, tabs and newlines, bidirectional controls and line
// separators become visible escapes (\t, \n, \u202e), and invalid UTF-8
// becomes U+FFFD. Text that Check accepts as a Line comes back unchanged.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || forbidden(r) != "" {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteRune(r) // a real U+FFFD
			}
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case forbidden(r) != "":
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
