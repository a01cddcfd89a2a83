package roomkey

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/sframe"
	"github.com/clubnode/clubnode/rooms"
)

// MaxEpochs is how many epochs a Keyring keeps: the current one and a few
// before it, whose frames may still be in flight during a change.
const MaxEpochs = 4

// ErrNoKey: a frame from an epoch this node has no secret for (not yet
// delivered, or never: a removed participant's case).
var ErrNoKey = errors.New("room key: no key for that epoch")

// Keyring is what a participant holds of a closed room's keys: the secrets
// of the last few epochs, and a decryptor (with its replay window) per
// speaker. Safe for concurrent use.
type Keyring struct {
	room rooms.RoomID

	mu        sync.Mutex
	secrets   []Secret // sorted by epoch
	receivers map[peer.ID]*sframe.Receiver
}

// NewKeyring makes an empty keyring for room.
func NewKeyring(room rooms.RoomID) *Keyring {
	return &Keyring{room: room, receivers: map[peer.ID]*sframe.Receiver{}}
}

// Add installs an epoch's secret, dropping the oldest beyond MaxEpochs.
// Adding an epoch again with the same secret changes nothing; with another
// secret it is refused (a host never reuses an epoch number).
func (k *Keyring) Add(s Secret) error {
	if err := s.check(); err != nil {
		return err
	}
	if s.Room != k.room {
		return fmt.Errorf("room key: %w: secret for %s, keyring for %s", rooms.ErrUnknownRoom, s.Room, k.room)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	i, found := slices.BinarySearchFunc(k.secrets, s.Epoch, func(x Secret, e uint64) int { return cmp.Compare(x.Epoch, e) })
	if found {
		if k.secrets[i] != s {
			return fmt.Errorf("room key: epoch %d delivered twice with different secrets", s.Epoch)
		}
		return nil
	}
	if len(k.secrets) == MaxEpochs && i == 0 {
		return fmt.Errorf("room key: epoch %d is older than the %d kept", s.Epoch, MaxEpochs)
	}
	k.secrets = slices.Insert(k.secrets, i, s)
	for speaker, r := range k.receivers {
		if err := r.AddKey(s.Suite, s.Epoch, s.BaseKey(speaker)); err != nil {
			return fmt.Errorf("room key: %w", err)
		}
	}
	if len(k.secrets) > MaxEpochs {
		k.dropLocked(k.secrets[0].Epoch + 1)
	}
	return nil
}

// Current is the newest epoch's secret.
func (k *Keyring) Current() (Secret, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.secrets) == 0 {
		return Secret{}, false
	}
	return k.secrets[len(k.secrets)-1], true
}

// Drop forgets every epoch before epoch: once a change has settled, frames
// of old epochs no longer decrypt here.
func (k *Keyring) Drop(epoch uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dropLocked(epoch)
}

func (k *Keyring) dropLocked(epoch uint64) {
	for len(k.secrets) > 0 && k.secrets[0].Epoch < epoch {
		old := k.secrets[0].Epoch
		k.secrets = k.secrets[1:]
		for _, r := range k.receivers {
			r.RemoveKey(old)
		}
	}
}

// Decrypt decrypts one frame from speaker and appends the plaintext to
// dst. It fails for an epoch it has no secret for (ErrNoKey), a frame that
// does not authenticate under the speaker's key, and a replay.
func (k *Keyring) Decrypt(dst []byte, speaker peer.ID, frame []byte) ([]byte, error) {
	r, err := k.receiver(speaker)
	if err != nil {
		return nil, err
	}
	out, h, err := r.Decrypt(dst, nil, frame)
	if errors.Is(err, sframe.ErrUnknownKID) {
		return nil, fmt.Errorf("%w: %d", ErrNoKey, h.KID)
	}
	if err != nil {
		return nil, fmt.Errorf("room key: %s's frame: %w", speaker, err)
	}
	return out, nil
}

func (k *Keyring) receiver(speaker peer.ID) (*sframe.Receiver, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r := k.receivers[speaker]; r != nil {
		return r, nil
	}
	if len(k.receivers) >= rooms.MaxStage {
		// Someone who left the stage: the next frame from them rebuilds it.
		for p := range k.receivers {
			delete(k.receivers, p)
			break
		}
	}
	r := sframe.NewReceiver()
	for _, s := range k.secrets {
		if err := r.AddKey(s.Suite, s.Epoch, s.BaseKey(speaker)); err != nil {
			return nil, fmt.Errorf("room key: %w", err)
		}
	}
	k.receivers[speaker] = r
	return r, nil
}
