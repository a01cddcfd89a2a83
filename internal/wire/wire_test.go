package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

type msg struct {
	V    int    `cbor:"0,keyasint"`
	Data []byte `cbor:"1,keyasint,omitempty"`
}

func TestFrameRoundTripAndLimits(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, msg{V: 1, Data: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&buf, msg{V: 2, Data: make([]byte, 200)}); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf, 64)
	var m msg
	if err := r.ReadFrame(&m); err != nil || m.V != 1 || string(m.Data) != "hello" {
		t.Fatalf("first frame: %+v, %v", m, err)
	}
	if err := r.ReadFrame(&m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize frame: %v, want ErrTooLarge", err)
	}
	if err := NewReader(&bytes.Buffer{}, 64).ReadFrame(&m); !errors.Is(err, io.EOF) {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
}

func TestStrictDecoding(t *testing.T) {
	good, _ := Marshal(msg{V: 1})
	unknown, _ := Marshal(map[int]any{0: 1, 9: "future"})
	cases := map[string]struct {
		data []byte
		want error
	}{
		"good":          {good, nil},
		"trailing":      {append(append([]byte{}, good...), 0x00), ErrMalformed},
		"unknown field": {unknown, ErrMalformed},
		"duplicate key": {[]byte{0xa2, 0x00, 0x01, 0x00, 0x02}, ErrMalformed},
		"indefinite":    {[]byte{0xbf, 0x00, 0x01, 0xff}, ErrMalformed},
		"too many":      {append([]byte{0x9a, 0x00, 0x01, 0x00, 0x00}, make([]byte, 65536)...), ErrTooLarge},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var m msg
			var arr []int
			var err error
			if name == "too many" {
				err = Unmarshal(tc.data, &arr)
			} else {
				err = Unmarshal(tc.data, &m)
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzReadFrame: no input panics the reader or makes it accept a frame
// over its limit.
func FuzzReadFrame(f *testing.F) {
	good, _ := Marshal(msg{V: 1, Data: []byte("x")})
	f.Add(append(binary.AppendUvarint(nil, uint64(len(good))), good...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 128)
		for i := 0; i < 4; i++ {
			var m msg
			if err := r.ReadFrame(&m); err != nil {
				return
			}
			if len(m.Data) > 128 {
				t.Fatalf("decoded %d bytes from a 128-byte frame", len(m.Data))
			}
		}
	})
}
