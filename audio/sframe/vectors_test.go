package sframe

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vector is one line of testdata/rfc9605-vectors.txt: its kind and fields.
type vector struct {
	kind   string
	fields map[string]string
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/rfc9605-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		v := vector{kind: parts[0], fields: map[string]string{}}
		for _, p := range parts[1:] {
			k, val, ok := strings.Cut(p, "=")
			if !ok {
				t.Fatalf("bad field %q", p)
			}
			v.fields[k] = val
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (v vector) num(t *testing.T, name string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimPrefix(v.fields[name], "0x"), 16, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

func (v vector) bytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.fields[name])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func vectorsOf(t *testing.T, kind string, want int) []vector {
	var out []vector
	for _, v := range loadVectors(t) {
		if v.kind == kind {
			out = append(out, v)
		}
	}
	if len(out) != want {
		t.Fatalf("%d %s vectors, the RFC has %d", len(out), kind, want)
	}
	return out
}

// RFC 9605 Appendix C.1: every header encodes and decodes as the RFC says.
func TestRFCHeaderVectors(t *testing.T) {
	for _, v := range vectorsOf(t, "header", 289) {
		h := Header{KID: v.num(t, "kid"), CTR: v.num(t, "ctr")}
		want := v.bytes(t, "header")
		if got := h.Append(nil); !bytes.Equal(got, want) {
			t.Errorf("encode %+v: %x, want %x", h, got, want)
		}
		if h.Size() != len(want) {
			t.Errorf("size of %+v: %d, want %d", h, h.Size(), len(want))
		}
		got, n, err := ParseHeader(append(want, 0xaa, 0xbb))
		if err != nil || got != h || n != len(want) {
			t.Errorf("decode %x: %+v, %d, %v; want %+v, %d", want, got, n, err, h, len(want))
		}
	}
}

// RFC 9605 Appendix C.2: the AES-CTR-HMAC AEAD, for all three tag lengths.
func TestRFCCTRHMACVectors(t *testing.T) {
	for _, v := range vectorsOf(t, "aead", 3) {
		suite := Suite(v.num(t, "cipher_suite"))
		p, err := suite.params()
		if err != nil {
			t.Fatal(err)
		}
		key := v.bytes(t, "key")
		if !bytes.Equal(key[:p.nka], v.bytes(t, "enc_key")) || !bytes.Equal(key[p.nka:], v.bytes(t, "auth_key")) {
			t.Fatalf("%s: subkeys differ from the RFC's", suite)
		}
		a, err := p.newAEAD(key)
		if err != nil {
			t.Fatal(err)
		}
		nonce, aad, pt, ct := v.bytes(t, "nonce"), v.bytes(t, "aad"), v.bytes(t, "pt"), v.bytes(t, "ct")
		if got := a.Seal(nil, nonce, pt, aad); !bytes.Equal(got, ct) {
			t.Errorf("%s encrypt: %x, want %x", suite, got, ct)
		}
		got, err := a.Open(nil, nonce, ct, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s decrypt: %x, %v", suite, got, err)
		}
		bad := bytes.Clone(ct)
		bad[len(bad)-1] ^= 1
		if _, err := a.Open(nil, nonce, bad, aad); err == nil {
			t.Errorf("%s: altered tag accepted", suite)
		}
	}
}

// RFC 9605 Appendix C.3: key schedule, nonce, and whole-frame encryption
// and decryption, for all five cipher suites.
func TestRFCSFrameVectors(t *testing.T) {
	for _, v := range vectorsOf(t, "sframe", 5) {
		suite := Suite(v.num(t, "cipher_suite"))
		kid, ctr := v.num(t, "kid"), v.num(t, "ctr")
		base, metadata, pt, ct := v.bytes(t, "base_key"), v.bytes(t, "metadata"), v.bytes(t, "pt"), v.bytes(t, "ct")
		t.Run(suite.String(), func(t *testing.T) {
			if got := label("SFrame 1.0 Secret key ", kid, suite); got != string(v.bytes(t, "sframe_key_label")) {
				t.Errorf("key label %x", got)
			}
			if got := label("SFrame 1.0 Secret salt ", kid, suite); got != string(v.bytes(t, "sframe_salt_label")) {
				t.Errorf("salt label %x", got)
			}
			p, _ := suite.params()
			key, salt, err := deriveKeySalt(p, suite, kid, base)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(key, v.bytes(t, "sframe_key")) || !bytes.Equal(salt, v.bytes(t, "sframe_salt")) {
				t.Fatalf("sframe_key %x sframe_salt %x", key, salt)
			}
			k, err := DeriveKey(suite, kid, base)
			if err != nil {
				t.Fatal(err)
			}
			if n := k.nonce(ctr); !bytes.Equal(n[:], v.bytes(t, "nonce")) {
				t.Errorf("nonce %x", n)
			}
			s, err := NewSender(suite, kid, base, ctr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Encrypt(nil, metadata, pt)
			if err != nil || !bytes.Equal(got, ct) {
				t.Fatalf("encrypt: %x, %v; want %x", got, err, ct)
			}
			r := NewReceiver()
			if err := r.AddKey(suite, kid, base); err != nil {
				t.Fatal(err)
			}
			plain, h, err := r.Decrypt(nil, metadata, ct)
			if err != nil || !bytes.Equal(plain, pt) || h != (Header{KID: kid, CTR: ctr}) {
				t.Fatalf("decrypt: %x %+v %v", plain, h, err)
			}
			if _, _, err := r.Decrypt(nil, metadata, ct); err == nil {
				t.Fatal("the same frame decrypted twice")
			}
		})
	}
}
