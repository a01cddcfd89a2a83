package sframe

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
)

var testBase = bytes.Repeat([]byte{7}, 32)

// An Opus packet of a 32 kbit/s stream is 80 bytes.
var opusFrame = bytes.Repeat([]byte{0x55}, 80)

func pair(t testing.TB, suite Suite, kid uint64) (*Sender, *Receiver) {
	t.Helper()
	s, err := NewSender(suite, kid, testBase, 1000)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReceiver()
	if err := r.AddKey(suite, kid, testBase); err != nil {
		t.Fatal(err)
	}
	return s, r
}

var allSuites = []Suite{AES128CTRHMACSHA256_80, AES128CTRHMACSHA256_64, AES128CTRHMACSHA256_32,
	AES128GCMSHA256_128, AES256GCMSHA512_128}

// Changing any byte of a frame, header included, makes it fail to decrypt,
// and so does other metadata.
func TestTamperedFramesFail(t *testing.T) {
	for _, suite := range allSuites {
		s, r := pair(t, suite, 3)
		frame, err := s.Encrypt(nil, []byte("meta"), opusFrame)
		if err != nil {
			t.Fatal(err)
		}
		for i := range frame {
			bad := bytes.Clone(frame)
			bad[i] ^= 0x01
			if _, _, err := r.Decrypt(nil, []byte("meta"), bad); err == nil {
				t.Errorf("%s: byte %d altered, frame decrypted", suite, i)
			}
		}
		if _, _, err := r.Decrypt(nil, []byte("other"), frame); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: other metadata: %v", suite, err)
		}
		if _, _, err := r.Decrypt(nil, []byte("meta"), frame[:len(frame)-1]); err == nil {
			t.Errorf("%s: truncated frame decrypted", suite)
		}
		if got, _, err := r.Decrypt(nil, []byte("meta"), frame); err != nil || !bytes.Equal(got, opusFrame) {
			t.Errorf("%s: the untouched frame: %v", suite, err)
		}
	}
}

// A receiver whose key is another epoch's, or another sender's, cannot
// decrypt; one that dropped the key cannot either.
func TestOtherKeysFail(t *testing.T) {
	s, _ := pair(t, AES128CTRHMACSHA256_80, 5)
	frame, _ := s.Encrypt(nil, nil, opusFrame)

	old := NewReceiver()
	_ = old.AddKey(AES128CTRHMACSHA256_80, 4, testBase) // last epoch's KID
	if _, _, err := old.Decrypt(nil, nil, frame); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("old epoch: %v", err)
	}
	wrong := NewReceiver()
	_ = wrong.AddKey(AES128CTRHMACSHA256_80, 5, bytes.Repeat([]byte{8}, 32))
	if _, _, err := wrong.Decrypt(nil, nil, frame); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong base key: %v", err)
	}
	wrong.RemoveKey(5)
	if _, _, err := wrong.Decrypt(nil, nil, frame); !errors.Is(err, ErrUnknownKID) {
		t.Errorf("removed key: %v", err)
	}
	// Same base key, another suite: the suite is bound into the key schedule.
	other := NewReceiver()
	_ = other.AddKey(AES128CTRHMACSHA256_64, 5, testBase)
	if _, _, err := other.Decrypt(nil, nil, frame); err == nil {
		t.Error("decrypted under another suite")
	}
}

