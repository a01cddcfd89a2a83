package home

import (
	"fmt"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// Bounds of the relay service's limits.
const (
	MaxRelayReservations  = 100_000
	MaxRelayCircuits      = 1000
	MaxRelayCircuitSecs   = 24 * 3600
	MaxRelayCircuitBytes  = 1 << 30
	MaxListedNATAddresses = 32
)

func (c Config) validateNAT() error {
	switch c.Reachability {
	case "", "auto", "public", "private":
	default:
		return fmt.Errorf("reachability: %q: want auto, public or private", c.Reachability)
	}
	for _, b := range []struct {
		name string
		v    int64
		max  int64
	}{
		{"relay_max_reservations", int64(c.RelayMaxReservations), MaxRelayReservations},
		{"relay_max_circuits", int64(c.RelayMaxCircuits), MaxRelayCircuits},
		{"relay_circuit_seconds", int64(c.RelayCircuitSeconds), MaxRelayCircuitSecs},
		{"relay_circuit_bytes", c.RelayCircuitBytes, MaxRelayCircuitBytes},
	} {
		if b.v < 0 || b.v > b.max {
			return fmt.Errorf("%s: %d is outside 0..%d", b.name, b.v, b.max)
		}
	}
	if len(c.PublicAddrs) > MaxListedNATAddresses || len(c.StaticRelays) > MaxListedNATAddresses {
		return fmt.Errorf("public_addrs, static_relays: at most %d each", MaxListedNATAddresses)
	}
	if c.TURNPort < 0 || c.TURNPort > 65535 || c.TURNRelayPortMin < 0 || c.TURNRelayPortMax > 65535 ||
		c.TURNRelayPortMin > c.TURNRelayPortMax || (c.TURNRelayPortMin == 0) != (c.TURNRelayPortMax == 0) {
		return fmt.Errorf("turn_port, turn_relay_port_min, turn_relay_port_max: ports 0..65535, min <= max, both or neither set")
	}
	if len(c.ICEServers) > MaxListedNATAddresses {
		return fmt.Errorf("ice_servers: at most %d", MaxListedNATAddresses)
	}
	for i, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("ice_servers[%d]: no urls", i)
		}
		for _, u := range s.URLs {
			if len(u) > 256 || !(strings.HasPrefix(u, "stun:") || strings.HasPrefix(u, "turn:") ||
				strings.HasPrefix(u, "stuns:") || strings.HasPrefix(u, "turns:")) {
				return fmt.Errorf("ice_servers[%d]: %.40q is not a stun: or turn: URL", i, u)
			}
		}
	}
	for i, s := range c.PublicAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("public_addrs[%d] %q: %w", i, s, err)
		}
	}
	for i, s := range c.StaticRelays {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("static_relays[%d] %q: %w", i, s, err)
		}
		if _, err := m.ValueForProtocol(ma.P_P2P); err != nil {
			return fmt.Errorf("static_relays[%d] %q: missing /p2p/<peer id>", i, s)
		}
	}
	return nil
}
