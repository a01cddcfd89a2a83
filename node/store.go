package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/node/session"
	"github.com/clubnode/clubnode/p2p"
)

// Datastore keys. Signed objects are stored as their exact envelope bytes
// and verified again when read, so a damaged record is skipped, not trusted.
var (
	keyNodeKey  = ds.NewKey("/self/key")
	keySelfInfo = ds.NewKey("/self/info")
	keyChain    = ds.NewKey("/network/chain")
	keyProfile  = ds.NewKey("/network/profile")
	// keyJoinBoot holds the addresses of the invite this node joined
	// with, written with the chain: a member that remembers no other peer
	// can always dial its inviter again.
	keyJoinBoot = ds.NewKey("/network/join-bootstrap")
	prefInvites = ds.NewKey("/invites")
	prefRevs    = ds.NewKey("/revocations")
	prefMembers = ds.NewKey("/members")
	prefPeers   = ds.NewKey("/peers")
	// prefSessions holds the web app's browser sessions, by the SHA-256
	// of their ID (node/session): signed in stays signed in across
	// restarts.
	prefSessions = ds.NewKey("/ui/sessions")
)

// maxKnownPeerAddrs bounds what is remembered of one peer.
const maxKnownPeerAddrs = 16

// store is the node's persistent state over a go-datastore.
type store struct {
	ds  ds.Batching
	log *slog.Logger
	// inviteMu makes counting an invite's uses a read-modify-write that
	// two concurrent redemptions cannot both win.
	inviteMu sync.Mutex
}

// selfInfo is what the user says about themselves before (and while) in a
// network; the signed profile is made from it.
type selfInfo struct {
	Name    string `json:"name"`
	Bio     string `json:"bio"`
	Support string `json:"support,omitempty"`
}

// inviteRecord is the ledger entry of an invite this node issued.
type inviteRecord struct {
	Uses    int       `json:"uses"`
	UsedBy  []string  `json:"used_by"`
	Expires time.Time `json:"expires"`
	For     string    `json:"for,omitempty"`
	Created time.Time `json:"created"`
}

type memberRecord struct {
	Chain   []byte `json:"chain"`
	Profile []byte `json:"profile,omitempty"`
}

type peerRecord struct {
	Addrs []string  `json:"addrs"`
	Seen  time.Time `json:"seen"`
}

func (s *store) get(ctx context.Context, k ds.Key) ([]byte, error) {
	v, err := s.ds.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrStorage, k, err)
	}
	return v, nil
}

func (s *store) put(ctx context.Context, k ds.Key, v []byte) error {
	if err := s.ds.Put(ctx, k, v); err != nil {
		return fmt.Errorf("%w: write %s: %w", ErrStorage, k, err)
	}
	return nil
}

func (s *store) putJSON(ctx context.Context, k ds.Key, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return s.put(ctx, k, data)
}

// entry is one key and value of a batch.
type entry struct {
	key   ds.Key
	value []byte
}

// putAll writes entries in one batch: after a crash either all of them
// are there or none is.
func (s *store) putAll(ctx context.Context, entries ...entry) error {
	b, err := s.ds.Batch(ctx)
	if err != nil {
		return fmt.Errorf("%w: start a batch: %w", ErrStorage, err)
	}
	for _, e := range entries {
		if err := b.Put(ctx, e.key, e.value); err != nil {
			return fmt.Errorf("%w: write %s: %w", ErrStorage, e.key, err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("%w: write %d records: %w", ErrStorage, len(entries), err)
	}
	return nil
}

func jsonEntry(k ds.Key, v any) (entry, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return entry{}, fmt.Errorf("encode %s: %w", k, err)
	}
	return entry{k, data}, nil
}

// each calls fn for every entry under prefix.
func (s *store) each(ctx context.Context, prefix ds.Key, fn func(key string, value []byte)) error {
	res, err := s.ds.Query(ctx, query.Query{Prefix: prefix.String()})
	if err != nil {
		return fmt.Errorf("%w: list %s: %w", ErrStorage, prefix, err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("%w: list %s: %w", ErrStorage, prefix, r.Error)
		}
		fn(r.Key, r.Value)
	}
	return nil
}

func (s *store) nodeKey(ctx context.Context) (crypto.PrivKey, error) {
	data, err := s.get(ctx, keyNodeKey)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, errors.New("the datastore holds no node key: run 'clubnode init' first")
	}
	return identity.UnmarshalKey(data)
}