// Frames may arrive out of order within the window, each exactly once;
// older ones and repeats are refused; a forged frame does not move the
// window.
func TestReplayWindow(t *testing.T) {
	s, r := pair(t, AES128GCMSHA256_128, 1)
	var frames [][]byte
	for range ReplayWindow + 10 {
		f, err := s.Encrypt(nil, nil, opusFrame)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	mustDecrypt := func(i int) {
		t.Helper()
		if _, _, err := r.Decrypt(nil, nil, frames[i]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	mustRefuse := func(i int, want error) {
		t.Helper()
		if _, _, err := r.Decrypt(nil, nil, frames[i]); !errors.Is(err, want) {
			t.Fatalf("frame %d: %v, want %v", i, err, want)
		}
	}
	mustDecrypt(2)
	mustDecrypt(0) // reordered, within the window
	mustRefuse(0, ErrReplay)
	mustRefuse(2, ErrReplay)
	mustDecrypt(ReplayWindow + 5) // the window moves on: 0..5 fall out of it
	mustRefuse(1, ErrReplay)      // never seen, but too old now
	mustDecrypt(6)                // the oldest still inside
	mustDecrypt(ReplayWindow + 4)
	mustRefuse(ReplayWindow+4, ErrReplay)

	forged := bytes.Clone(frames[ReplayWindow+9])
	forged[len(forged)-1] ^= 1
	if _, _, err := r.Decrypt(nil, nil, forged); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("forged: %v", err)
	}
	mustDecrypt(7) // the forgery did not slide the window past it
}

func TestWindowShift(t *testing.T) {
	w := [ReplayWindow / 64]uint64{1 | 1<<63, 1}
	got := shift(w, 1)
	if got != [2]uint64{2, 3} {
		t.Fatalf("shift by 1: %x", got)
	}
	if got := shift(w, 64); got != [2]uint64{0, 1 | 1<<63} {
		t.Fatalf("shift by 64: %x", got)
	}
	if got := shift(w, ReplayWindow); got != [2]uint64{} {
		t.Fatalf("shift by the window: %x", got)
	}
}

// Headers that are not in the minimal encoding are refused.
func TestNonMinimalHeaders(t *testing.T) {
	for _, h := range [][]byte{
		{0x08, 0x05},       // CTR 5 in a length byte
		{0x80, 0x03},       // KID 3 in a length byte
		{0x09, 0x00, 0xff}, // CTR 255 in two bytes
		{0x08},             // length byte, no value
		{},                 // nothing
	} {
		if _, _, err := ParseHeader(h); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", h, err)
		}
	}
}

func TestSenderCounter(t *testing.T) {
	s, err := NewSender(AES128GCMSHA256_128, 1, testBase, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Encrypt(nil, nil, opusFrame); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Encrypt(nil, nil, opusFrame); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("after the last CTR: %v", err)
	}
	if _, err := NewSender(Suite(9), 1, testBase, 0); !errors.Is(err, ErrUnknownSuite) {
		t.Fatalf("suite 9: %v", err)
	}
	if _, err := NewSender(AES128GCMSHA256_128, 1, testBase[:8], 0); err == nil {
		t.Fatal("an 8-byte base key was accepted")
	}
}

// A receiver keeps at most MaxKeys KIDs, dropping the lowest.
func TestReceiverKeyLimit(t *testing.T) {
	r := NewReceiver()
	for kid := range uint64(MaxKeys + 2) {
		if err := r.AddKey(AES128GCMSHA256_128, kid, testBase); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.keys) != MaxKeys {
		t.Fatalf("%d keys held", len(r.keys))
	}
	if _, ok := r.keys[0]; ok {
		t.Fatal("the oldest KID was kept")
	}
}

// The overhead per frame is header plus tag; with the CTR at a Unix time in
// milliseconds (as rooms/roomkey starts it) and a one-byte KID.
func TestOverhead(t *testing.T) {
	for _, suite := range allSuites {
		s, err := NewSender(suite, 9, testBase, 1_800_000_000_000)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := s.Encrypt(nil, nil, opusFrame)
		if over := len(f) - len(opusFrame); over != s.Overhead(1_800_000_000_000) {
			t.Errorf("%s: %d bytes of overhead, Overhead says %d", suite, over, s.Overhead(1_800_000_000_000))
		} else {
			t.Logf("%s: %d bytes per frame (%d bit/s at 50 frames/s)", suite, over, over*8*50)
		}
	}
}

func ExampleSender() {
	s, _ := NewSender(AES128CTRHMACSHA256_80, 1, testBase, 0)
	r := NewReceiver()
	_ = r.AddKey(AES128CTRHMACSHA256_80, 1, testBase)
	frame, _ := s.Encrypt(nil, nil, []byte("opus"))
	plain, h, err := r.Decrypt(nil, nil, frame)
	fmt.Println(string(plain), h.KID, h.CTR, err, len(frame))
	// Output: opus 1 0 <nil> 15
}
