package roomnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
)

// The test's owner side of p2p and roomnet: what the node keeps on disk
// is kept in memory here.
type memOwner struct {
	mu      sync.Mutex
	uses    map[string]int
	states  map[rooms.RoomID]*rooms.SignedState
	follows map[peer.ID]bool
	blocks  map[peer.ID]bool
	tickets map[rooms.RoomID]*rooms.SignedTicket
	joined  map[rooms.RoomID]*rooms.SignedState
	saves   map[rooms.RoomID]int // how many states of each room were stored
}

func newOwner() *memOwner {
	return &memOwner{uses: map[string]int{}, states: map[rooms.RoomID]*rooms.SignedState{},
		follows: map[peer.ID]bool{}, blocks: map[peer.ID]bool{}, tickets: map[rooms.RoomID]*rooms.SignedTicket{},
		joined: map[rooms.RoomID]*rooms.SignedState{}, saves: map[rooms.RoomID]int{}}
}

func (o *memOwner) SaveJoined(s *rooms.SignedState) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.joined[s.Room] = s
	return nil
}

func (o *memOwner) ForgetJoined(id rooms.RoomID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.joined, id)
	return nil
}

func (o *memOwner) UseInvite(inv *identity.SignedInvite, _ peer.ID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.uses[inv.ID()] >= inv.Uses {
		return fmt.Errorf("used up")
	}
	o.uses[inv.ID()]++
	return nil
}
func (o *memOwner) SavePass(*rooms.SignedPass) error   { return nil }
func (o *memOwner) Pass(peer.ID) *rooms.SignedPass     { return nil }
func (o *memOwner) PassRevoked(*rooms.SignedPass) bool { return false }
func (o *memOwner) InviteUsesLeft(inv *identity.SignedInvite, _ peer.ID) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return inv.Uses - o.uses[inv.ID()], nil
}
func (o *memOwner) MemberSeen(p2p.Member, []ma.Multiaddr)         {}
func (o *memOwner) RevocationReceived(*identity.SignedRevocation) {}
func (o *memOwner) SaveState(s *rooms.SignedState) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.states[s.Room] = s
	o.saves[s.Room]++
	return nil
}

func (o *memOwner) statesSaved(id rooms.RoomID) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.saves[id]
}
func (o *memOwner) Follows(p peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.follows[p]
}
func (o *memOwner) Blocks(p peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.blocks[p]
}
func (o *memOwner) FollowList() []peer.ID { return o.list(o.follows) }
func (o *memOwner) BlockList() []peer.ID  { return o.list(o.blocks) }
func (o *memOwner) list(set map[peer.ID]bool) []peer.ID {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []peer.ID
	for p, on := range set {
		if on {
			out = append(out, p)
		}
	}
	return out
}
func (o *memOwner) set(set map[peer.ID]bool, p peer.ID, on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	set[p] = on
}
func (o *memOwner) SaveTicket(t *rooms.SignedTicket) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tickets[t.Room] = t
	return nil
}
func (o *memOwner) Ticket(id rooms.RoomID) *rooms.SignedTicket {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tickets[id]
}

// viewer is m's hallway viewer, as the node builds it.
func (m *member) viewer() rooms.Viewer {
	m.owner.mu.Lock()
	defer m.owner.mu.Unlock()
	return rooms.StaticViewer{Peer: m.id, Keys: m.rooms.FollowKeys(), Tickets: maps.Clone(m.owner.tickets),
		Blocked: maps.Clone(m.owner.blocks)}
}

type member struct {
	id    peer.ID
	key   crypto.PrivKey
	p2p   *p2p.Node
	rooms *Service
	owner *memOwner
	once  sync.Once
}

// close stops the member; a test that kills one early is fine with the
// cleanup closing it again.
func (m *member) close() {
	m.once.Do(func() {
		m.rooms.Close()
		m.p2p.Close()
	})
}

func logger() *slog.Logger {
	if os.Getenv("CLUBNODE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startMembers starts n members of one network on loopback: the first founds
// it and invites the others.
func startMembers(t testing.TB, n int) []*member {
	t.Helper()
	return startMembersWith(t, n, nil)
}

// harnessHelloTimeout is how long the members give a peer to prove
// membership (or start redeeming an invite): three times the default, for
// a loaded machine. The outsider tests wait for it.
const harnessHelloTimeout = 6 * time.Second

// startMembersWith is startMembers with a say in each member's rooms
// configuration (media tests give them audio).
func startMembersWith(t testing.TB, n int, configure func(i int, c *Config)) []*member {
	t.Helper()
	var out []*member
	for i := 0; i < n; i++ {
		key, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		owner := newOwner()
		// A newcomer on a starved machine may take longer than the
		// default 2 s between connecting and asking to redeem, and the
		// founder would drop it (harnessHelloTimeout). Members
		// pull a members sync every second, so one who missed a
		// newcomer's announcement on gossip (a starved validator drops
		// messages) still learns of it.
		node, err := p2p.New(p2p.Config{Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Ledger: owner, Events: owner, Logger: logger(), DiscoveryInterval: time.Second,
			HelloTimeout: harnessHelloTimeout, SyncInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m := &member{id: node.ID(), key: key, p2p: node, owner: owner}
		if i == 0 {
			charter, err := identity.FoundNetwork(key, "Rooms Test", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := node.Enter(p2p.NetworkState{Chain: identity.FounderChain(charter)}); err != nil {
				t.Fatal(err)
			}
		} else {
			founder := out[0]
			inv, err := identity.NewInvite(founder.key, founder.p2p.Chain(), identity.InviteOptions{Uses: 1,
				Expires: time.Now().Add(time.Hour), Bootstrap: addrs(founder.p2p)}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			chain, err := node.Redeem(ctx, inv)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if err := node.Enter(p2p.NetworkState{Chain: chain, KnownPeers: p2p.BootstrapAddrs(inv)}); err != nil {
				t.Fatal(err)
			}
		}
		cfg := Config{P2P: node, Key: key, Store: owner, Logger: logger(),
			AnnounceInterval: 400 * time.Millisecond, HostTimeout: time.Second}
		if configure != nil {
			configure(i, &cfg)
		}
		m.rooms, err = New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.close)
		out = append(out, m)
	}
	// Everyone knows everyone before rooms start.
	for _, m := range out {
		testutil.Eventually(t, 15*time.Second, func() error {
			if got := len(m.p2p.Members()); got != n {
				return fmt.Errorf("%s knows %d of %d members", m.id, got, n)
			}
			return nil
		})
	}
	return out
}

func addrs(n *p2p.Node) []string {
	var out []string
	for _, a := range n.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// sees waits until m's hallway lists room (or, with want false, does not).
func sees(t testing.TB, m *member, id rooms.RoomID, want bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, a := range m.rooms.Hallway(m.viewer()) {
			if a.Room == id {
				if want {
					return nil
				}
				return fmt.Errorf("%s still lists room %s", m.id, id)
			}
		}
		if want {
			return fmt.Errorf("%s does not list room %s", m.id, id)
		}
		return nil
	})
}

// hasState waits until m holds a state of room satisfying cond.
func hasState(t testing.TB, m *member, id rooms.RoomID, what string, cond func(*rooms.SignedState) bool) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		st, ok := m.rooms.State(id)
		if ok && cond(st) {
			return nil
		}
		return fmt.Errorf("%s has not seen: %s", m.id, what)
	})
}
