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
var ErrMalformed = errors.New("malformed message")

// ErrTooLarge marks a frame over the reader's limit.
var ErrTooLarge = errors.New("message too large")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  4096,
		MaxMapPairs:       64,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes v deterministically.
func Marshal(v any) ([]byte, error) {
	data, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return data, nil
}

// Unmarshal decodes data into v strictly: unknown fields, duplicate keys and
// trailing bytes are errors.
func Unmarshal(data []byte, v any) error {
	rest, err := decMode.UnmarshalFirst(data, v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	return nil
}

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
