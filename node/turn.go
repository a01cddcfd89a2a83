package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/audio/rtc/turnserver"
	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/natkind"
	"github.com/clubnode/clubnode/internal/rpc"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
)

// TURN for the rooms' audio.
//
// A public node runs a STUN/TURN server (audio/rtc/turnserver) for the
// network's members. Before a tree link is made, both ends ask the same
// always-on nodes (the child those it is connected to, naming them in its
// link hello; the parent those named) for short-lived credentials over
// libp2p (the TURN protocol runs on the members-only host, so a
// non-member gets nothing), naming the peer at the other end and showing
// the link's assignment, signed by the room's host (or its delegate):
// the peers named must be the other end of that link (the parent or a
// backup for the child, the child for them), so a member cannot open the
// relay to anyone it has no link with. A signature proves only that some
// member placed the link, though: any member may host a room of its own
// and sign an assignment naming anyone. So a peer becomes reachable
// through the relay only once it has asked this same node with the same
// assignment, naming the requester: both ends of a real link ask (each
// before it makes its ICE agent, so before either relay creates a
// permission), and a parent asks only after it checked the assignment
// against the room it is in (roomnet's admitChild); a victim never asks
// with an assignment forged against it. (This node itself, named as the
// other end, needs no ask.) The server lets the member's relays exchange
// packets only with the addresses those peers are connected from, as the
// server sees them. ICE then gathers host,
// server-reflexive and relayed candidates, and keeps the best pair: a
// direct one where both NATs let it, the relay where one is symmetric.

// TURNProtocol is the credentials request.
const TURNProtocol = protocol.ID("/clubnode/turn/1.0.0")

const (
	maxTURNPeers   = 16 // peers named in one request
	maxTURNFrame   = 2048 + rooms.MaxAssignmentSize
	turnTimeout    = 3 * time.Second
	maxTURNServers = 2 // always-on nodes whose credentials one link uses
	maxTURNAsked   = 4 // always-on nodes asked for one link, at once
	// turnStragglers is how long the other always-on nodes may still
	// answer once one has.
	turnStragglers    = 500 * time.Millisecond
	maxRememberedPeer = 64 // peers a member's relays may reach, per member
	maxTURNClaims     = 64 // links a member asked for whose other end has not asked yet
)

type turnRequest struct {
	Peers []string `cbor:"0,keyasint"`
	// Assignment is the link's signed assignment (rooms.SignedAssignment):
	// every peer named must be at the other end of it.
	Assignment []byte `cbor:"1,keyasint,omitempty"`
	// Renew asks for new credentials for the peers allowed already, with
	// no peer named and no assignment (turnrenew.go).
	Renew bool `cbor:"2,keyasint,omitempty"`
	// Servers asks only where the server is (its URLs, no credentials),
	// for the NAT mapping test (natkind.go), with no peer named.
	Servers bool `cbor:"3,keyasint,omitempty"`
}

type turnReply struct {
	URLs     []string `cbor:"0,keyasint"`
	Username string   `cbor:"1,keyasint"`
	Password string   `cbor:"2,keyasint"`
	Expires  int64    `cbor:"3,keyasint"` // Unix seconds
}

var turnProto = rpc.Protocol[turnRequest, turnReply]{ID: TURNProtocol, MaxRequest: maxTURNFrame,
	MaxReply: maxTURNFrame, Timeout: turnTimeout, Codes: p2p.Codes, Limited: true}

// turnService is a public node's TURN server and what it allowed.
type turnService struct {
	srv    *turnserver.Server
	cancel context.CancelFunc
	mu     sync.Mutex
	peers  map[peer.ID][]peer.ID // per member, the peers it may reach, newest last
	// claims are, per member, the links it asked for whose other end
	// has not asked yet, oldest first.
	claims map[peer.ID][]turnClaim
}

// turnClaim is one end's ask to reach to under the assignment proof.
type turnClaim struct {
	proof   [sha256.Size]byte
	to      peer.ID
	expires time.Time
}

