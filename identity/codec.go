package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/clubnode/clubnode/internal/wire"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/core/record/pb"
	"google.golang.org/protobuf/proto"
)

// Version is the only payload version this code understands. A payload with
// another version is refused rather than half-understood.
const Version = 1

// Size limits of the encoded (enveloped) objects. They are far above what an
// honest object needs and small enough that a hostile one costs little.
const (
	MaxCharterSize    = 1 << 10
	MaxCertSize       = 1 << 10
	MaxChainLength    = 32
	MaxChainSize      = MaxCharterSize + MaxChainLength*MaxCertSize + 64
	MaxInviteSize     = MaxChainSize + MaxCertSize + 4<<10
	MaxRevocationSize = MaxChainSize + MaxKeep*40 + 1<<10
	// A profile holds up to MaxNameLength + MaxBioLength characters of up
	// to four bytes each, plus about 300 bytes of envelope.
	MaxProfileSize = 8 << 10
	MaxNameLength  = 64
	MaxBioLength   = 1 << 10
)

// Sentinel errors that callers test with errors.Is. The wrapped message says
// which object and which field was wrong.
var (
	ErrTooLarge       = wire.ErrTooLarge
	ErrMalformed      = wire.ErrMalformed
	ErrBadSignature   = errors.New("bad signature")
	ErrBadVersion     = errors.New("unsupported version")
	ErrExpired        = errors.New("expired")
	ErrNotYetValid    = errors.New("not yet valid")
	ErrWrongNetwork   = errors.New("wrong network")
	ErrRevoked        = errors.New("revoked")
	ErrBrokenChain    = errors.New("broken chain")
	ErrNotAuthorized  = errors.New("not authorized")
	ErrUnsupportedKey = errors.New("unsupported key type")
)

// payloads decodes every payload: no valid one has more elements than the
// longest chain.
var payloads = wire.NewDecoder(wire.Limits{MaxArrayElements: MaxChainLength + 16, MaxMapPairs: 16})

// versionOnly is the common first field of every payload.
type versionOnly struct {
	V int `cbor:"0,keyasint"`
}

// decodePayload checks the version, then decodes strictly. The version is
// read first, leniently, so a payload from a newer release is refused as
// "unsupported version" rather than as an unknown field.
func decodePayload(data []byte, v any) error { return DecodeVersioned(payloads, data, v) }

func marshal(v any) ([]byte, error) { return wire.Marshal(v) }

// signable is a payload that can be sealed in an envelope. Each type has its
// own domain string and codec, so signatures cannot be reused across types.
type signable interface {
	record.Record
}

// seal signs rec with key and returns the exact envelope bytes.
func seal(rec signable, key crypto.PrivKey) ([]byte, error) {
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedKey, key.Type())
	}
	env, err := record.Seal(rec, key)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", rec.Domain(), err)
	}
	return env.Marshal()
}

// open checks size, key type, domain, payload type and signature of an
// envelope, decodes its payload into rec and returns the signer's peer ID.
func open(what string, data []byte, limit int, rec signable) (peer.ID, error) {
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
	// An envelope cut short at a field boundary still parses, without its
	// payload or signature: say it is malformed (truncated), not forged.
	var fields pb.Envelope
	if err := proto.Unmarshal(data, &fields); err != nil {
		return "", fmt.Errorf("%s: %w: %v", what, ErrMalformed, err)
	}
	if len(fields.Payload) == 0 || len(fields.Signature) != ed25519.SignatureSize {
		return "", fmt.Errorf("%s: %w: %d-byte payload, %d-byte signature (truncated?)", what, ErrMalformed, len(fields.Payload), len(fields.Signature))
	}
	// The signature covers the payload, not the envelope around it: accept
	// only the encoding Seal makes, so that a signed object has one byte
	// form and nobody but its signer can make another.
	if canon, err := env.Marshal(); err != nil || !bytes.Equal(canon, data) {
		return "", fmt.Errorf("%s: %w: envelope not in canonical form", what, ErrMalformed)
	}
	if !bytes.Equal(env.PayloadType, rec.Codec()) {
		return "", fmt.Errorf("%s: %w: payload type %q", what, ErrMalformed, env.PayloadType)
	}
	if _, err := record.ConsumeTypedEnvelope(data, rec); err != nil {
		if errors.Is(err, record.ErrInvalidSignature) {
			return "", fmt.Errorf("%s: %w (tampered or signed for another purpose)", what, ErrBadSignature)
		}
		// The payload's own decoder failed: keep its reason (a nested
		// chain may be too long, broken or badly signed).
		for _, reason := range []error{ErrBadVersion, ErrMalformed, ErrTooLarge, ErrBadSignature,
			ErrBrokenChain, ErrWrongNetwork, ErrNotAuthorized, ErrUnsupportedKey} {
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

// peerIDFromBytes decodes a peer ID carried as bytes in a payload.
func peerIDFromBytes(field string, b []byte) (peer.ID, error) {
	id, err := peer.IDFromBytes(b)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return id, nil
}

// SealRecord signs a clubnode record that lives outside this package (room
// states, requests, tickets, announcements) exactly as identity's own
// objects are signed: Ed25519 only, libp2p envelope, domain separation.
func SealRecord(rec record.Record, key crypto.PrivKey) ([]byte, error) { return seal(rec, key) }

// OpenRecord verifies and decodes an envelope sealed by SealRecord, with
// every check identity applies to its own objects (size first, key type,
// truncation, canonical form, payload type, signature), and returns the
// signer. what names the object in errors.
func OpenRecord(what string, data []byte, limit int, rec record.Record) (peer.ID, error) {
	return open(what, data, limit, rec)
}

// DecodeVersioned decodes a record's CBOR payload with dec the way
// identity's own payloads are decoded: the version field (key 0) first,
// leniently, refusing anything but Version, so a payload from a newer
// release is named as such rather than as an unknown field; then strictly.
func DecodeVersioned(dec *wire.Decoder, data []byte, v any) error {
	var ver versionOnly
	if err := dec.UnmarshalLenient(data, &ver); err != nil {
		return err
	}
	if ver.V != Version {
		return fmt.Errorf("%w %d (this node understands %d)", ErrBadVersion, ver.V, Version)
	}
	return dec.Unmarshal(data, v)
}
