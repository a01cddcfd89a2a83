package rooms

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/identity"
)

// Social rooms are listed only to the people their host follows. The host
// says who they are in the room's announcement, without telling anyone else
// whom it follows: for each followed member it lists a follow tag, a short
// MAC keyed with the secret that only the host and that member can compute
// (X25519 between their identity keys). A viewer computes its own tag and
// looks for it; everyone else sees opaque bytes and learns only how many
// members the host follows.
//
// A plain list of peer IDs would publish the follow graph to the whole
// network, and so would hashes of peer IDs, salted or not: every member's
// peer ID is known to every member, so anyone could hash them all and
// compare. The pairwise secret is what makes the tags unlinkable.
//
// The tags only decide what the hallway shows. Admission stays with the
// host, which checks its own follow list when someone joins.

// FollowTagSize is the length of a follow tag: at 64 bits a viewer that is
// not followed sees the room by accident with a chance of n/2^64 for n tags.
const FollowTagSize = 8

// MaxFollowTags bounds the tags in one announcement (8000 bytes). A host
// that follows more members lists the first MaxFollowTags of its follow
// list; the others can still join with the room's ID, since the host admits
// everyone it follows.
const MaxFollowTags = 1000

// maxPairSecrets bounds the cache of pairwise secrets (32 bytes each).
const maxPairSecrets = 4096

// FollowKeys computes the follow tags of one node: as a host, the tags of
// the members it follows; as a viewer, its own tag in another host's room.
// Pairwise secrets cost an X25519 each and are cached. Safe for concurrent
// use.
type FollowKeys struct {
	self peer.ID
	priv *ecdh.PrivateKey

	mu      sync.Mutex
	secrets map[peer.ID][]byte
}

// NewFollowKeys makes the follow keys of the node whose Ed25519 key is key.
func NewFollowKeys(key crypto.PrivKey) (*FollowKeys, error) {
	self, err := signerOf(key)
	if err != nil {
		return nil, fmt.Errorf("follow keys: %w", err)
	}
	priv, err := identity.X25519PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("follow keys: %w", err)
	}
	return &FollowKeys{self: self, priv: priv, secrets: map[peer.ID][]byte{}}, nil
}

// Tags returns the follow tags a host with these keys lists in the
// announcement of its social room: one per followed peer, at most
// MaxFollowTags, concatenated. Peers whose key cannot take part (not
// Ed25519) are skipped: they cannot compute a tag either.
func (k *FollowKeys) Tags(room RoomID, follows []peer.ID) []byte {
	out := make([]byte, 0, min(len(follows), MaxFollowTags)*FollowTagSize)
	for _, p := range follows {
		if len(out) == MaxFollowTags*FollowTagSize {
			break
		}
		if tag, err := k.tag(p, k.self, room); err == nil {
			out = append(out, tag...)
		}
	}
	return out
}

// Listed reports whether a, the announcement of a social room, lists the
// owner of k among the members its host follows.
func (k *FollowKeys) Listed(a *Announcement) bool {
	if len(a.Followed) == 0 {
		return false
	}
	tag, err := k.tag(a.Host, a.Host, a.Room)
	if err != nil {
		return false
	}
	for rest := a.Followed; len(rest) >= FollowTagSize; rest = rest[FollowTagSize:] {
		if hmac.Equal(rest[:FollowTagSize], tag) {
			return true
		}
	}
	return false
}

// tag is the follow tag of the pair (k's owner, other) in room hosted by
// host: a MAC of the room and its host under the pair's secret, so tags
// differ from room to room and cannot be linked across rooms.
func (k *FollowKeys) tag(other, host peer.ID, room RoomID) ([]byte, error) {
	secret, err := k.secret(other)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("clubnode/follow-tag/v1\x00"))
	mac.Write(room.bytes())
	mac.Write([]byte(host))
	return mac.Sum(nil)[:FollowTagSize], nil
}

func (k *FollowKeys) secret(other peer.ID) ([]byte, error) {
	k.mu.Lock()
	s, ok := k.secrets[other]
	k.mu.Unlock()
	if ok {
		return s, nil
	}
	pub, err := identity.X25519PublicKey(other)
	if err != nil {
		return nil, fmt.Errorf("follow tag: %w", err)
	}
	shared, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("follow tag with %s: %w", other, err)
	}
	sum := sha256.Sum256(append([]byte("clubnode/follow-secret/v1\x00"), shared...))
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.secrets) >= maxPairSecrets {
		clear(k.secrets)
	}
	k.secrets[other] = sum[:]
	return sum[:], nil
}
