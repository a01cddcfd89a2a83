package roomkey

import (
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/sframe"
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/wire"
	"github.com/clubnode/clubnode/rooms"
)

// ErrUnwrap: the wrapped secret does not open with this key: the delivery
// is someone else's, or was changed.
var ErrUnwrap = errors.New("secret does not unwrap with this key")

// MaxDeliverySize bounds an enveloped key delivery (about 330 bytes).
const MaxDeliverySize = 1 << 10

// The HPKE suite that wraps secrets: DHKEM(X25519, HKDF-SHA256) on the
// X25519 form of the recipient's member key, HKDF-SHA256, ChaCha20Poly1305
// (RFC 9180's mode 0x00, base; the host's signature on the delivery
// authenticates the sender).
var (
	wrapKDF  = hpke.HKDFSHA256()
	wrapAEAD = hpke.ChaCha20Poly1305()
)

// Sizes of a wrapped secret: the X25519 encapsulated key, and the secret
// plus the AEAD tag.
const (
	encSize        = 32
	ciphertextSize = SecretSize + 16
)

// Delivery is an epoch's secret for one participant, wrapped for them and
// signed by the host: what the host sends each participant when it starts
// an epoch, and to each who joins during one.
type Delivery struct {
	Room      rooms.RoomID
	Epoch     uint64
	Suite     sframe.Suite
	Created   time.Time
	Host      peer.ID // who made the epoch and signs the delivery
	Recipient peer.ID
	Enc       []byte // HPKE encapsulated key
	Sealed    []byte // the secret, encrypted for Recipient
}

// SignedDelivery is a delivery with the envelope bytes that carry it.
type SignedDelivery struct {
	Delivery
	Bytes []byte
}

type deliveryWire struct {
	V         int    `cbor:"0,keyasint"`
	Room      string `cbor:"1,keyasint"`
	Epoch     uint64 `cbor:"2,keyasint"`
	Suite     uint16 `cbor:"3,keyasint"`
	Created   int64  `cbor:"4,keyasint"`
	Host      []byte `cbor:"5,keyasint"`
	Recipient []byte `cbor:"6,keyasint"`
	Enc       []byte `cbor:"7,keyasint"`
	Sealed    []byte `cbor:"8,keyasint"`
}

var payloads = wire.NewDecoder(wire.Limits{MaxArrayElements: 16, MaxMapPairs: 16})

func (d *Delivery) Domain() string { return "clubnode/room-key/v1" }
func (d *Delivery) Codec() []byte  { return []byte("/clubnode/room-key") }

func (d *Delivery) MarshalRecord() ([]byte, error) {
	return wire.Marshal(deliveryWire{V: identity.Version, Room: string(d.Room), Epoch: d.Epoch, Suite: uint16(d.Suite),
		Created: d.Created.UnixMilli(), Host: []byte(d.Host), Recipient: []byte(d.Recipient), Enc: d.Enc, Sealed: d.Sealed})
}

func (d *Delivery) UnmarshalRecord(data []byte) error {
	var w deliveryWire
	if err := identity.DecodeVersioned(payloads, data, &w); err != nil {
		return err
	}
	out := Delivery{Room: rooms.RoomID(w.Room), Epoch: w.Epoch, Suite: sframe.Suite(w.Suite),
		Created: time.UnixMilli(w.Created).UTC(), Enc: w.Enc, Sealed: w.Sealed}
	var err error
	if out.Host, err = peerFromBytes("host", w.Host); err != nil {
		return err
	}
	if out.Recipient, err = peerFromBytes("recipient", w.Recipient); err != nil {
		return err
	}
	s := Secret{Room: out.Room, Epoch: out.Epoch, Suite: out.Suite, Created: out.Created}
	if err := s.check(); err != nil || w.Created > maxMillis {
		return fmt.Errorf("%w: %v", rooms.ErrMalformed, err)
	}
	if parsed, _ := rooms.ParseRoomID(w.Room); string(parsed) != w.Room {
		return fmt.Errorf("%w: room id %q is not canonical", rooms.ErrMalformed, w.Room)
	}
	if len(out.Enc) != encSize || len(out.Sealed) != ciphertextSize {
		return fmt.Errorf("%w: wrapped secret of %d+%d bytes", rooms.ErrMalformed, len(out.Enc), len(out.Sealed))
	}
	*d = out
	return nil
}

