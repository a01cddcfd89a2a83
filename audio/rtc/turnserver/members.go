package turnserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// member is what the server knows of one user (a peer ID).
type member struct {
	// peers is the set of addresses the member's relays may reach. It is
	// swapped whole, so the relay path reads it without a lock.
	peers atomic.Pointer[map[netip.Addr]struct{}]

	// Under Server.mu:
	allocations int
	revoked     bool
	expires     time.Time // of the latest credentials issued
	conns       map[*relayConn]struct{}
}

func (m *member) allows(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	peers := m.peers.Load()
	if peers == nil {
		return false
	}
	_, ok = (*peers)[addr.Unmap()]
	return ok
}

var errClosed = errors.New("turnserver: server closed")

// Issue gives user (a member's peer ID, once the caller has checked its
// membership) credentials valid for the configured TTL. It lifts an
// earlier Revoke. The member can allocate relays with them, but reach no
// one until AllowPeers names its peers.
func (s *Server) Issue(user string) (Credentials, error) {
	if err := checkUser(user); err != nil {
		return Credentials{}, err
	}
	// Whole seconds, rounded down, so the username says exactly when.
	expires := s.cfg.Now().Add(s.cfg.CredentialTTL).Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Credentials{}, errClosed
	}
	s.pruneLocked()
	m := s.memberLocked(user)
	m.revoked = false
	if expires.After(m.expires) {
		m.expires = expires
	}
	username := formatUsername(expires, user)
	return Credentials{URLs: s.URLs(), Username: username,
		Password: passwordFor(s.cfg.Secret, username), Expires: expires}, nil
}

// AllowPeers sets the addresses user's relays may exchange packets with:
// the public addresses of the peers of its room, as the node sees them on
// its own connections to them (a peer behind NAT sends from its router's
// address, whatever port). It replaces the previous set; packets to or
// from an address no longer in it are dropped at once, and new
// permissions for it refused. Like TURN permissions, the set is of IP
// addresses: listing the server's own public address would let the relay
// reach every other relay on the server that allows it too, so list it
// only if two relays must talk to each other.
func (s *Server) AllowPeers(user string, peers []netip.Addr) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if len(peers) > s.cfg.MaxPeersPerUser {
		return fmt.Errorf("turnserver: %d peers for %s, at most %d", len(peers), user, s.cfg.MaxPeersPerUser)
	}
	set := make(map[netip.Addr]struct{}, len(peers))
	for _, p := range peers {
		p = p.Unmap()
		if !p.Is4() || p.IsUnspecified() || p.IsMulticast() || p.IsLoopback() && !s.cfg.PublicIP.IsLoopback() {
			return fmt.Errorf("turnserver: peer address %s: want a unicast IPv4 address", p)
		}
		set[p] = struct{}{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.memberLocked(user).peers.Store(&set)
	return nil
}

// Revoke ends user's relays now and refuses its credentials until Issue is
// called for it again (a member who left the network, or was revoked).
func (s *Server) Revoke(user string) {
	s.mu.Lock()
	m := s.members[user]
	var conns []*relayConn
	if m != nil {
		m.revoked = true
		m.peers.Store(nil)
		for c := range m.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	// Closing a relayed socket ends its allocation (pion deletes it when
	// reading fails), outside the lock its event handler takes.
	for _, c := range conns {
		c.Close()
	}
}

func (s *Server) memberLocked(user string) *member {
	m := s.members[user]
	if m == nil {
		m = &member{conns: map[*relayConn]struct{}{}}
		s.members[user] = m
	}
	return m
}

// pruneLocked forgets members whose every credential has expired and who
// hold no relay: nothing they have can be used any more, revoked or not.
func (s *Server) pruneLocked() {
	now := s.cfg.Now()
	for user, m := range s.members {
		if m.allocations == 0 && len(m.conns) == 0 && now.After(m.expires) {
			delete(s.members, user)
		}
	}
}

// authenticate is pion's AuthHandler: it returns the user as the
// allocation's user ID, and the key of the password the username must have
// been issued with. pion checks the request's MESSAGE-INTEGRITY with it.
//
// Credentials past their expiry still serve a member's live relays
// (refreshes, permissions, channels: anything but a new Allocate) while
// the member holds newer credentials: a member renews them (Issue) before
// they expire for as long as its links live, and its ICE agents, which
// cannot change credentials mid-link, keep refreshing with the ones they
// started with.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	expires, user, err := parseUsername(ra.Username)
	if err == nil {
		now := s.cfg.Now()
		s.mu.Lock()
		m := s.members[user]
		switch {
		case m == nil || m.revoked:
			err = errors.New("no such member, or revoked")
		case now.Before(expires):
		case ra.Method != stun.MethodAllocate && m.allocations > 0 && now.Before(m.expires):
			s.stats.renewedUse.Add(1)
		default:
			err = fmt.Errorf("credentials expired at %s", expires.UTC().Format(time.RFC3339))
		}
		s.mu.Unlock()
	}
	if err != nil {
		s.stats.authRefused.Add(1)
		s.log.Debug("TURN request refused", "from", ra.SrcAddr, "method", ra.Method, "err", err)
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(ra.Username, s.cfg.Realm, passwordFor(s.cfg.Secret, ra.Username)), true
}

// onAuth counts requests whose username passed authenticate but whose
// MESSAGE-INTEGRITY did not: a wrong (forged) password.
func (s *Server) onAuth(_, _ net.Addr, _, _, _ string, _ string, ok bool) {
	if !ok {
		s.stats.authRefused.Add(1)
	}
}

func (s *Server) quota(user, _ string, _ net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.members[user]
	if m == nil || m.allocations >= s.cfg.MaxAllocationsPerUser || s.active >= s.cfg.MaxAllocations {
		s.stats.quotaRefused.Add(1)
		return false
	}
	return true
}

func (s *Server) onAllocationCreated(src, dst net.Addr, _, user, _ string, relay net.Addr, _ int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberLocked(user)
	m.allocations++
	s.active++
	s.byTuple[src.String()+"|"+dst.String()] = m
	s.stats.allocations.Add(1)
	s.log.Debug("TURN allocation", "user", user, "client", src, "relay", relay)
}

func (s *Server) onAllocationDeleted(src, dst net.Addr, _, user, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := src.String() + "|" + dst.String()
	m := s.byTuple[key]
	if m == nil {
		return
	}
	delete(s.byTuple, key)
	m.allocations--
	s.active--
	if s.closed && s.active == 0 {
		close(s.drained)
	}
	s.log.Debug("TURN allocation ended", "user", user, "client", src)
}

// permit is the permission handler: an allocation may open permissions
// and channels only to its member's allowed peers.
func (s *Server) permit(tuple string, peer net.IP) bool {
	s.mu.Lock()
	m := s.byTuple[tuple]
	s.mu.Unlock()
	if m != nil && m.allows(peer) {
		return true
	}
	s.stats.permissionRefused.Add(1)
	s.log.Debug("TURN permission refused", "client", tuple, "peer", peer)
	return false
}
