// Package dialrange limits what a node may dial to this machine: loopback
// and the addresses of its own interfaces (which, inside a netlab
// namespace, are the namespace's). Tests set it so that an address a node
// merely announces (a documentation-range public address that exists
// nowhere) is never dialled through the machine's default route.
package dialrange

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Allowed says whether ip is loopback or one of this machine's interface
// addresses. The interfaces are read on every call: a netlab namespace
// gains its addresses after the node inside it may have started.
func Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		p, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if own, ok := netip.AddrFromSlice(p.IP); ok && own.Unmap() == ip {
			return true
		}
	}
	return false
}

// AllowedIP is Allowed for a net.IP (pion's filters take one).
func AllowedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && Allowed(a)
}

// Check says why addr may not be dialled, or nil. Only the first
// component counts: for a relayed address it is the relay's, which is
// where the packets go. An address that does not start with an IP (a DNS
// name) is refused: where it leads is not known here.
func Check(addr ma.Multiaddr) error {
	first, _ := ma.SplitFirst(addr)
	if first == nil {
		return fmt.Errorf("dial range: empty address")
	}
	ip, err := manet.ToIP(ma.Multiaddr{*first})
	if err != nil {
		return fmt.Errorf("dial range: %s does not start with an IP address", addr)
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || !Allowed(a) {
		return fmt.Errorf("dial range: %s is neither loopback nor this machine's", addr)
	}
	return nil
}

// Gater is inner that also refuses to dial outside the range. Dials are
// refused before any transport runs, so no packet leaves.
type Gater struct {
	connmgr.ConnectionGater
	// Refused, if set, hears of each refused address (for logs).
	Refused func(peer.ID, ma.Multiaddr, error)
}

// InterceptAddrDial refuses addresses outside the range, then asks inner.
func (g Gater) InterceptAddrDial(p peer.ID, addr ma.Multiaddr) bool {
	if err := Check(addr); err != nil {
		if g.Refused != nil {
			g.Refused(p, addr, err)
		}
		return false
	}
	return g.ConnectionGater.InterceptAddrDial(p, addr)
}
