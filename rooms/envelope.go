package rooms

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/clubnode/clubnode/internal/wire"
)

// Version is the only payload version this code understands. A payload with
// another version is refused rather than half-understood.
const Version = 1

// maxPeerIDBytes bounds a peer ID in a payload. Ed25519 peer IDs are 38
// bytes; the limit leaves room for hashed IDs and makes size budgets exact.
const maxPeerIDBytes = 64

// maxMillis is the end of year 9999 in Unix milliseconds: any time past it
// is garbage, and refusing it keeps times round-tripping exactly.
const maxMillis = 253402300799999

// decodePayload checks the version, then decodes strictly with the project's
// wire codec. The version is read first, from a map of raw fields, so that a
// payload from a newer release is refused as "unsupported version" rather
// than as an unknown field.
func decodePayload(data []byte, v any) error {
	var fields map[uint64]cbor.RawMessage
	if err := wire.Unmarshal(data, &fields); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	raw, ok := fields[0]
	if !ok {
		return fmt.Errorf("%w: no version field", ErrMalformed)
	}
	var ver int64
	if err := wire.Unmarshal(raw, &ver); err != nil {
		return fmt.Errorf("%w: version: %w", ErrMalformed, err)
	}
	if ver != Version {
		return fmt.Errorf("%w %d (this node understands %d)", ErrBadVersion, ver, Version)
	}
	if err := wire.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// seal signs rec with key and returns the exact envelope bytes.
func seal(rec record.Record, key crypto.PrivKey) ([]byte, error) {
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedKey, key.Type())
	}
	env, err := record.Seal(rec, key)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", rec.Domain(), err)
	}
	return env.Marshal()
}

// open checks size, key type, payload type and signature of an envelope,
// decodes its payload into rec and returns the signer. The size check comes
// first so that a hostile peer pays for its bytes, not we.
func open(what string, data []byte, limit int, rec record.Record) (peer.ID, error) {
	if len(data) > limit {
		return "", fmt.Errorf("%s: %w (%d bytes, limit %d)", what, ErrTooLarge, len(data), limit)
	}
	if len(data) == 0 {
		return "", fmt.Errorf("%s: %w: empty", what, ErrMalformed)
	}
	env, err := record.UnmarshalEnvelope(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", what, ErrMalformed, err)
	}
	if env.PublicKey.Type() != crypto.Ed25519 {
		return "", fmt.Errorf("%s: %w: %s", what, ErrUnsupportedKey, env.PublicKey.Type())
	}
	// An envelope cut short at a field boundary still parses without its
	// payload or signature: call it truncated, not forged.
	var fields pb.Envelope
	if err := proto.Unmarshal(data, &fields); err != nil {
		return "", fmt.Errorf("%s: %w: %v", what, ErrMalformed, err)
	}
	if len(fields.Payload) == 0 || len(fields.Signature) != ed25519.SignatureSize {
		return "", fmt.Errorf("%s: %w: %d-byte payload, %d-byte signature (truncated?)",
			what, ErrMalformed, len(fields.Payload), len(fields.Signature))
	}
	if !bytes.Equal(env.PayloadType, rec.Codec()) {
		return "", fmt.Errorf("%s: %w: payload type %q", what, ErrMalformed, env.PayloadType)
	}
	if _, err := record.ConsumeTypedEnvelope(data, rec); err != nil {
		if errors.Is(err, record.ErrInvalidSignature) {
			return "", fmt.Errorf("%s: %w (tampered or signed for another purpose)", what, ErrBadSignature)
		}
		for _, reason := range []error{ErrBadVersion, ErrMalformed, ErrTooLarge} {
			if errors.Is(err, reason) {
				return "", fmt.Errorf("%s: %w", what, err)
			}
		}
		return "", fmt.Errorf("%s: %w: %v", what, ErrMalformed, err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return "", fmt.Errorf("%s: signer: %w", what, err)
	}
	return signer, nil
}

// signerOf is the peer ID of key, for sign functions that check the key
// matches the object's author before sealing.
func signerOf(key crypto.PrivKey) (peer.ID, error) {
	if key == nil {
		return "", fmt.Errorf("%w: no key", ErrUnsupportedKey)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	return id, nil
}

// peerFromBytes decodes a peer ID carried as bytes in a payload.
func peerFromBytes(field string, b []byte) (peer.ID, error) {
	if len(b) > maxPeerIDBytes {
		return "", fmt.Errorf("%w: %s: %d-byte peer ID", ErrMalformed, field, len(b))
	}
	id, err := peer.IDFromBytes(b)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return id, nil
}

// peersFromBytes decodes a list of peer IDs; an empty list is nil so that a
// decoded value equals the one that was encoded.
func peersFromBytes(field string, bs [][]byte) ([]peer.ID, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]peer.ID, len(bs))
	for i, b := range bs {
		id, err := peerFromBytes(field, b)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

func peersToBytes(ids []peer.ID) [][]byte {
	if len(ids) == 0 {
		return nil
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = []byte(id)
	}
	return out
}

// millis encodes a time as Unix milliseconds; the zero time is 0 ("not
// set"), which is why 1970-01-01 itself cannot be expressed.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis decodes millis.
func fromMillis(field string, ms int64) (time.Time, error) {
	if ms < 0 || ms > maxMillis {
		return time.Time{}, fmt.Errorf("%w: %s is out of range", ErrMalformed, field)
	}
	if ms == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms).UTC(), nil
}

// checkTimes says whether times survive encoding: zero ("not set"), or
// after 1970-01-01 and before year 10000.
func checkTimes(ts ...time.Time) error {
	for _, t := range ts {
		if ms := t.UnixMilli(); !t.IsZero() && (ms <= 0 || ms > maxMillis) {
			return fmt.Errorf("time %s is out of range", t.Format(time.RFC3339))
		}
	}
	return nil
}

// roundTime is what a time becomes after encoding, so that sign functions
// return the value that a parser will see.
func roundTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}