func (s *store) setNodeKey(ctx context.Context, key crypto.PrivKey) error {
	data, err := identity.MarshalKey(key)
	if err != nil {
		return err
	}
	return s.put(ctx, keyNodeKey, data)
}

func (s *store) selfInfo(ctx context.Context) (selfInfo, error) {
	var info selfInfo
	data, err := s.get(ctx, keySelfInfo)
	if err != nil || data == nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("read %s: %w", keySelfInfo, err)
	}
	return info, nil
}

func (s *store) setSelfInfo(ctx context.Context, info selfInfo) error {
	return s.putJSON(ctx, keySelfInfo, info)
}

// setSelf writes the user's name and bio and the profile signed from
// them (nil before the node is in a network) as one: a crash between two
// writes would leave `id` and the network naming different people.
func (s *store) setSelf(ctx context.Context, info selfInfo, p *identity.SignedProfile) error {
	e, err := jsonEntry(keySelfInfo, info)
	if err != nil {
		return err
	}
	entries := []entry{e}
	if p != nil {
		entries = append(entries, entry{keyProfile, p.Bytes})
	}
	return s.putAll(ctx, entries...)
}

// chain returns this node's membership chain, or nil before it has one.
func (s *store) chain(ctx context.Context) (*identity.Chain, error) {
	data, err := s.get(ctx, keyChain)
	if err != nil || data == nil {
		return nil, err
	}
	c, err := identity.ParseChain(data)
	if err != nil {
		return nil, fmt.Errorf("stored membership chain: %w", err)
	}
	return c, nil
}

func (s *store) setChain(ctx context.Context, c *identity.Chain) error {
	return s.put(ctx, keyChain, c.Marshal())
}

// setMembership stores a joined network's chain together with the
// invite's addresses, both as remembered peers and as the join record:
// a node killed in between would be a member that knows nobody.
func (s *store) setMembership(ctx context.Context, c *identity.Chain, boot []peer.AddrInfo, now time.Time) error {
	entries := []entry{{keyChain, c.Marshal()}}
	addrs := make([]string, 0, len(boot))
	for _, info := range boot {
		e, ok, err := peerEntry(info.ID, info.Addrs, now)
		if err != nil {
			return err
		}
		if ok {
			entries = append(entries, e)
		}
		p2pAddrs, err := peer.AddrInfoToP2pAddrs(&info)
		if err != nil {
			continue
		}
		for _, a := range p2pAddrs {
			addrs = append(addrs, a.String())
		}
	}
	e, err := jsonEntry(keyJoinBoot, addrs)
	if err != nil {
		return err
	}
	return s.putAll(ctx, append(entries, e)...)
}

// joinBootstrap returns the addresses of the invite this node joined with.
func (s *store) joinBootstrap(ctx context.Context) ([]peer.AddrInfo, error) {
	data, err := s.get(ctx, keyJoinBoot)
	if err != nil || data == nil {
		return nil, err
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		s.log.Warn("stored join addresses are damaged; ignoring them", "err", err)
		return nil, nil
	}
	var addrs []ma.Multiaddr
	for _, a := range list {
		if m, err := ma.NewMultiaddr(a); err == nil {
			addrs = append(addrs, m)
		}
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		s.log.Warn("stored join addresses lack peer IDs; ignoring them", "err", err)
		return nil, nil
	}
	return infos, nil
}

func (s *store) profile(ctx context.Context) (*identity.SignedProfile, error) {
	data, err := s.get(ctx, keyProfile)
	if err != nil || data == nil {
		return nil, err
	}
	p, err := identity.ParseProfile(data)
	if err != nil {
		s.log.Warn("stored profile is damaged; it will be signed again", "err", err)
		return nil, nil
	}
	return p, nil
}

func (s *store) setProfile(ctx context.Context, p *identity.SignedProfile) error {
	return s.put(ctx, keyProfile, p.Bytes)
}

