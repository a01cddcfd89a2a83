package p2p

// Attacks by an outsider: a node built from go-libp2p alone (a fresh key,
// floodsub, a kad-dht client, hand-written DHT messages), with the
// project's own library versions and none of its code, trying every door
// a member's node has. Each test fails against a node without the
// members-only gate (see p2p/gate.go and p2p/admission.go).

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/testutil"
)

// rogue is the outsider.
type rogue struct {
	h       host.Host
	ps      *pubsub.PubSub
	inbound atomic.Int32 // connections members opened to it
}

func newRogue(t testing.TB) *rogue {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = h.Close() })
	r := &rogue{h: h}
	h.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if c.Stat().Direction == network.DirInbound {
			r.inbound.Add(1)
		}
	}})
	// A plain floodsub peer: the path the gossipsub peer filter missed.
	if r.ps, err = pubsub.NewFloodSub(ctx, h); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rogue) connect(n *Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.host.Addrs()})
}

// within polls cond until it holds (true) or d passes (false). Tests use it
// to give an attack the time it needed against the old code.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func setName(t *testing.T, n *Node, name string) {
	t.Helper()
	p, err := identity.SignProfile(n.cfg.Key, identity.Profile{Network: n.Chain().Network(), Peer: n.ID(),
		Name: name, Updated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.PublishProfile(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func nameOf(n *Node, p peer.ID) string {
	m, _ := n.Member(p)
	if m.Profile == nil {
		return ""
	}
	return m.Profile.Name
}

// threeMembers: A founds, B joins through A, C through B.
func threeMembers(t *testing.T) (a, b, c *Node) {
	t.Helper()
	a, b, c = newNode(t), newNode(t), newNode(t)
	found(t, a, "Night Owls")
	join(t, b, bearerInvite(t, a, 1))
	join(t, c, bearerInvite(t, b, 1))
	testutil.Eventually(t, 15*time.Second, knowsMembers(c, a.ID(), b.ID()))
	return a, b, c
}

// Attacks 1 and 2: gossip and topic lists read by a non-member.
func TestOutsiderReadsNoGossip(t *testing.T) {
	a, b, c := threeMembers(t)
	r := newRogue(t)
	topic := MembershipTopic(a.Chain().Network())
	rt, err := r.ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := rt.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	for _, n := range []*Node{a, b} {
		if err := r.connect(n); err != nil {
			t.Fatal(err)
		}
	}
	// Against the old code, A and B told the rogue their topics at once
	// (pubsub's hello) and took its subscription.
	if within(time.Second, func() bool { return len(r.ps.ListPeers(topic)) > 0 }) {
		t.Errorf("members told an outsider they are on %s: %v", topic, r.ps.ListPeers(topic))
	}
	setName(t, a, "Alice")
	setName(t, b, "Bob") // C hears it through A or B, as the rogue would have
	testutil.Eventually(t, 10*time.Second, func() error {
		if nameOf(c, a.ID()) != "Alice" || nameOf(c, b.ID()) != "Bob" {
			return errors.New("C has not heard both profiles yet")
		}
		return nil
	})
	got := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := sub.Next(ctx)
		cancel()
		if err != nil {
			break
		}
		got++
	}
	if got > 0 {
		t.Fatalf("an outsider received %d membership messages", got)
	}
}

// The time a non-member keeps a connection, and its redial.
func TestOutsiderIsCutOffAndBackedOff(t *testing.T) {
	a := newNode(t)
	found(t, a, "Night Owls")
	r := newRogue(t)
	start := time.Now()
	if err := r.connect(a); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*a.cfg.HelloTimeout+time.Second, func() error {
		if r.h.Network().Connectedness(a.ID()) == network.Connected {
			return errors.New("still connected")
		}
		return nil
	})
	t.Logf("a silent outsider kept its connection %s (HelloTimeout %s)", time.Since(start).Round(10*time.Millisecond), a.cfg.HelloTimeout)
	// Redialling, as the attacker did every 10 s, is refused at the
	// handshake for a while now: whatever the dial says (a QUIC dialer
	// may see its handshake finish before the refusal arrives), the
	// outsider holds no connection, far less than a hello window.
	redial := time.Now()
	_ = r.connect(a)
	testutil.Eventually(t, a.cfg.HelloTimeout/2, func() error {
		if r.h.Network().Connectedness(a.ID()) == network.Connected {
			return errors.New("a backed-off outsider holds a connection again")
		}
		return nil
	})
	t.Logf("a backed-off outsider's redial held a connection for at most %s", time.Since(redial).Round(time.Millisecond))
}

// Attack 2: identify and a refused hello name no network.
func TestNothingNamesTheNetworkBeforeHello(t *testing.T) {
	a := newNode(t)
	netID := string(found(t, a, "Night Owls").Network())
	r := newRogue(t)
	if err := r.connect(a); err != nil {
		t.Fatal(err)
	}
	var protos []protocol.ID
	testutil.Eventually(t, 5*time.Second, func() error {
		protos, _ = r.h.Peerstore().GetProtocols(a.ID())
		if len(protos) == 0 {
			return errors.New("identify has not completed")
		}
		return nil
	})
	for _, p := range protos {
		if strings.Contains(string(p), netID) {
			t.Errorf("identify lists %q: it names the network", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := helloProto.Call(ctx, r.h, a.ID(), helloMsg{Network: "some-other-network", Chain: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Refused == "" || strings.Contains(reply.Refused, netID) || reply.Network != "" || len(reply.Chain) > 0 {
		t.Fatalf("refused hello %+v names or proves the network", reply)
	}
}

// kadPrefix finds the DHT protocol the node advertises, as an outsider
// reads it from identify.
func kadPrefix(t *testing.T, r *rogue, n *Node) protocol.ID {
	t.Helper()
	var prefix protocol.ID
	testutil.Eventually(t, 5*time.Second, func() error {
		protos, _ := r.h.Peerstore().GetProtocols(n.ID())
		for _, p := range protos {
			if s, ok := strings.CutSuffix(string(p), "/kad/1.0.0"); ok {
				prefix = protocol.ID(s)
				return nil
			}
		}
		return fmt.Errorf("no DHT protocol among %v", protos)
	})
	return prefix
}

func rendezvousCID(t *testing.T, n *Node) cid.Cid {
	t.Helper()
	h, err := mh.Sum([]byte(rendezvous(n.Chain().Network())), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// Attack 4: the network's DHT answers outsiders.
func TestDHTAnswersNoOutsider(t *testing.T) {
	a, b, _ := threeMembers(t)
	r := newRogue(t)
	if err := r.connect(a); err != nil {
		t.Fatal(err)
	}
	prefix := kadPrefix(t, r, a)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	kad, err := dht.New(r.h, dht.Mode(dht.ModeClient), dht.ProtocolPrefix(prefix),
		dht.BootstrapPeers(peer.AddrInfo{ID: a.ID(), Addrs: a.host.Addrs()}), dht.DisableValues())
	if err != nil {
		t.Fatal(err)
	}
	defer kad.Close()
	// The rogue was connected before its DHT started: put A in its table.
	if _, err := kad.RoutingTable().TryAddPeer(a.ID(), true, false); err != nil {
		t.Logf("routing table: %v", err)
	}
	var found []peer.ID
	for p := range kad.FindProvidersAsync(ctx, rendezvousCID(t, a), 10) {
		found = append(found, p.ID)
	}
	if len(found) > 0 {
		t.Errorf("the DHT told an outsider %d members: %v", len(found), found)
	}
	if peers, err := kad.GetClosestPeers(ctx, string(b.ID())); err == nil && len(peers) > 0 {
		t.Errorf("FIND_NODE answered an outsider with %v", peers)
	}
}

// Attack 5: one forged provider record, and members dial where it says.
func TestForgedProviderLuresNobody(t *testing.T) {
	a, b, c := threeMembers(t)
	r := newRogue(t)
	if err := r.connect(a); err != nil {
		t.Fatal(err)
	}
	prefix := kadPrefix(t, r, a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := addProviders(ctx, r.h, a.ID(), prefix, [][]byte{rendezvousCID(t, a).Hash()}); err != nil {
		t.Logf("ADD_PROVIDER: %v", err)
	}
	// B and C search the DHT only while they know a member they have not
	// met: one that left.
	departedMember(t, a, b, c)
	searched := b.searches.Load() + c.searches.Load()
	// Against the old code B and C dialled the rogue within two or three
	// of their discovery rounds (one a second here).
	if within(4*b.cfg.DiscoveryInterval, func() bool { return r.inbound.Load() > 0 }) {
		t.Fatalf("members dialled the outsider %d times after its forged record", r.inbound.Load())
	}
	if b.searches.Load()+c.searches.Load() == searched {
		t.Fatal("B and C did not search the DHT: the forged record was never read")
	}
}

// departedMember adds a member (invited by inviter) that leaves again at
// once, and waits until every node of others knows it: they know a member
// they are not connected to.
func departedMember(t *testing.T, inviter *Node, others ...*Node) {
	t.Helper()
	d := newNode(t)
	join(t, d, bearerInvite(t, inviter, 1))
	for _, n := range others {
		testutil.Eventually(t, 15*time.Second, knowsMembers(n, d.ID()))
	}
	d.Close()
	for _, n := range others {
		testutil.Eventually(t, 15*time.Second, notConnected(n, d.ID()))
	}
}

// addProviders writes ADD_PROVIDER messages for keys, naming the sender as
// provider, on one stream, as fast as the stream takes them.
func addProviders(ctx context.Context, h host.Host, to peer.ID, prefix protocol.ID, keys [][]byte) error {
	s, err := h.NewStream(ctx, to, prefix+"/kad/1.0.0")
	if err != nil {
		return err
	}
	defer s.Close()
	w := msgio.NewVarintWriter(s)
	self := dhtpb.RawPeerInfosToPBPeers([]peer.AddrInfo{{ID: h.ID(), Addrs: h.Addrs()}})
	for _, k := range keys {
		msg := dhtpb.NewMessage(dhtpb.Message_ADD_PROVIDER, k, 0)
		msg.ProviderPeers = self
		data, err := proto.Marshal(msg)
		if err != nil {
			return err
		}
		if err := w.WriteMsg(data); err != nil {
			return err
		}
	}
	return nil
}

// Attack 6: memory exhausted with provider records from outside.
func TestProviderFloodKeepsMemoryBounded(t *testing.T) {
	a := newNode(t)
	found(t, a, "Night Owls")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	probe := newRogue(t)
	if err := probe.connect(a); err != nil {
		t.Fatal(err)
	}
	prefix := kadPrefix(t, probe, a)
	const tries = 400_000
	var sent atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(8 * time.Second)
	for range 4 { // four outsider keys, as in the attack
		r := newRogue(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := make([][]byte, 1000)
			for sent.Load() < tries && time.Now().Before(deadline) {
				for i := range keys {
					var b [32]byte
					_, _ = rand.Read(b[:])
					keys[i], _ = mh.Sum(b[:], mh.SHA2_256, -1)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if r.h.Network().Connectedness(a.ID()) != network.Connected {
					_ = r.h.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.host.Addrs()})
				}
				if addProviders(ctx, r.h, a.ID(), prefix, keys) == nil {
					sent.Add(int64(len(keys)))
				} else if r.h.Network().Connectedness(a.ID()) != network.Connected {
					time.Sleep(50 * time.Millisecond) // cut off and refused: try again, as an attacker would
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	after := heap()
	growth := int64(after) - int64(before)
	t.Logf("outsiders tried %d ADD_PROVIDER messages in 8 s; the member's heap grew %.1f MB", sent.Load(), float64(growth)/(1<<20))
	if growth > 20<<20 {
		t.Fatalf("heap grew %.1f MB under a provider flood (bound 20 MB)", float64(growth)/(1<<20))
	}
}
