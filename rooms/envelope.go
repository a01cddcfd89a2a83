package rooms

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
)

// Version is the only payload version this code understands: identity's,
// whose decoder checks it.
const Version = identity.Version

// maxPeerIDBytes bounds a peer ID in a payload. Ed25519 peer IDs are 38
// bytes; the limit leaves room for hashed IDs and makes size budgets exact.
const maxPeerIDBytes = 64

// maxMillis is the end of year 9999 in Unix milliseconds: any time past it
// is garbage, and refusing it keeps times round-tripping exactly.
const maxMillis = 253402300799999

// decodePayload, seal and open are identity's: every signed object of the
// project is sealed and checked the same way.
func decodePayload(data []byte, v any) error { return identity.DecodeVersioned(payloads, data, v) }

// payloads decodes room payloads: a state lists up to MaxAudience peers.
var payloads = wire.NewDecoder(wire.Limits{MaxArrayElements: MaxAudience + 16, MaxMapPairs: 64})

func seal(rec record.Record, key crypto.PrivKey) ([]byte, error) {
	return identity.SealRecord(rec, key)
}

func open(what string, data []byte, limit int, rec record.Record) (peer.ID, error) {
	return identity.OpenRecord(what, data, limit, rec)
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