func (s *store) addInvite(ctx context.Context, inv *identity.SignedInvite, now time.Time) error {
	rec := inviteRecord{Uses: inv.Uses, Expires: inv.Expires, For: inv.For.String(), Created: now}
	if inv.Bearer() {
		rec.For = ""
	}
	return s.putJSON(ctx, prefInvites.ChildString(inv.ID()), rec)
}

// UseInvite is p2p's Ledger: it counts one use of a bearer invite this node
// issued. A redeemer already counted may redeem again for free, so a
// joiner whose first attempt lost its answer can retry.
func (s *store) UseInvite(inv *identity.SignedInvite, redeemer peer.ID) error {
	ctx := context.Background()
	s.inviteMu.Lock()
	defer s.inviteMu.Unlock()
	k := prefInvites.ChildString(inv.ID())
	data, err := s.get(ctx, k)
	if err != nil {
		return err
	}
	if data == nil {
		return errors.New("invite token: this node has no record of issuing it")
	}
	var rec inviteRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("invite ledger entry %s: %w", k, err)
	}
	for _, p := range rec.UsedBy {
		if p == redeemer.String() {
			return nil
		}
	}
	if len(rec.UsedBy) >= rec.Uses {
		return fmt.Errorf("%w: invite token already used %d of %d times", p2p.ErrInviteUsedUp, len(rec.UsedBy), rec.Uses)
	}
	rec.UsedBy = append(rec.UsedBy, redeemer.String())
	return s.putJSON(ctx, k, rec)
}

// InviteUsesLeft is p2p's Ledger: the uses an invite this node issued
// has left.
func (s *store) InviteUsesLeft(inv *identity.SignedInvite, redeemer peer.ID) (int, error) {
	s.inviteMu.Lock()
	defer s.inviteMu.Unlock()
	rec, err := s.inviteRecord(inv)
	if err != nil {
		return 0, err
	}
	for _, p := range rec.UsedBy {
		if p == redeemer.String() {
			return 1, nil
		}
	}
	return max(0, rec.Uses-len(rec.UsedBy)), nil
}

func (s *store) inviteRecord(inv *identity.SignedInvite) (inviteRecord, error) {
	k := prefInvites.ChildString(inv.ID())
	data, err := s.get(context.Background(), k)
	if err != nil {
		return inviteRecord{}, err
	}
	if data == nil {
		return inviteRecord{}, errors.New("invite token: this node has no record of issuing it")
	}
	var rec inviteRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return inviteRecord{}, fmt.Errorf("invite ledger entry %s: %w", k, err)
	}
	return rec, nil
}

func (s *store) invites(ctx context.Context) (map[string]inviteRecord, error) {
	out := map[string]inviteRecord{}
	err := s.each(ctx, prefInvites, func(key string, v []byte) {
		var rec inviteRecord
		if json.Unmarshal(v, &rec) == nil {
			out[ds.NewKey(key).BaseNamespace()] = rec
		}
	})
	return out, err
}

func (s *store) putRevocation(ctx context.Context, r *identity.SignedRevocation) error {
	return s.put(ctx, prefRevs.ChildString(r.Subject.String()), r.Bytes)
}

func (s *store) revocations(ctx context.Context) ([]*identity.SignedRevocation, error) {
	var out []*identity.SignedRevocation
	err := s.each(ctx, prefRevs, func(key string, v []byte) {
		r, err := identity.ParseRevocation(v)
		if err != nil {
			s.log.Warn("skipping damaged stored revocation", "key", key, "err", err)
			return
		}
		out = append(out, r)
	})
	return out, err
}