// maxMillis is the end of year 9999 in Unix milliseconds.
const maxMillis = 253402300799999

func peerFromBytes(field string, b []byte) (peer.ID, error) {
	if len(b) > 64 {
		return "", fmt.Errorf("%w: %s: %d-byte peer ID", rooms.ErrMalformed, field, len(b))
	}
	id, err := peer.IDFromBytes(b)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", rooms.ErrMalformed, field, err)
	}
	return id, nil
}

// wrapInfo is the HPKE info: it binds the wrapped key to its room, epoch,
// suite, creation time, host and recipient, so a wrapped secret cannot be
// presented as another epoch's, another room's, or someone else's.
func wrapInfo(d *Delivery) []byte {
	b := []byte("clubnode/roomkey/v1 wrap\x00")
	for _, f := range [][]byte{[]byte(d.Room), []byte(d.Host), []byte(d.Recipient)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint64(b, d.Epoch)
	b = binary.BigEndian.AppendUint16(b, uint16(d.Suite))
	return binary.BigEndian.AppendUint64(b, uint64(d.Created.UnixMilli()))
}

// Deliver wraps s for recipient and signs the delivery with the host's key.
func Deliver(host crypto.PrivKey, s Secret, recipient peer.ID) (*SignedDelivery, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	hostID, err := peer.IDFromPrivateKey(host)
	if err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	pub, err := identity.X25519PublicKey(recipient)
	if err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	d := Delivery{Room: s.Room, Epoch: s.Epoch, Suite: s.Suite, Created: s.Created.UTC().Truncate(time.Millisecond),
		Host: hostID, Recipient: recipient}
	enc, sender, err := hpke.NewSender(pk, wrapKDF, wrapAEAD, wrapInfo(&d))
	if err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	if d.Sealed, err = sender.Seal(nil, s.Key[:]); err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	d.Enc = enc
	data, err := identity.SealRecord(&d, host)
	if err != nil {
		return nil, fmt.Errorf("key delivery: %w", err)
	}
	return &SignedDelivery{Delivery: d, Bytes: data}, nil
}

// ParseDelivery verifies a delivery's envelope and decodes it. Whether its
// host is the room's host is the caller's question (Check).
func ParseDelivery(data []byte) (*SignedDelivery, error) {
	var d Delivery
	signer, err := identity.OpenRecord("key delivery", data, MaxDeliverySize, &d)
	if err != nil {
		return nil, err
	}
	if signer != d.Host {
		return nil, fmt.Errorf("key delivery: %w: signed by %s, made by %s", rooms.ErrBadSignature, signer, d.Host)
	}
	return &SignedDelivery{Delivery: d, Bytes: append([]byte(nil), data...)}, nil
}

// Check says whether the delivery counts for self in the room whose state
// is st: for this room, from its current host, for self.
func (d *Delivery) Check(st *rooms.State, self peer.ID) error {
	switch {
	case d.Room != st.Room:
		return fmt.Errorf("key delivery: %w: it is for %s", rooms.ErrUnknownRoom, d.Room)
	case d.Host != st.Host:
		return fmt.Errorf("key delivery: %w: made by %s, the host is %s", rooms.ErrNotAllowed, d.Host, st.Host)
	case d.Recipient != self:
		return fmt.Errorf("key delivery: %w: it is %s's", rooms.ErrNotAllowed, d.Recipient)
	}
	return nil
}

// Open unwraps the secret with the recipient's key. Anyone else's key
// fails, as does a delivery whose bound fields were changed.
func (d *Delivery) Open(key crypto.PrivKey) (Secret, error) {
	priv, err := identity.X25519PrivateKey(key)
	if err != nil {
		return Secret{}, fmt.Errorf("key delivery: %w", err)
	}
	sk, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return Secret{}, fmt.Errorf("key delivery: %w", err)
	}
	r, err := hpke.NewRecipient(d.Enc, sk, wrapKDF, wrapAEAD, wrapInfo(d))
	if err != nil {
		return Secret{}, fmt.Errorf("key delivery: %w", err)
	}
	plain, err := r.Open(nil, d.Sealed)
	if err != nil || len(plain) != SecretSize {
		return Secret{}, fmt.Errorf("key delivery: %w", ErrUnwrap)
	}
	s := Secret{Room: d.Room, Epoch: d.Epoch, Suite: d.Suite, Created: d.Created}
	copy(s.Key[:], plain)
	return s, s.check()
}