// startTURN runs the TURN server when this node is public and the config
// wants it.
func (n *Node) startTURN() error {
	s := n.cfg.Settings
	if !s.TURNServer || n.p2p.Reachability() != p2p.ReachPublic {
		return nil
	}
	ip, ok := n.publicIPv4()
	if !ok {
		n.log.Warn("no public IPv4 address to run the TURN server on")
		return nil
	}
	srv, err := turnserver.New(turnserver.Config{
		Listen:       netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(s.TURNPort)),
		AltPort:      turnAltPort(s.TURNPort),
		PublicIP:     ip,
		RelayPortMin: uint16(s.TURNRelayPortMin), RelayPortMax: uint16(s.TURNRelayPortMax),
		CredentialTTL: n.cfg.TURNCredentialTTL, Now: n.cfg.Now,
		Logger: n.log,
	})
	if err != nil {
		return fmt.Errorf("TURN server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.turn = &turnService{srv: srv, cancel: cancel, peers: map[peer.ID][]peer.ID{}, claims: map[peer.ID][]turnClaim{}}
	turnProto.Handle(ctx, n.p2p.MemberHost(), n.answerTURN)
	n.log.Info("TURN server running", "urls", srv.URLs())
	return nil
}

// turnAltPort is the TURN server's second STUN port (turnserver's
// AltPort): the one after turn_port (3479 by default), a free one when
// turn_port picks a free one or is the last port.
func turnAltPort(port int) int {
	if port == 0 || port >= 65535 {
		return -1
	}
	return port + 1
}

func (n *Node) closeTURN() {
	if t := n.turn; t != nil {
		t.cancel()
		turnProto.Remove(n.p2p.MemberHost())
		_ = t.srv.Close()
	}
}

// publicIPv4 is the first public IPv4 address this node announces.
func (n *Node) publicIPv4() (netip.Addr, bool) {
	for _, a := range n.p2p.Addrs() {
		if !manet.IsPublicAddr(a) {
			continue
		}
		if s, err := a.ValueForProtocol(ma.P_IP4); err == nil {
			if ip, err := netip.ParseAddr(s); err == nil {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// answerTURN issues credentials to a member (the members-only host lets
// no one else ask) and lets its relays reach the peers it named.
func (n *Node) answerTURN(_ context.Context, p peer.ID, req turnRequest) (turnReply, error) {
	if req.Renew {
		return n.renewTURN(p, req)
	}
	if req.Servers {
		if len(req.Peers) > 0 || len(req.Assignment) > 0 {
			return turnReply{}, fmt.Errorf("%w: asking where the server is names no peer", rpc.ErrRefused)
		}
		// Both STUN ports, the first first: an older node probes only
		// the first URL it can parse.
		return turnReply{URLs: append(n.turn.srv.STUNURLs(), n.turn.srv.URLs()[1:]...)}, nil
	}
	if len(req.Peers) == 0 || len(req.Peers) > maxTURNPeers {
		return turnReply{}, fmt.Errorf("%w: name 1 to %d peers", rpc.ErrRefused, maxTURNPeers)
	}
	named := make([]peer.ID, 0, len(req.Peers))
	for _, s := range req.Peers {
		id, err := peer.Decode(s)
		if err != nil {
			return turnReply{}, fmt.Errorf("%w: %q is not a peer ID", rpc.ErrRefused, s)
		}
		named = append(named, id)
	}
	expires, err := n.checkLinkProof(p, named, req.Assignment)
	if err != nil {
		return turnReply{}, err
	}
	t := n.turn
	creds, err := t.srv.Issue(p.String())
	if err != nil {
		return turnReply{}, err
	}
	paired := t.pair(n.ID(), p, named, req.Assignment, expires, n.cfg.Now())
	if err := t.srv.AllowPeers(p.String(), n.peerIPs(t.remember(p, paired[p]))); err != nil {
		return turnReply{}, err
	}
	for q, also := range paired {
		if q == p {
			continue
		}
		// q asked first; its credentials are issued already.
		if err := t.srv.AllowPeers(q.String(), n.peerIPs(t.remember(q, also))); err != nil {
			n.log.Debug("TURN peers of the other end not updated", "member", q, "err", err)
		}
	}
	return turnReply{URLs: creds.URLs, Username: creds.Username, Password: creds.Password,
		Expires: creds.Expires.Unix()}, nil
}

// renewTURN issues new credentials to a member that has some already,
// for the peers allowed already.
func (n *Node) renewTURN(p peer.ID, req turnRequest) (turnReply, error) {
	t := n.turn
	t.mu.Lock()
	known := len(t.peers[p]) > 0 || len(t.claims[p]) > 0
	t.mu.Unlock()
	switch {
	case len(req.Peers) > 0 || len(req.Assignment) > 0:
		return turnReply{}, fmt.Errorf("%w: a renewal names no peer", rpc.ErrRefused)
	case !known:
		return turnReply{}, fmt.Errorf("%w: no credentials to renew", rpc.ErrRefused)
	}
	creds, err := t.srv.Issue(p.String())
	if err != nil {
		return turnReply{}, err
	}
	return turnReply{URLs: creds.URLs, Username: creds.Username, Password: creds.Password,
		Expires: creds.Expires.Unix()}, nil
}

// pair records that p asks to reach named under the assignment proof
// (valid until expires) and returns, per member, the peers it may reach
// now: each peer of named that asked to reach p under the same proof
// (and p for it), and self, this node, at once.
func (t *turnService) pair(self, p peer.ID, named []peer.ID, proof []byte, expires, now time.Time) map[peer.ID][]peer.ID {
	key := sha256.Sum256(proof)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[peer.ID][]peer.ID{}
	mine := slices.DeleteFunc(t.claims[p], func(c turnClaim) bool { return !now.Before(c.expires) })
	for _, q := range named {
		if q == self || slices.ContainsFunc(t.claims[q], func(c turnClaim) bool {
			return c.proof == key && c.to == p && now.Before(c.expires)
		}) {
			out[p] = append(out[p], q)
			if q != self {
				out[q] = append(out[q], p)
			}
			continue
		}
		mine = slices.DeleteFunc(mine, func(c turnClaim) bool { return c.proof == key && c.to == q })
		mine = append(mine, turnClaim{proof: key, to: q, expires: expires.Add(identity.ClockSkew)})
	}
	if len(mine) > maxTURNClaims {
		mine = mine[len(mine)-maxTURNClaims:]
	}
	t.claims[p] = mine
	return out
}

// remember adds named to what p's relays may reach, keeping the newest.
func (t *turnService) remember(p peer.ID, named []peer.ID) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.peers[p]
	for _, q := range named {
		for i, old := range list {
			if old == q {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		list = append(list, q)
	}
	if len(list) > maxRememberedPeer {
		list = list[len(list)-maxRememberedPeer:]
	}
	t.peers[p] = list
	return append([]peer.ID(nil), list...)
}

// peerIPs are the addresses members among peers are connected from, as
// this node sees them (not through a relay).
func (n *Node) peerIPs(peers []peer.ID) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, q := range peers {
		if !n.p2p.IsMember(q) {
			continue
		}
		for _, c := range n.p2p.Host().Network().ConnsToPeer(q) {
			if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
				continue
			}
			ip, err := manet.ToIP(c.RemoteMultiaddr())
			if err != nil {
				continue
			}
			// A peer on this very machine (loopback) is nobody a relay
			// should reach; the server refuses such an address.
			a, ok := netip.AddrFromSlice(ip)
			if a = a.Unmap(); ok && a.Is4() && !a.IsLoopback() && !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// checkLinkProof checks that every peer in named is at the other end of
// the link proof (a signed assignment) places requester on, and that the
// assignment comes from a member and still holds; it returns when the
// assignment expires.
func (n *Node) checkLinkProof(requester peer.ID, named []peer.ID, proof []byte) (time.Time, error) {
	if len(proof) == 0 {
		return time.Time{}, fmt.Errorf("%w: show the link's assignment", rpc.ErrRefused)
	}
	a, err := rooms.ParseAssignment(proof)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", rpc.ErrRefused, err)
	}
	if !n.p2p.IsMember(a.Placer()) {
		return time.Time{}, fmt.Errorf("%w: the assignment is not from a member", rpc.ErrRefused)
	}
	now := n.cfg.Now()
	expires := a.Expires
	if a.BackupsExpire.After(expires) {
		expires = a.BackupsExpire
	}
	if !now.Before(expires.Add(identity.ClockSkew)) {
		return time.Time{}, fmt.Errorf("%w: the assignment expired at %s", rpc.ErrRefused, expires.Format(time.RFC3339))
	}
	var ends []peer.ID // whom requester may reach through this link
	switch {
	case requester == a.Child:
		ends = append([]peer.ID{a.Parent}, a.Backups...)
	case requester == a.Parent || slices.Contains(a.Backups, requester):
		ends = []peer.ID{a.Child}
	default:
		return time.Time{}, fmt.Errorf("%w: the assignment places %s under %s, not %s", rpc.ErrRefused, a.Child, a.Parent, requester)
	}
	for _, q := range named {
		if !slices.Contains(ends, q) {
			return time.Time{}, fmt.Errorf("%w: %s is not at the other end of the link", rpc.ErrRefused, q)
		}
	}
	return expires, nil
}

// maxTURNURLs bounds the URLs taken from one always-on node's answer.
const maxTURNURLs = 4

// usableURLs are the URLs of an always-on node's answer that pion may be
// given, rewritten from the parsed address: "stun:IP:port" and
// "turn:IP:port?transport=udp" with an IPv4 address, as the TURN server
// gives them. The answer comes from another node, and pion/stun's
// ParseURI, which webrtc runs on every ICE server URL, spins for ever on
// inputs such as "stun:[:]3": one member claiming to be an always-on node
// would otherwise hang every link that asked it.
func usableURLs(urls []string) []string {
	var out []string
	for _, u := range urls {
		ap, err := natkind.ParseServer(u)
		if err != nil || !ap.Addr().Is4() || len(out) == maxTURNURLs {
			continue
		}
		if strings.HasPrefix(u, "turn:") {
			out = append(out, "turn:"+ap.String()+"?transport=udp")
		} else {
			out = append(out, "stun:"+ap.String())
		}
	}
	return out
}

// turnServers are the always-on nodes this node asks for a link's TURN
// credentials when the other end names none: the members it is
// connected to that run a TURN server, maxTURNAsked at most. A child
// names them in its link hello (roomnet's Config.TURNServers). None when
// this node runs a TURN server itself: it is reachable, the other end
// uses TURN if it must.
func (n *Node) turnServers() []peer.ID {
	if n.p2p == nil || n.p2p.Reachability() == p2p.ReachPublic && n.turn != nil {
		return nil
	}
	h := n.p2p.Host()
	var servers []peer.ID
	for _, s := range n.p2p.VerifiedPeers() {
		if ok, _ := h.Peerstore().SupportsProtocols(s, TURNProtocol); len(ok) > 0 && len(servers) < maxTURNAsked {
			servers = append(servers, s)
		}
	}
	return servers
}

// namedTURNServers are the always-on nodes of named (the ones the other
// end of a link asks) this node may ask: members, not itself,
// maxTURNAsked at most.
func (n *Node) namedTURNServers(named []string) []peer.ID {
	var out []peer.ID
	for _, s := range named {
		id, err := peer.Decode(s)
		if err != nil || id == n.ID() || !n.p2p.IsMember(id) || slices.Contains(out, id) || len(out) == maxTURNAsked {
			continue
		}
		out = append(out, id)
	}
	return out
}

// linkICEServers asks always-on nodes for TURN credentials for a link to
// peerID, showing the link's proof (rtc.Config.ICEServersFor): named,
// the ones the other end asks, when it named them (the member host
// connects to those this node is not connected to: a server lets the
// relay reach an end only once both asked it, and it knows an end's
// address only from its connection), else the ones this node is
// connected to.
func (n *Node) linkICEServers(ctx context.Context, peerID string, proof []byte, named []string) []webrtc.ICEServer {
	if n.p2p == nil || n.p2p.Reachability() == p2p.ReachPublic && n.turn != nil {
		return nil // reachable itself: the other end uses TURN if it must
	}
	servers := n.turnServers()
	if named != nil {
		servers = n.namedTURNServers(named)
	}
	// All at once: an always-on node that just died (its connection not
	// yet known dead) must not hold the link up for its whole timeout
	// when another has answered.
	ctx, cancel := context.WithTimeout(ctx, turnTimeout)
	defer cancel()
	type answer struct {
		server peer.ID
		reply  turnReply
		err    error
	}
	answers := make(chan answer, len(servers))
	for _, s := range servers {
		go func() { // ends with ctx at the latest (turnTimeout)
			reply, err := turnProto.Call(ctx, n.p2p.MemberHost(), s, turnRequest{Peers: []string{peerID}, Assignment: proof})
			answers <- answer{s, reply, err}
		}()
	}
	var out []webrtc.ICEServer
	var errs []error
	var late <-chan time.Time
	for range servers {
		var a answer
		select {
		case a = <-answers:
		case <-late:
			cancel()
			a = <-answers
		}
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		urls := usableURLs(a.reply.URLs)
		if len(urls) == 0 {
			errs = append(errs, fmt.Errorf("%s: no usable STUN/TURN URL in %q", a.server, a.reply.URLs))
			continue
		}
		if len(out) < maxTURNServers {
			out = append(out, webrtc.ICEServer{URLs: urls, Username: a.reply.Username, Credential: a.reply.Password})
			n.turnRenew.got(a.server, time.Unix(a.reply.Expires, 0))
		}
		if late == nil {
			late = time.After(turnStragglers)
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		n.log.Debug("no TURN credentials for a link", "peer", peerID, "err", errors.Join(errs...))
	}
	return out
}
