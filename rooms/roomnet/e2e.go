package roomnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomkey"
)

// End-to-end encryption of closed rooms (rooms/roomkey, audio/sframe): the
// host draws each epoch's secret and hands it, wrapped with HPKE for the
// participant's member key and signed, to each participant who asks
// (KeyProtocol); a speaker's node encrypts its Opus with SFrame under its
// own key of the epoch before signing, and every participant's node
// decrypts after verifying. Relays forward ciphertext: only participants
// hold the secret. The host starts a new epoch when roomkey.Rotate says
// (the room goes live, its host changes, someone leaves, is removed or
// banned), and participants ask for it on every new state and whenever a
// frame names an epoch they lack.

// KeyProtocol asks a closed room's host for the current epoch's secret.
const KeyProtocol protocol.ID = "/clubnode/room-key/1.0.0"

type keyRequest struct {
	Room string `cbor:"0,keyasint"`
}

type keyReply struct {
	Delivery []byte `cbor:"0,keyasint"`
}

var keyProto = rpc.Protocol[keyRequest, keyReply]{ID: KeyProtocol,
	MaxRequest: 512, MaxReply: roomkey.MaxDeliverySize + 64, Timeout: placeTimeout, Codes: Codes, Limited: true}

// refetchEvery bounds how often a node asks the host again because frames
// named an epoch it lacks.
const refetchEvery = 300 * time.Millisecond

// roomKeys is one room's keys on this node.
type roomKeys struct {
	encrypted atomic.Bool // the room's audio is encrypted end to end now
	ring      *roomkey.Keyring
	fetch     chan struct{} // capacity 1: ask the host for the current epoch

	mu       sync.Mutex
	last     *rooms.State // the state the host last rotated against
	secret   roomkey.Secret
	sender   *roomkey.Sender // this node's SFrame sender in the newest epoch held
	askedAt  time.Time
	failures atomic.Uint64 // frames that did not decrypt
}

func newRoomKeys(id rooms.RoomID) *roomKeys {
	return &roomKeys{ring: roomkey.NewKeyring(id), fetch: make(chan struct{}, 1)}
}

func (k *roomKeys) askSoon() {
	select {
	case k.fetch <- struct{}{}:
	default:
	}
}

// follow is called with each new state: the host rotates if it must, and
// everyone else asks for the epoch in force.
func (ms *mediaSession) followKeys(st *rooms.SignedState) {
	k := ms.keys
	k.encrypted.Store(roomkey.Encrypted(&st.State))
	if !roomkey.Encrypted(&st.State) {
		k.mu.Lock()
		k.last = nil
		k.mu.Unlock()
		return
	}
	if st.Host != ms.self() {
		k.mu.Lock()
		k.last = nil
		k.mu.Unlock()
		k.askSoon()
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	rot, err := roomkey.Rotate(k.last, &st.State)
	k.last = &st.State
	if err != nil || !rot.Rotate {
		return
	}
	epoch := uint64(1)
	if cur, ok := k.ring.Current(); ok {
		epoch = cur.Epoch + 1
	}
	s, err := roomkey.New(ms.room, epoch, roomkey.DefaultSuite, ms.m.now())
	if err == nil {
		err = k.install(s, ms.self(), ms.m.now())
	}
	if err != nil {
		ms.m.log.Warn("new room key", "room", ms.room, "err", err)
		return
	}
	ms.m.log.Info("new room key epoch", "room", ms.room, "epoch", epoch, "left", len(rot.Left), "host changed", rot.HostChanged)
}

// install adds s to the keyring and, if it is the newest, speaks in it.
// Callers hold mu.
func (k *roomKeys) install(s roomkey.Secret, self peer.ID, now time.Time) error {
	if err := k.ring.Add(s); err != nil {
		return err
	}
	if cur, _ := k.ring.Current(); cur.Epoch != s.Epoch || (k.sender != nil && k.sender.Epoch() == s.Epoch) {
		return nil
	}
	snd, err := roomkey.NewSender(s, self, now)
	if err != nil {
		return err
	}
	k.secret, k.sender = s, snd
	return nil
}

// keyLoop asks the host for the current epoch whenever told to.
func (ms *mediaSession) keyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ms.keys.fetch:
		}
		st, ok := ms.m.states.State(ms.room)
		if !ok || st.Host == ms.self() || !roomkey.Encrypted(&st.State) {
			continue
		}
		if err := ms.fetchKey(ctx, st); err != nil {
			ms.m.log.Debug("room key", "room", ms.room, "err", err)
		}
	}
}

