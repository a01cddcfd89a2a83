package roomkey

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/sframe"
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/rooms"
)

// DefaultSuite is the SFrame cipher suite of new epochs: AES-CTR with an
// 80-bit HMAC tag, 6 bytes per packet less than GCM's 128-bit tag (2.4
// kbit/s of a 32 kbit/s stream), and still a full-strength forgery bound
// for packets that must also carry the speaker's signature.
const DefaultSuite = sframe.AES128CTRHMACSHA256_80

// SecretSize is the length of a room secret.
const SecretSize = 32

// Secret is a closed room's key for one epoch. Every participant holds it;
// each speaker encrypts with a base key derived from it and their own peer
// ID, so no two speakers share an SFrame key.
type Secret struct {
	Room  rooms.RoomID
	Epoch uint64 // from 1; the SFrame KID of every frame of the epoch
	Suite sframe.Suite
	// Created is when the host made the epoch; speakers count their SFrame
	// CTR from it (see Sender).
	Created time.Time
	Key     [SecretSize]byte
}

// New draws the secret of a new epoch.
func New(room rooms.RoomID, epoch uint64, suite sframe.Suite, now time.Time) (Secret, error) {
	s := Secret{Room: room, Epoch: epoch, Suite: suite, Created: now.UTC().Truncate(time.Millisecond)}
	if _, err := rand.Read(s.Key[:]); err != nil {
		return Secret{}, fmt.Errorf("room secret: %w", err)
	}
	return s, s.check()
}

func (s *Secret) check() error {
	if _, err := rooms.ParseRoomID(string(s.Room)); err != nil || s.Room == "" {
		return fmt.Errorf("room secret: %w: room %q", rooms.ErrMalformed, s.Room)
	}
	if s.Epoch == 0 || s.Epoch > MaxEpoch {
		return fmt.Errorf("room secret: %w: epoch %d (1..%d)", rooms.ErrMalformed, s.Epoch, uint64(MaxEpoch))
	}
	if !s.Suite.Valid() {
		return fmt.Errorf("room secret: %w: %s", sframe.ErrUnknownSuite, s.Suite)
	}
	if s.Created.UnixMilli() <= 0 {
		return fmt.Errorf("room secret: %w: no creation time", rooms.ErrMalformed)
	}
	return nil
}

// MaxEpoch bounds epochs so a KID stays within 4 bytes of SFrame header.
const MaxEpoch = 1<<32 - 1

// BaseKey is sender's SFrame base key for the epoch: HKDF-SHA256 of the
// secret, bound to the room, the epoch and the sender.
func (s *Secret) BaseKey(sender peer.ID) []byte {
	info := make([]byte, 0, 96)
	info = append(info, "clubnode/roomkey/v1 sframe base key\x00"...)
	info = binary.AppendUvarint(info, uint64(len(s.Room)))
	info = append(info, s.Room...)
	info = binary.BigEndian.AppendUint64(info, s.Epoch)
	info = append(info, sender...)
	k, err := hkdf.Key(sha256.New, s.Key[:], nil, string(info), 32)
	if err != nil {
		panic(err) // only for lengths over 255 hash outputs
	}
	return k
}

// ErrTooFast: a sender encrypting faster than its counter may run (more
// than 1000 frames a second).
var ErrTooFast = errors.New("room key: sender counter ahead of its clock")

// Sender encrypts this node's audio in one epoch. Safe for concurrent use.
//
// SFrame needs every (key, CTR) pair used once, and a node that restarts
// does not remember its last CTR. So CTR starts from the clock: the
// milliseconds since the epoch was created plus twice identity.ClockSkew
// (so a clock that is behind the host's still counts up from a positive
// value), and never runs ahead of that clock (at most one frame per
// millisecond, twenty times the rate of 20 ms audio). A node that
// restarts therefore starts above every CTR it used, as long as its clock
// does not step back by more than the restart took. The CTR stays in 3
// bytes for the first 4.6 hours of an epoch. A clock still behind the
// epoch's creation after that margin falls back to Unix milliseconds (6
// bytes), a range the first form never reaches.
type Sender struct {
	mu       sync.Mutex
	key      *sframe.Key
	epoch    uint64
	created  time.Time
	absolute bool
	next     uint64
}

// NewSender makes the Sender of self in the secret's epoch.
func NewSender(s Secret, self peer.ID, now time.Time) (*Sender, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	key, err := sframe.DeriveKey(s.Suite, s.Epoch, s.BaseKey(self))
	if err != nil {
		return nil, fmt.Errorf("room key: %w", err)
	}
	snd := &Sender{key: key, epoch: s.Epoch, created: s.Created}
	snd.absolute = now.Sub(s.Created)+2*identity.ClockSkew < 0
	snd.next = snd.clock(now)
	return snd, nil
}

// clock is the highest CTR the sender may use at now.
func (s *Sender) clock(now time.Time) uint64 {
	if s.absolute {
		return uint64(max(now.UnixMilli(), 0))
	}
	return uint64(max((now.Sub(s.created) + 2*identity.ClockSkew).Milliseconds(), 0))
}

// Epoch is the sender's epoch (its frames' KID).
func (s *Sender) Epoch() uint64 { return s.epoch }

// Encrypt appends the SFrame ciphertext of one frame to dst.
func (s *Sender) Encrypt(dst, plaintext []byte, now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next > s.clock(now) {
		return nil, fmt.Errorf("%w: CTR %d at %s", ErrTooFast, s.next, now.Format(time.RFC3339Nano))
	}
	ctr := s.next
	s.next++
	return s.key.Seal(dst, ctr, nil, plaintext), nil
}
