package sframe

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrCounterExhausted: a Sender used every CTR value of its key.
var ErrCounterExhausted = errors.New("sframe: counter exhausted")

// Sender encrypts one sender's frames under one key, with CTR counting up
// from where it was told to start, so no (key, CTR) pair is ever used twice
// by it. Safe for concurrent use.
type Sender struct {
	mu   sync.Mutex
	key  *Key
	next uint64
	done bool
}

// NewSender makes a Sender for kid and baseKey whose first frame has CTR
// first. A base key must have exactly one Sender for its whole life (RFC
// 9605 Section 4.4.1): a sender that may restart without remembering its
// counter must start from a value it cannot have used before, such as the
// time (rooms/roomkey does that).
func NewSender(suite Suite, kid uint64, baseKey []byte, first uint64) (*Sender, error) {
	k, err := DeriveKey(suite, kid, baseKey)
	if err != nil {
		return nil, err
	}
	return &Sender{key: k, next: first}, nil
}

// KID is the sender's KID.
func (s *Sender) KID() uint64 { return s.key.kid }

// Encrypt appends the SFrame ciphertext of plaintext (header, ciphertext,
// tag) to dst, which must not overlap plaintext.
func (s *Sender) Encrypt(dst, metadata, plaintext []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, fmt.Errorf("%w: KID %d", ErrCounterExhausted, s.key.kid)
	}
	ctr := s.next
	if ctr == math.MaxUint64 {
		s.done = true
	} else {
		s.next++
	}
	return s.key.Seal(dst, ctr, metadata, plaintext), nil
}

// Overhead is what Encrypt adds to a frame whose CTR is ctr.
func (s *Sender) Overhead(ctr uint64) int {
	return Header{KID: s.key.kid, CTR: ctr}.Size() + s.key.aead.Overhead()
}

// ReplayWindow is how far behind the highest CTR seen a frame may arrive
// and still be accepted (once): 128 frames, 2.56 s of 20 ms audio, far more
// than any jitter buffer waits.
const ReplayWindow = 128

// MaxKeys bounds the KIDs a Receiver holds at once: the current epoch and
// the few before it whose frames may still be in flight.
const MaxKeys = 8

// ErrUnknownKID: no key for the frame's KID. RFC 9605 lets a receiver
// keep such a frame until the key arrives; the caller decides.
var ErrUnknownKID = errors.New("sframe: unknown KID")

// ErrReplay: a CTR already accepted, or older than the replay window.
var ErrReplay = errors.New("sframe: replayed frame")

// Receiver decrypts one sender's frames under the keys it was given, by
// KID, and accepts each CTR of each KID at most once. Safe for concurrent
// use.
type Receiver struct {
	mu   sync.Mutex
	keys map[uint64]*rxKey
}

type rxKey struct {
	key    *Key
	seen   bool
	high   uint64                    // highest CTR accepted
	window [ReplayWindow / 64]uint64 // bit i: high-i accepted
}

// NewReceiver makes a Receiver with no keys.
func NewReceiver() *Receiver { return &Receiver{keys: map[uint64]*rxKey{}} }

// AddKey installs the key for kid; with MaxKeys keys already held, the
// lowest KID is dropped first (KIDs grow with epochs). Adding a KID already
// held replaces its key and forgets its replay window only if the key
// differs.
func (r *Receiver) AddKey(suite Suite, kid uint64, baseKey []byte) error {
	k, err := DeriveKey(suite, kid, baseKey)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.keys[kid]; ok && old.key.suite == suite && old.key.salt == k.salt {
		return nil
	}
	if _, ok := r.keys[kid]; !ok && len(r.keys) >= MaxKeys {
		lowest := uint64(math.MaxUint64)
		for id := range r.keys {
			lowest = min(lowest, id)
		}
		delete(r.keys, lowest)
	}
	r.keys[kid] = &rxKey{key: k}
	return nil
}

// RemoveKey forgets kid's key: frames under it no longer decrypt.
func (r *Receiver) RemoveKey(kid uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.keys, kid)
}

// Decrypt authenticates and decrypts frame, appends the plaintext to dst,
// and returns it with the frame's header. A frame is refused if its KID is
// unknown, it does not authenticate, or its CTR was accepted before or is
// older than the window; only an authentic frame moves the window.
func (r *Receiver) Decrypt(dst, metadata, frame []byte) ([]byte, Header, error) {
	h, n, err := ParseHeader(frame)
	if err != nil {
		return nil, Header{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.keys[h.KID]
	if !ok {
		return nil, h, fmt.Errorf("%w: %d", ErrUnknownKID, h.KID)
	}
	if !k.fresh(h.CTR) {
		return nil, h, fmt.Errorf("%w: KID %d CTR %d", ErrReplay, h.KID, h.CTR)
	}
	out, _, err := k.key.open(dst, metadata, frame, h, n)
	if err != nil {
		return nil, h, err
	}
	k.accept(h.CTR)
	return out, h, nil
}

// fresh reports whether ctr is new and inside the window.
func (k *rxKey) fresh(ctr uint64) bool {
	if !k.seen || ctr > k.high {
		return true
	}
	d := k.high - ctr
	return d < ReplayWindow && k.window[d/64]&(1<<(d%64)) == 0
}

// accept records ctr, sliding the window when ctr is the new highest.
func (k *rxKey) accept(ctr uint64) {
	if !k.seen {
		k.seen, k.high, k.window = true, ctr, [ReplayWindow / 64]uint64{1}
		return
	}
	if ctr > k.high {
		k.window = shift(k.window, ctr-k.high)
		k.high = ctr
		k.window[0] |= 1
		return
	}
	d := k.high - ctr
	k.window[d/64] |= 1 << (d % 64)
}

// shift moves the window's bits up by n (bit i becomes bit i+n).
func shift(w [ReplayWindow / 64]uint64, n uint64) [ReplayWindow / 64]uint64 {
	var out [ReplayWindow / 64]uint64
	if n >= ReplayWindow {
		return out
	}
	words, rem := int(n/64), n%64
	for i := len(w) - 1; i >= words; i-- {
		out[i] = w[i-words] << rem
		if rem != 0 && i-words-1 >= 0 {
			out[i] |= w[i-words-1] >> (64 - rem)
		}
	}
	return out
}