func (ms *mediaSession) fetchKey(ctx context.Context, st *rooms.SignedState) error {
	reply, err := keyProto.Call(ctx, ms.m.host, st.Host, keyRequest{Room: string(ms.room)})
	if err != nil {
		return fmt.Errorf("ask %s for the room key: %w", st.Host, err)
	}
	d, err := roomkey.ParseDelivery(reply.Delivery)
	if err != nil {
		return err
	}
	if err := d.Check(&st.State, ms.self()); err != nil {
		return err
	}
	s, err := d.Open(ms.m.key)
	if err != nil {
		return err
	}
	ms.keys.mu.Lock()
	defer ms.keys.mu.Unlock()
	return ms.keys.install(s, ms.self(), ms.m.now())
}

// serveKey is the host's side of KeyProtocol: the current epoch, wrapped
// for the participant asking. Nobody else gets one.
func (m *media) serveKey(_ context.Context, from peer.ID, req keyRequest) (keyReply, error) {
	id, err := rooms.ParseRoomID(req.Room)
	if err != nil {
		return keyReply{}, err
	}
	st, ok := m.states.State(id)
	if !ok || st.Host != m.self() {
		return keyReply{}, fmt.Errorf("%w: %s is not hosted by this node", rooms.ErrUnknownRoom, id)
	}
	if !st.InRoom(from) || st.IsBanned(from) {
		return keyReply{}, fmt.Errorf("%w: only participants hold the room's key", rooms.ErrNotInRoom)
	}
	ms, ok := m.session(id)
	if !ok {
		return keyReply{}, fmt.Errorf("%w: no media for %s here", rooms.ErrNotLive, id)
	}
	ms.keys.mu.Lock()
	s, held := ms.keys.secret, ms.keys.sender != nil
	ms.keys.mu.Unlock()
	if !held || !roomkey.Encrypted(&st.State) {
		return keyReply{}, fmt.Errorf("%w: no key for %s yet", rooms.ErrNotLive, id)
	}
	d, err := roomkey.Deliver(m.key, s, from)
	if err != nil {
		return keyReply{}, err
	}
	return keyReply{Delivery: d.Bytes}, nil
}

// errNoRoomKey: this node holds no key of the closed room yet, so it
// sends nothing rather than audio in the clear.
var errNoRoomKey = errors.New("no key for this closed room yet")

// encrypt is the speaker's side: SFrame over the Opus payload, in a
// closed room; the payload unchanged elsewhere.
func (ms *mediaSession) encrypt(payload []byte) ([]byte, error) {
	k := ms.keys
	if !k.encrypted.Load() {
		return payload, nil
	}
	k.mu.Lock()
	snd := k.sender
	k.mu.Unlock()
	if snd == nil {
		k.askSoon()
		return nil, fmt.Errorf("%w: %w", ErrNoMedia, errNoRoomKey)
	}
	return snd.Encrypt(nil, payload, ms.m.now())
}

// decrypt is the player's side, after the signature check: nil if the
// frame does not decrypt (no key for its epoch: ask again, soon).
func (ms *mediaSession) decrypt(speaker peer.ID, media []byte) []byte {
	k := ms.keys
	if !k.encrypted.Load() {
		return media
	}
	out, err := k.ring.Decrypt(nil, speaker, media)
	if err == nil {
		return out
	}
	k.failures.Add(1)
	if errors.Is(err, roomkey.ErrNoKey) {
		now := ms.m.now()
		k.mu.Lock()
		if now.Sub(k.askedAt) > refetchEvery {
			k.askedAt = now
			k.askSoon()
		}
		k.mu.Unlock()
	}
	return nil
}
