// Package wire encodes clubnode's messages on libp2p streams: deterministic
// CBOR decoded strictly, in length-prefixed frames with a size limit, so a
// peer can never make a reader allocate more than the limit it chose.
package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-msgio"
)

// ErrMalformed marks bytes that do not decode into the expected message.
var ErrMalformed = errors.New("malformed")

// ErrTooLarge marks input over a limit: a frame longer than the reader
// allows, or more array elements, map pairs or nesting than the decoder's
// limits.
var ErrTooLarge = errors.New("too large")

// encMode is core deterministic encoding: the same value always gives the
// same bytes, which signatures over payloads rely on.
var encMode = must(cbor.CoreDetEncOptions().EncMode())

// streamMessages decodes the frames of stream protocols.
var streamMessages = NewDecoder(Limits{MaxArrayElements: 4096, MaxMapPairs: 64})

func must[T any](v T, err error) T {
	if err != nil {
		panic(err) // only reachable with invalid constant options
	}
	return v
}

// Limits bound what a Decoder accepts beyond the byte length itself.
type Limits struct {
	MaxArrayElements int // at least 16
	MaxMapPairs      int // at least 16
}

// Decoder decodes CBOR strictly within limits. It is immutable and safe
// for concurrent use.
type Decoder struct {
	strict  cbor.DecMode
	lenient cbor.DecMode
}

// NewDecoder makes a decoder with the given limits. It panics on limits
// the CBOR library refuses (below 16), which only a programming error gives.
func NewDecoder(l Limits) *Decoder {
	base := cbor.DecOptions{
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  8,
		MaxArrayElements: l.MaxArrayElements,
		MaxMapPairs:      l.MaxMapPairs,
	}
	lenient := must(base.DecMode())
	base.DupMapKey = cbor.DupMapKeyEnforcedAPF
	base.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	return &Decoder{strict: must(base.DecMode()), lenient: lenient}
}

// Unmarshal decodes data into v strictly: unknown fields, duplicate keys,
// indefinite lengths, tags and trailing bytes are errors.
func (d *Decoder) Unmarshal(data []byte, v any) error {
	rest, err := d.strict.UnmarshalFirst(data, v)
	if err != nil {
		return classify(err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return nil
}

// UnmarshalLenient decodes the fields of v that data has and ignores the
// rest, for reading a version number before deciding how to decode.
func (d *Decoder) UnmarshalLenient(data []byte, v any) error {
	if err := d.lenient.Unmarshal(data, v); err != nil {
		return classify(err)
	}
	return nil
}

// classify wraps a CBOR error: structures past the limits are too large,
// anything else is malformed.
func classify(err error) error {
	var (
		elems *cbor.MaxArrayElementsError
		pairs *cbor.MaxMapPairsError
		depth *cbor.MaxNestedLevelError
	)
	if errors.As(err, &elems) || errors.As(err, &pairs) || errors.As(err, &depth) {
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// Marshal encodes v deterministically.
func Marshal(v any) ([]byte, error) {
	data, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return data, nil
}

// Unmarshal decodes a stream message into v with the stream limits (4096
// array elements, 64 map pairs).
func Unmarshal(data []byte, v any) error { return streamMessages.Unmarshal(data, v) }

// WriteFrame encodes v and writes it as one varint-length-prefixed frame.
func WriteFrame(w io.Writer, v any) error {
	data, err := Marshal(v)
	if err != nil {
		return err
	}
	if err := msgio.NewVarintWriter(w).WriteMsg(data); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Reader reads frames of at most a fixed size.
type Reader struct {
	r     msgio.ReadCloser
	limit int
}

// NewReader reads frames from r, refusing any longer than limit bytes.
func NewReader(r io.Reader, limit int) *Reader {
	return &Reader{r: msgio.NewVarintReaderSize(r, limit), limit: limit}
}

// ReadFrame reads the next frame and decodes it into v. At the end of the
// stream it returns io.EOF.
func (r *Reader) ReadFrame(v any) error {
	data, err := r.r.ReadMsg()
	if err != nil {
		if errors.Is(err, msgio.ErrMsgTooLarge) {
			return fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, r.limit)
		}
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("read frame: %w", err)
	}
	defer r.r.ReleaseMsg(data)
	return Unmarshal(data, v)
}
