package sframe

import (
	"bytes"
	"testing"
)

// Any header that parses re-encodes to the same bytes (one encoding per
// header), and nothing panics.
func FuzzParseHeader(f *testing.F) {
	for _, h := range []Header{{}, {KID: 7, CTR: 7}, {KID: 8, CTR: 255}, {KID: 1 << 40, CTR: 1<<64 - 1}} {
		f.Add(h.Append(nil))
	}
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseHeader(data)
		if err != nil {
			return
		}
		if n != h.Size() || n > MaxHeaderSize {
			t.Fatalf("%x: length %d, size %d", data, n, h.Size())
		}
		if enc := h.Append(nil); !bytes.Equal(enc, data[:n]) {
			t.Fatalf("%x parses as %+v, which encodes as %x", data[:n], h, enc)
		}
	})
}

// Decrypting arbitrary bytes never panics and never succeeds unless they
// are a frame the sender made; a valid frame decrypts once.
func FuzzDecrypt(f *testing.F) {
	s, err := NewSender(AES128CTRHMACSHA256_80, 2, testBase, 0)
	if err != nil {
		f.Fatal(err)
	}
	valid, _ := s.Encrypt(nil, nil, []byte("frame"))
	f.Add(valid, uint8(0))
	f.Add([]byte{0x2f, 1, 2, 3}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		suite := allSuites[int(which)%len(allSuites)]
		r := NewReceiver()
		if err := r.AddKey(suite, 2, testBase); err != nil {
			t.Fatal(err)
		}
		plain, _, err := r.Decrypt(nil, nil, data)
		if err != nil {
			return
		}
		if suite != AES128CTRHMACSHA256_80 || !bytes.Equal(data, valid) || string(plain) != "frame" {
			t.Fatalf("forged frame %x decrypted under %s to %q", data, suite, plain)
		}
		if _, _, err := r.Decrypt(nil, nil, data); err == nil {
			t.Fatal("decrypted twice")
		}
	})
}