// putMemberSeen stores a member the network told of and, if given, the
// addresses it was reached at, in one write; a member stored as it is
// already costs none. Every verified connection and every member a sync
// brings comes here, and each write waits for the disk: two a call were
// 2.5% of the CPU of a forming network of 100 daemons.
func (s *store) putMemberSeen(ctx context.Context, m p2p.Member, addrs []ma.Multiaddr, now time.Time) error {
	rec := memberRecord{Chain: m.Chain.Marshal()}
	if m.Profile != nil {
		rec.Profile = m.Profile.Bytes
	}
	me, err := jsonEntry(prefMembers.ChildString(m.Chain.Member().String()), rec)
	if err != nil {
		return err
	}
	var entries []entry
	if held, err := s.ds.Get(ctx, me.key); err != nil || !bytes.Equal(held, me.value) {
		entries = append(entries, me)
	}
	pe, ok, err := peerEntry(m.Chain.Member(), addrs, now)
	if err != nil {
		return err
	}
	if ok {
		entries = append(entries, pe)
	}
	if len(entries) == 0 {
		return nil
	}
	return s.putAll(ctx, entries...)
}

func (s *store) members(ctx context.Context) ([]p2p.Member, error) {
	var out []p2p.Member
	err := s.each(ctx, prefMembers, func(key string, v []byte) {
		var rec memberRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			s.log.Warn("skipping damaged stored member", "key", key, "err", err)
			return
		}
		c, err := identity.ParseChain(rec.Chain)
		if err != nil {
			s.log.Warn("skipping damaged stored member", "key", key, "err", err)
			return
		}
		m := p2p.Member{Chain: c}
		if len(rec.Profile) > 0 {
			if p, err := identity.ParseProfile(rec.Profile); err == nil && p.Peer == c.Member() {
				m.Profile = p
			}
		}
		out = append(out, m)
	})
	return out, err
}

func (s *store) putPeer(ctx context.Context, p peer.ID, addrs []ma.Multiaddr, now time.Time) error {
	e, ok, err := peerEntry(p, addrs, now)
	if err != nil || !ok {
		return err
	}
	return s.put(ctx, e.key, e.value)
}

// peerEntry is the record of a remembered peer; ok is false when there
// is no address to remember.
func peerEntry(p peer.ID, addrs []ma.Multiaddr, now time.Time) (entry, bool, error) {
	if len(addrs) == 0 {
		return entry{}, false, nil
	}
	rec := peerRecord{Seen: now}
	for _, a := range addrs {
		if len(rec.Addrs) == maxKnownPeerAddrs {
			break
		}
		rec.Addrs = append(rec.Addrs, a.String())
	}
	e, err := jsonEntry(prefPeers.ChildString(p.String()), rec)
	return e, err == nil, err
}

func (s *store) knownPeers(ctx context.Context) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	err := s.each(ctx, prefPeers, func(key string, v []byte) {
		id, err := peer.Decode(ds.NewKey(key).BaseNamespace())
		if err != nil {
			return
		}
		var rec peerRecord
		if json.Unmarshal(v, &rec) != nil {
			return
		}
		info := peer.AddrInfo{ID: id}
		for _, s := range rec.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				info.Addrs = append(info.Addrs, a)
			}
		}
		out = append(out, info)
	})
	return out, err
}

// sessionStore keeps the web app's sessions in the node's datastore.
type sessionStore struct{ s *store }

func (st sessionStore) LoadSessions() (map[session.Digest]session.Record, error) {
	out := map[session.Digest]session.Record{}
	err := st.s.each(context.Background(), prefSessions, func(key string, value []byte) {
		d, err := hex.DecodeString(ds.NewKey(key).BaseNamespace())
		var rec session.Record
		if err == nil && len(d) == len(session.Digest{}) {
			err = json.Unmarshal(value, &rec)
		} else if err == nil {
			err = fmt.Errorf("digest of %d bytes", len(d))
		}
		if err != nil {
			st.s.log.Warn("skipping a damaged web UI session record", "key", key, "err", err)
			return
		}
		out[session.Digest(d)] = rec
	})
	return out, err
}

func (st sessionStore) PutSession(d session.Digest, r session.Record) error {
	return st.s.putJSON(context.Background(), prefSessions.ChildString(hex.EncodeToString(d[:])), r)
}

func (st sessionStore) DeleteSession(d session.Digest) error {
	k := prefSessions.ChildString(hex.EncodeToString(d[:]))
	if err := st.s.ds.Delete(context.Background(), k); err != nil {
		return fmt.Errorf("delete %s: %w", k, err)
	}
	return nil
}
